//! Domain events: the facts that decide emits and evolve applies.
//!
//! These types are not the stored format. The service crate maps them to
//! versioned wire types, so renaming a variant here never breaks stored events.

use crate::task::{NewTask, TaskChanges};
use crate::user::{Settings, SettingsChanges};
use crate::values::{DisplayName, Email};

/// Any domain event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Event of a task stream.
    Task(TaskEvent),
    /// Event of the user stream.
    User(UserEvent),
}

impl Event {
    /// Returns the stable event type name, such as `task-created`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Task(event) => event.type_name(),
            Self::User(event) => event.type_name(),
        }
    }
}

/// Event of a task stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEvent {
    /// The task was created, not done.
    Created(NewTask),
    /// Some fields of the task changed. Only the changed fields are set.
    Updated(TaskChanges),
    /// The task was completed.
    Completed,
    /// The completed task was opened again.
    Reopened,
    /// The task was deleted for good.
    Deleted,
}

impl TaskEvent {
    /// Returns the stable event type name, such as `task-created`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Created(_) => "task-created",
            Self::Updated(_) => "task-updated",
            Self::Completed => "task-completed",
            Self::Reopened => "task-reopened",
            Self::Deleted => "task-deleted",
        }
    }
}

/// Event of the user stream, which contains the profile and the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    /// The user signed in for the first time.
    Created {
        /// Display name from the login command or the token claims.
        name: Option<DisplayName>,
        /// Email address from the login command or the token claims.
        email: Option<Email>,
    },
    /// A known user signed in.
    LoggedIn,
    /// The user signed out.
    LoggedOut,
    /// The user's settings were created with these values.
    SettingsCreated(Settings),
    /// Some settings changed. Only the changed fields are set.
    SettingsUpdated(SettingsChanges),
}

impl UserEvent {
    /// Returns the stable event type name, such as `user-created`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "user-created",
            Self::LoggedIn => "user-logged-in",
            Self::LoggedOut => "user-logged-out",
            Self::SettingsCreated(_) => "user-settings-created",
            Self::SettingsUpdated(_) => "user-settings-updated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{Category, Notes, Order, Title};

    #[test]
    fn type_names_are_stable() {
        let new_task = NewTask {
            title: Title::new("Plan").unwrap(),
            notes: Notes::default(),
            category: Category::Normal,
            order: Order::default(),
        };
        let events = [
            (Event::Task(TaskEvent::Created(new_task)), "task-created"),
            (Event::Task(TaskEvent::Completed), "task-completed"),
            (Event::Task(TaskEvent::Reopened), "task-reopened"),
            (Event::Task(TaskEvent::Deleted), "task-deleted"),
            (
                Event::Task(TaskEvent::Updated(TaskChanges::default())),
                "task-updated",
            ),
            (
                Event::User(UserEvent::Created {
                    name: None,
                    email: None,
                }),
                "user-created",
            ),
            (Event::User(UserEvent::LoggedIn), "user-logged-in"),
            (Event::User(UserEvent::LoggedOut), "user-logged-out"),
            (
                Event::User(UserEvent::SettingsCreated(Settings::default())),
                "user-settings-created",
            ),
            (
                Event::User(UserEvent::SettingsUpdated(SettingsChanges::default())),
                "user-settings-updated",
            ),
        ];
        for (event, name) in events {
            assert_eq!(event.type_name(), name);
        }
    }
}
