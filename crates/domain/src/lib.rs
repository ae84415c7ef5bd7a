//! Pure domain core of Prism Plan: commands, events, decide and evolve.
//!
//! Nothing in this crate performs I/O. The service crate parses a raw command
//! with [`parse_command`], loads the events of [`Command::stream`], calls
//! [`decide`] and appends the returned events.

// Tests unwrap freely because a panic there is a test failure with a location.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod command;
pub mod error;
pub mod event;
pub mod ids;
pub mod parse;
pub mod task;
pub mod user;
pub mod values;

pub use command::{Command, TaskAction, TaskCommand, UserCommand};
pub use error::{rule, Rejection, StreamKeyError, ValueError, Violation};
pub use event::{Event, TaskEvent, UserEvent};
pub use ids::{IdempotencyKey, StreamId, TaskId, UserId};
pub use parse::{parse_command, parse_idempotency_key, ParseContext};
pub use task::{NewTask, Task, TaskChanges, TaskState};
pub use user::{Settings, SettingsChanges, UserState};
pub use values::{Category, DisplayName, Email, Notes, Order, TasksPerCategory, Title};

/// Decides which events `command` emits, given the earlier events of its stream.
///
/// `history` must contain the events of [`Command::stream`] only, oldest first.
/// The function folds them into the aggregate state and applies the aggregate's
/// rules, which [`task::decide`] and [`user::decide`] document. An empty result
/// means that the command was accepted but changes nothing.
///
/// # Errors
/// The aggregate's [`Rejection`], or a rejection with code `stream-mismatch` when
/// `history` contains an event of another aggregate kind.
pub fn decide(command: &Command, history: &[Event]) -> Result<Vec<Event>, Rejection> {
    match command {
        Command::Task(command) => {
            let events = task_events(history)?;
            let state = TaskState::from_events(events);
            let decided = task::decide(&state, &command.action)?;
            Ok(decided.into_iter().map(Event::Task).collect())
        }
        Command::User(command) => {
            let events = user_events(history)?;
            let state = UserState::from_events(events);
            let decided = user::decide(&state, command)?;
            Ok(decided.into_iter().map(Event::User).collect())
        }
    }
}

fn task_events(history: &[Event]) -> Result<Vec<&TaskEvent>, Rejection> {
    history
        .iter()
        .map(|event| match event {
            Event::Task(event) => Ok(event),
            Event::User(event) => Err(stream_mismatch("task", event.type_name())),
        })
        .collect()
}

fn user_events(history: &[Event]) -> Result<Vec<&UserEvent>, Rejection> {
    history
        .iter()
        .map(|event| match event {
            Event::User(event) => Ok(event),
            Event::Task(event) => Err(stream_mismatch("user", event.type_name())),
        })
        .collect()
}

fn stream_mismatch(stream: &str, event_type: &str) -> Rejection {
    Rejection::new(
        "stream-mismatch",
        format!(
            "The {stream} stream contains a {event_type} event, which belongs to another \
             stream. The stored history is inconsistent and needs repair."
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn created_task() -> Event {
        Event::Task(TaskEvent::Created(NewTask {
            title: Title::new("Plan").unwrap(),
            notes: Notes::default(),
            category: Category::Normal,
            order: Order::default(),
        }))
    }

    fn task_command(action: TaskAction) -> Command {
        let task_id = TaskId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        Command::Task(TaskCommand { task_id, action })
    }

    #[test]
    fn decide_folds_task_history() {
        let command = task_command(TaskAction::Complete);
        let events = decide(&command, &[created_task()]);
        assert_eq!(events, Ok(vec![Event::Task(TaskEvent::Completed)]));
    }

    #[test]
    fn decide_returns_task_rejection() {
        let command = task_command(TaskAction::Complete);
        let code = decide(&command, &[]).map_err(|rejection| rejection.code);
        assert_eq!(code, Err("task-not-found"));
    }

    #[test]
    fn decide_folds_user_history() {
        let login = Command::User(UserCommand::Login {
            name: None,
            email: None,
        });
        let first = decide(&login, &[]).unwrap();
        assert_eq!(first.len(), 2);
        let second = decide(&login, &first);
        assert_eq!(second, Ok(vec![Event::User(UserEvent::LoggedIn)]));
    }

    #[test]
    fn user_event_in_task_stream_is_rejected() {
        let command = task_command(TaskAction::Delete);
        let history = [created_task(), Event::User(UserEvent::LoggedIn)];
        let code = decide(&command, &history).map_err(|rejection| rejection.code);
        assert_eq!(code, Err("stream-mismatch"));
    }

    #[test]
    fn task_event_in_user_stream_is_rejected() {
        let command = Command::User(UserCommand::Logout);
        let code = decide(&command, &[created_task()]).map_err(|rejection| rejection.code);
        assert_eq!(code, Err("stream-mismatch"));
    }

    #[test]
    fn parsed_command_runs_through_decide() {
        let user_id = UserId::new("user-1").unwrap();
        let idempotency_key = IdempotencyKey::new("key-1").unwrap();
        let context = ParseContext {
            user_id: &user_id,
            idempotency_key: &idempotency_key,
            claimed_name: None,
            claimed_email: None,
        };
        let raw = json!({"entityType": "task", "type": "create-task", "data": {"title": "Plan"}});
        let command = parse_command(&raw, &context).unwrap();
        assert_eq!(
            command.stream(),
            StreamId::Task(TaskId::derive(&user_id, &idempotency_key))
        );
        assert_eq!(decide(&command, &[]), Ok(vec![created_task()]));
        let again = decide(&command, &[created_task()]).map_err(|rejection| rejection.code);
        assert_eq!(again, Err("task-already-exists"));
    }
}
