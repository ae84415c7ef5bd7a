//! Versioned wire format of stored and queued events.
//!
//! Domain events are never serialized directly. Each event type has a serde
//! struct here, so renaming a domain type cannot change the stored JSON. Decoding
//! ignores unknown fields, so events written by a newer build that added a field
//! still read, and it revalidates every value through the domain constructors.

use prism_domain::{
    Category, DisplayName, Email, Event, NewTask, Notes, Order, Settings, SettingsChanges,
    TaskChanges, TaskEvent, TasksPerCategory, Title, UserEvent, ValueError,
};
use serde::de::{DeserializeOwned, Unexpected};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Schema version that [`encode_event`] writes and [`decode_event`] reads.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// Every event type name that [`decode_event`] reads.
pub const EVENT_TYPES: [&str; 10] = [
    "task-created",
    "task-updated",
    "task-completed",
    "task-reopened",
    "task-deleted",
    "user-created",
    "user-logged-in",
    "user-logged-out",
    "user-settings-created",
    "user-settings-updated",
];

/// Error from [`decode_event`] for a stored event that this build cannot read.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The type name is not one of [`EVENT_TYPES`].
    #[error("event type {type_name:?} is unknown. This build reads only {EVENT_TYPES:?}.")]
    UnknownType {
        /// Rejected type name.
        type_name: String,
    },
    /// The schema version is not [`EVENT_SCHEMA_VERSION`].
    #[error(
        "{type_name} event has schema version {version}, but this build reads only version \
         {EVENT_SCHEMA_VERSION}. Deploy a build that reads it."
    )]
    UnsupportedVersion {
        /// Type name of the event.
        type_name: String,
        /// Rejected schema version.
        version: u32,
    },
    /// The data does not have the shape of the event type, such as a missing field.
    #[error("{type_name} event data is malformed: {source}")]
    Malformed {
        /// Type name of the event.
        type_name: String,
        /// Deserialization error that names the field.
        #[source]
        source: serde_json::Error,
    },
    /// A stored value fails validation by its domain constructor.
    #[error("{type_name} event field {field} is invalid: {source}")]
    InvalidValue {
        /// Type name of the event.
        type_name: String,
        /// camelCase name of the field.
        field: &'static str,
        /// Validation error of the value.
        #[source]
        source: ValueError,
    },
}

/// Data of `task-created`, version 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskCreatedV1 {
    title: String,
    notes: String,
    category: String,
    order: i64,
}

/// Data of `task-updated`, version 1. Absent fields did not change.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskUpdatedV1 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done: Option<bool>,
}

/// Data of the events that carry no fields, version 1: `{}`.
#[derive(Debug, Serialize, Deserialize)]
struct EmptyV1 {}

/// Data of `user-created`, version 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserCreatedV1 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

/// Data of `user-settings-created`, version 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsCreatedV1 {
    tasks_per_category: i64,
    show_done_tasks: bool,
}

/// Data of `user-settings-updated`, version 1. Absent fields did not change.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsUpdatedV1 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tasks_per_category: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    show_done_tasks: Option<bool>,
}

/// Encodes a domain event for storage as its type name and a JSON data object
/// of schema version [`EVENT_SCHEMA_VERSION`].
pub fn encode_event(event: &Event) -> (&'static str, Value) {
    let data = match event {
        Event::Task(event) => encode_task_event(event),
        Event::User(event) => encode_user_event(event),
    };
    (event.type_name(), data)
}

fn encode_task_event(event: &TaskEvent) -> Value {
    match event {
        TaskEvent::Created(new_task) => to_data(&TaskCreatedV1 {
            title: new_task.title.as_str().to_owned(),
            notes: new_task.notes.as_str().to_owned(),
            category: new_task.category.as_str().to_owned(),
            order: i64::from(new_task.order),
        }),
        TaskEvent::Updated(changes) => to_data(&TaskUpdatedV1 {
            title: changes
                .title
                .as_ref()
                .map(|title| title.as_str().to_owned()),
            notes: changes
                .notes
                .as_ref()
                .map(|notes| notes.as_str().to_owned()),
            category: changes
                .category
                .map(|category| category.as_str().to_owned()),
            order: changes.order.map(i64::from),
            done: changes.done,
        }),
        TaskEvent::Completed | TaskEvent::Reopened | TaskEvent::Deleted => to_data(&EmptyV1 {}),
    }
}

fn encode_user_event(event: &UserEvent) -> Value {
    match event {
        UserEvent::Created { name, email } => to_data(&UserCreatedV1 {
            name: name.as_ref().map(|name| name.as_str().to_owned()),
            email: email.as_ref().map(|email| email.as_str().to_owned()),
        }),
        UserEvent::LoggedIn | UserEvent::LoggedOut => to_data(&EmptyV1 {}),
        UserEvent::SettingsCreated(settings) => to_data(&SettingsCreatedV1 {
            tasks_per_category: i64::from(settings.tasks_per_category),
            show_done_tasks: settings.show_done_tasks,
        }),
        UserEvent::SettingsUpdated(changes) => to_data(&SettingsUpdatedV1 {
            tasks_per_category: changes.tasks_per_category.map(i64::from),
            show_done_tasks: changes.show_done_tasks,
        }),
    }
}

fn to_data<T: Serialize>(wire: &T) -> Value {
    match serde_json::to_value(wire) {
        Ok(data) => data,
        // The wire structs contain only strings, integers, booleans and options,
        // which always serialize to JSON.
        Err(error) => unreachable!("event wire struct failed to serialize: {error}"),
    }
}

/// Decodes a stored event from its type name, schema version and JSON data.
///
/// Unknown fields in `data` are ignored. Every value passes through its domain
/// constructor again, so an invalid stored value is an error and never a panic.
///
/// # Errors
/// [`SchemaError::UnknownType`] for a type name outside [`EVENT_TYPES`],
/// [`SchemaError::UnsupportedVersion`] for a version other than
/// [`EVENT_SCHEMA_VERSION`], [`SchemaError::Malformed`] for data of the wrong
/// shape and [`SchemaError::InvalidValue`] for a value that fails validation.
pub fn decode_event(
    type_name: &str,
    schema_version: u32,
    data: &Value,
) -> Result<Event, SchemaError> {
    if !EVENT_TYPES.contains(&type_name) {
        return Err(SchemaError::UnknownType {
            type_name: type_name.to_owned(),
        });
    }
    if schema_version != EVENT_SCHEMA_VERSION {
        return Err(SchemaError::UnsupportedVersion {
            type_name: type_name.to_owned(),
            version: schema_version,
        });
    }
    if type_name.starts_with("task-") {
        decode_task_event(type_name, data).map(Event::Task)
    } else {
        decode_user_event(type_name, data).map(Event::User)
    }
}

fn decode_task_event(type_name: &str, data: &Value) -> Result<TaskEvent, SchemaError> {
    let event = match type_name {
        "task-created" => {
            let wire: TaskCreatedV1 = read(type_name, data)?;
            TaskEvent::Created(NewTask {
                title: check(type_name, "title", Title::new(&wire.title))?,
                notes: check(type_name, "notes", Notes::new(&wire.notes))?,
                category: check(type_name, "category", Category::parse(&wire.category))?,
                order: check(type_name, "order", Order::new(wire.order))?,
            })
        }
        "task-updated" => TaskEvent::Updated(decode_task_changes(type_name, data)?),
        "task-completed" => read_empty(type_name, data, TaskEvent::Completed)?,
        "task-reopened" => read_empty(type_name, data, TaskEvent::Reopened)?,
        "task-deleted" => read_empty(type_name, data, TaskEvent::Deleted)?,
        _ => return Err(unknown_type(type_name)),
    };
    Ok(event)
}

fn decode_task_changes(type_name: &str, data: &Value) -> Result<TaskChanges, SchemaError> {
    let wire: TaskUpdatedV1 = read(type_name, data)?;
    Ok(TaskChanges {
        title: optional(type_name, "title", wire.title.as_deref(), Title::new)?,
        notes: optional(type_name, "notes", wire.notes.as_deref(), Notes::new)?,
        category: optional(
            type_name,
            "category",
            wire.category.as_deref(),
            Category::parse,
        )?,
        order: optional(type_name, "order", wire.order, Order::new)?,
        done: wire.done,
    })
}

fn decode_user_event(type_name: &str, data: &Value) -> Result<UserEvent, SchemaError> {
    let event = match type_name {
        "user-created" => {
            let wire: UserCreatedV1 = read(type_name, data)?;
            UserEvent::Created {
                name: optional(type_name, "name", wire.name.as_deref(), DisplayName::new)?,
                email: optional(type_name, "email", wire.email.as_deref(), Email::new)?,
            }
        }
        "user-logged-in" => read_empty(type_name, data, UserEvent::LoggedIn)?,
        "user-logged-out" => read_empty(type_name, data, UserEvent::LoggedOut)?,
        "user-settings-created" => {
            let wire: SettingsCreatedV1 = read(type_name, data)?;
            let count = TasksPerCategory::new(wire.tasks_per_category);
            UserEvent::SettingsCreated(Settings {
                tasks_per_category: check(type_name, "tasksPerCategory", count)?,
                show_done_tasks: wire.show_done_tasks,
            })
        }
        "user-settings-updated" => {
            let wire: SettingsUpdatedV1 = read(type_name, data)?;
            let count = wire.tasks_per_category;
            UserEvent::SettingsUpdated(SettingsChanges {
                tasks_per_category: optional(
                    type_name,
                    "tasksPerCategory",
                    count,
                    TasksPerCategory::new,
                )?,
                show_done_tasks: wire.show_done_tasks,
            })
        }
        _ => return Err(unknown_type(type_name)),
    };
    Ok(event)
}

/// Deserializes the wire struct of `type_name` from `data`, which must be an object.
fn read<T: DeserializeOwned>(type_name: &str, data: &Value) -> Result<T, SchemaError> {
    // Serde would also fill a struct from an array, but the stored format is
    // always an object.
    let result = if data.is_object() {
        T::deserialize(data)
    } else {
        Err(serde::de::Error::invalid_type(
            unexpected(data),
            &"a JSON object",
        ))
    };
    result.map_err(|source| SchemaError::Malformed {
        type_name: type_name.to_owned(),
        source,
    })
}

fn unexpected(data: &Value) -> Unexpected<'_> {
    match data {
        Value::Null => Unexpected::Unit,
        Value::Bool(flag) => Unexpected::Bool(*flag),
        Value::Number(_) => Unexpected::Other("a number"),
        Value::String(text) => Unexpected::Str(text),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// Checks that `data` is an object, as written for events without fields, and
/// returns `event`.
fn read_empty<E>(type_name: &str, data: &Value, event: E) -> Result<E, SchemaError> {
    let EmptyV1 {} = read(type_name, data)?;
    Ok(event)
}

fn check<T>(
    type_name: &str,
    field: &'static str,
    result: Result<T, ValueError>,
) -> Result<T, SchemaError> {
    result.map_err(|source| SchemaError::InvalidValue {
        type_name: type_name.to_owned(),
        field,
        source,
    })
}

fn optional<R, T>(
    type_name: &str,
    field: &'static str,
    raw: Option<R>,
    parse: impl FnOnce(R) -> Result<T, ValueError>,
) -> Result<Option<T>, SchemaError> {
    raw.map(|raw| check(type_name, field, parse(raw)))
        .transpose()
}

fn unknown_type(type_name: &str) -> SchemaError {
    SchemaError::UnknownType {
        type_name: type_name.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A panic in a test is a failure with a location.
mod tests {
    use serde_json::json;

    use super::*;

    fn new_task() -> NewTask {
        NewTask {
            title: Title::new("Write report").unwrap(),
            notes: Notes::new("First draft\nthen review").unwrap(),
            category: Category::Important,
            order: Order::new(5).unwrap(),
        }
    }

    fn all_task_changes() -> TaskChanges {
        TaskChanges {
            title: Some(Title::new("Write final report").unwrap()),
            notes: Some(Notes::default()),
            category: Some(Category::Critical),
            order: Some(Order::new(1_000_000_000).unwrap()),
            done: Some(false),
        }
    }

    /// One event of every type with its pinned version 1 data.
    ///
    /// These literals are the stored format. Changing one is a breaking change
    /// that needs a new schema version.
    fn pinned_events() -> Vec<(Event, &'static str, &'static str)> {
        vec![
            (
                Event::Task(TaskEvent::Created(new_task())),
                "task-created",
                r#"{"title":"Write report","notes":"First draft\nthen review","category":"important","order":5}"#,
            ),
            (
                Event::Task(TaskEvent::Updated(all_task_changes())),
                "task-updated",
                r#"{"title":"Write final report","notes":"","category":"critical","order":1000000000,"done":false}"#,
            ),
            (
                Event::Task(TaskEvent::Updated(TaskChanges {
                    done: Some(true),
                    ..TaskChanges::default()
                })),
                "task-updated",
                r#"{"done":true}"#,
            ),
            (Event::Task(TaskEvent::Completed), "task-completed", "{}"),
            (Event::Task(TaskEvent::Reopened), "task-reopened", "{}"),
            (Event::Task(TaskEvent::Deleted), "task-deleted", "{}"),
            (
                Event::User(UserEvent::Created {
                    name: Some(DisplayName::new("Ada Lovelace").unwrap()),
                    email: Some(Email::new("ada@example.org").unwrap()),
                }),
                "user-created",
                r#"{"name":"Ada Lovelace","email":"ada@example.org"}"#,
            ),
            (
                Event::User(UserEvent::Created {
                    name: None,
                    email: None,
                }),
                "user-created",
                "{}",
            ),
            (Event::User(UserEvent::LoggedIn), "user-logged-in", "{}"),
            (Event::User(UserEvent::LoggedOut), "user-logged-out", "{}"),
            (
                Event::User(UserEvent::SettingsCreated(Settings::default())),
                "user-settings-created",
                r#"{"tasksPerCategory":3,"showDoneTasks":false}"#,
            ),
            (
                Event::User(UserEvent::SettingsUpdated(SettingsChanges {
                    tasks_per_category: Some(TasksPerCategory::new(10).unwrap()),
                    show_done_tasks: Some(true),
                })),
                "user-settings-updated",
                r#"{"tasksPerCategory":10,"showDoneTasks":true}"#,
            ),
            (
                Event::User(UserEvent::SettingsUpdated(SettingsChanges {
                    tasks_per_category: None,
                    show_done_tasks: Some(false),
                })),
                "user-settings-updated",
                r#"{"showDoneTasks":false}"#,
            ),
        ]
    }

    #[test]
    fn every_event_type_is_pinned() {
        let pinned: Vec<&str> = pinned_events()
            .iter()
            .map(|(_, type_name, _)| *type_name)
            .collect();
        for type_name in EVENT_TYPES {
            assert!(
                pinned.contains(&type_name),
                "{type_name} has no pinned literal"
            );
        }
    }

    #[test]
    fn every_event_round_trips() {
        for (event, _, _) in pinned_events() {
            let (type_name, data) = encode_event(&event);
            let decoded = decode_event(type_name, EVENT_SCHEMA_VERSION, &data).unwrap();
            assert_eq!(decoded, event, "{type_name}");
        }
    }

    #[test]
    fn pinned_literals_decode() {
        for (expected, type_name, literal) in pinned_events() {
            let data: Value = serde_json::from_str(literal).unwrap();
            let decoded = decode_event(type_name, 1, &data);
            assert_eq!(decoded.ok(), Some(expected), "{type_name} {literal}");
        }
    }

    #[test]
    fn encoding_matches_pinned_literals() {
        for (event, type_name, literal) in pinned_events() {
            let expected: Value = serde_json::from_str(literal).unwrap();
            assert_eq!(encode_event(&event), (type_name, expected), "{literal}");
        }
    }

    #[test]
    fn extra_field_still_decodes() {
        let data = json!({"title": "Write report", "notes": "First draft\nthen review",
                          "category": "important", "order": 5, "dueDate": "2030-01-01"});
        let decoded = decode_event("task-created", 1, &data).unwrap();
        assert_eq!(decoded, Event::Task(TaskEvent::Created(new_task())));

        let data = json!({"source": "mobile"});
        let decoded = decode_event("task-completed", 1, &data).unwrap();
        assert_eq!(decoded, Event::Task(TaskEvent::Completed));
    }

    #[test]
    fn unknown_type_is_an_error() {
        let error = decode_event("task-archived", 1, &json!({})).unwrap_err();
        assert!(
            matches!(&error, SchemaError::UnknownType { type_name } if type_name == "task-archived"),
            "{error:?}"
        );
    }

    #[test]
    fn unknown_version_is_an_error() {
        for version in [0, 2] {
            let error = decode_event("task-completed", version, &json!({})).unwrap_err();
            assert!(
                matches!(error, SchemaError::UnsupportedVersion { version: found, .. } if found == version),
                "{error:?}"
            );
        }
    }

    #[test]
    fn invalid_stored_value_is_an_error() {
        let data = json!({"title": "  ", "notes": "", "category": "normal", "order": 0});
        let error = decode_event("task-created", 1, &data).unwrap_err();
        assert!(
            matches!(
                error,
                SchemaError::InvalidValue {
                    field: "title",
                    source: ValueError::TooShort,
                    ..
                }
            ),
            "{error:?}"
        );

        let data = json!({"tasksPerCategory": 0});
        let error = decode_event("user-settings-updated", 1, &data).unwrap_err();
        assert!(
            matches!(
                error,
                SchemaError::InvalidValue {
                    field: "tasksPerCategory",
                    ..
                }
            ),
            "{error:?}"
        );

        let data = json!({"category": "urgent"});
        let error = decode_event("task-updated", 1, &data).unwrap_err();
        assert!(
            matches!(
                error,
                SchemaError::InvalidValue {
                    field: "category",
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn malformed_data_is_an_error() {
        let cases = [
            ("task-created", json!({"title": "a"})),
            (
                "task-created",
                json!({"title": "a", "notes": "", "category": "fun", "order": "1"}),
            ),
            ("task-updated", json!({"done": "yes"})),
            ("task-deleted", json!(null)),
            ("user-settings-created", json!({"tasksPerCategory": 3})),
            ("user-created", json!([])),
        ];
        for (type_name, data) in cases {
            let error = decode_event(type_name, 1, &data).unwrap_err();
            assert!(
                matches!(error, SchemaError::Malformed { .. }),
                "{type_name} {data}: {error:?}"
            );
        }
    }
}
