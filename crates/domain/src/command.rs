//! Typed commands: what a caller asks the planner to do.

use crate::ids::{StreamId, TaskId, UserId};
use crate::task::{NewTask, TaskChanges};
use crate::user::SettingsChanges;
use crate::values::{DisplayName, Email};

/// A validated command, ready for [`crate::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Command on one task.
    Task(TaskCommand),
    /// Command on the user's profile or settings.
    User(UserCommand),
}

impl Command {
    /// Returns the entity type of the raw command: `task`, `user` or `user-settings`.
    pub fn entity_type(&self) -> &'static str {
        match self {
            Self::Task(_) => "task",
            Self::User(UserCommand::UpdateSettings(_)) => "user-settings",
            Self::User(_) => "user",
        }
    }

    /// Returns the command type of the raw command, such as `create-task`.
    pub fn command_type(&self) -> &'static str {
        match self {
            Self::Task(command) => match command.action {
                TaskAction::Create(_) => "create-task",
                TaskAction::Update(_) => "update-task",
                TaskAction::Complete => "complete-task",
                TaskAction::Reopen => "reopen-task",
                TaskAction::Delete => "delete-task",
            },
            Self::User(command) => match command {
                UserCommand::Login { .. } => "login-user",
                UserCommand::Logout => "logout-user",
                UserCommand::UpdateSettings(_) => "update-user-settings",
            },
        }
    }

    /// Returns the stream that the command reads and appends to.
    ///
    /// Settings commands target the user stream, because the user aggregate owns
    /// both the profile and the settings.
    pub fn stream(&self) -> StreamId {
        match self {
            Self::Task(command) => StreamId::Task(command.task_id),
            Self::User(_) => StreamId::User,
        }
    }

    /// Returns the id of the target entity: the task id, or `user`'s id.
    pub fn entity_id(&self, user: &UserId) -> String {
        self.stream().entity_id(user)
    }
}

/// Command on one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCommand {
    /// Target task.
    pub task_id: TaskId,
    /// Action to apply to the task.
    pub action: TaskAction,
}

/// Action on a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskAction {
    /// Create the task.
    Create(NewTask),
    /// Change some fields of the task.
    Update(TaskChanges),
    /// Mark the task as completed.
    Complete,
    /// Mark the completed task as open again.
    Reopen,
    /// Delete the task for good.
    Delete,
}

/// Command on the user's profile or settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    /// Record a sign-in, creating the user on the first one.
    Login {
        /// Display name, from the command or else the token claims.
        name: Option<DisplayName>,
        /// Email address, from the command or else the token claims.
        email: Option<Email>,
    },
    /// Record a sign-out.
    Logout,
    /// Change some settings.
    UpdateSettings(SettingsChanges),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::TasksPerCategory;

    fn task_command(action: TaskAction) -> Command {
        let task_id = TaskId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        Command::Task(TaskCommand { task_id, action })
    }

    #[test]
    fn task_command_names_and_stream() {
        let command = task_command(TaskAction::Complete);
        assert_eq!(command.entity_type(), "task");
        assert_eq!(command.command_type(), "complete-task");
        assert_eq!(
            command.stream().as_key(),
            "task-67e55044-10b1-426f-9247-bb680e5fe0c8"
        );
        let user = UserId::new("user-1").unwrap();
        assert_eq!(
            command.entity_id(&user),
            "67e55044-10b1-426f-9247-bb680e5fe0c8"
        );
    }

    #[test]
    fn settings_command_targets_user_stream() {
        let changes = SettingsChanges {
            tasks_per_category: Some(TasksPerCategory::new(4).unwrap()),
            show_done_tasks: None,
        };
        let command = Command::User(UserCommand::UpdateSettings(changes));
        assert_eq!(command.entity_type(), "user-settings");
        assert_eq!(command.command_type(), "update-user-settings");
        assert_eq!(command.stream(), StreamId::User);
        let user = UserId::new("user-1").unwrap();
        assert_eq!(command.entity_id(&user), "user-1");
    }

    #[test]
    fn user_command_names() {
        let login = Command::User(UserCommand::Login {
            name: None,
            email: None,
        });
        assert_eq!(login.entity_type(), "user");
        assert_eq!(login.command_type(), "login-user");
        let logout = Command::User(UserCommand::Logout);
        assert_eq!(logout.entity_type(), "user");
        assert_eq!(logout.command_type(), "logout-user");
    }
}
