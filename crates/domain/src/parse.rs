//! Parsing of raw JSON commands into typed commands, reporting every violation.

use serde_json::{Map, Number, Value};

use crate::command::{Command, TaskAction, TaskCommand, UserCommand};
use crate::error::{rule, JsonKind, ValueError, Violation};
use crate::ids::{IdempotencyKey, TaskId, UserId};
use crate::task::{NewTask, TaskChanges};
use crate::user::SettingsChanges;
use crate::values::{Category, DisplayName, Email, Notes, Order, TasksPerCategory, Title};

/// Request facts that parsing needs besides the raw command.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext<'a> {
    /// Authenticated user who sends the command.
    pub user_id: &'a UserId,
    /// Idempotency key of this command, used to derive the id of a new task.
    pub idempotency_key: &'a IdempotencyKey,
    /// `name` claim of the access token, the default display name at login.
    pub claimed_name: Option<&'a str>,
    /// `email` claim of the access token, the default email address at login.
    pub claimed_email: Option<&'a str>,
}

const TOP_LEVEL_FIELDS: [&str; 4] = ["idempotencyKey", "entityType", "type", "data"];
const ENTITY_TYPES: [&str; 3] = ["task", "user", "user-settings"];
const TASK_CHANGE_FIELDS: [&str; 5] = ["title", "notes", "category", "order", "done"];
const SETTINGS_CHANGE_FIELDS: [&str; 2] = ["tasksPerCategory", "showDoneTasks"];

/// Command types per entity type, in the order that messages list them.
const COMMAND_KINDS: [(&str, &str, CommandKind); 8] = [
    ("task", "create-task", CommandKind::CreateTask),
    ("task", "update-task", CommandKind::UpdateTask),
    ("task", "complete-task", CommandKind::CompleteTask),
    ("task", "reopen-task", CommandKind::ReopenTask),
    ("task", "delete-task", CommandKind::DeleteTask),
    ("user", "login-user", CommandKind::LoginUser),
    ("user", "logout-user", CommandKind::LogoutUser),
    (
        "user-settings",
        "update-user-settings",
        CommandKind::UpdateUserSettings,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CommandKind {
    CreateTask,
    UpdateTask,
    CompleteTask,
    ReopenTask,
    DeleteTask,
    LoginUser,
    LogoutUser,
    UpdateUserSettings,
}

impl CommandKind {
    /// Returns the fields allowed inside `data`.
    fn data_fields(self) -> &'static [&'static str] {
        match self {
            Self::CreateTask => &["id", "title", "notes", "category", "order"],
            Self::UpdateTask => &["id", "title", "notes", "category", "order", "done"],
            Self::CompleteTask | Self::ReopenTask | Self::DeleteTask => &["id"],
            Self::LoginUser => &["name", "email"],
            Self::LogoutUser => &[],
            Self::UpdateUserSettings => &SETTINGS_CHANGE_FIELDS,
        }
    }
}

/// Content of the `data` field of a raw command.
enum Data<'a> {
    Absent,
    Object(&'a Map<String, Value>),
    /// Present but not an object. The violation is already reported.
    Invalid,
}

/// Parses the `idempotencyKey` field of a raw command.
///
/// Only `raw["idempotencyKey"]` is read. An absent or null key, or a `raw` that is
/// not an object, gives `Ok(None)`.
///
/// # Errors
/// A [`Violation`] on field `idempotencyKey` when the key is not a string
/// (`invalid-type`) or not a valid [`IdempotencyKey`].
pub fn parse_idempotency_key(raw: &Value) -> Result<Option<IdempotencyKey>, Violation> {
    const FIELD: &str = "idempotencyKey";
    match raw.get(FIELD) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => IdempotencyKey::new(text)
            .map(Some)
            .map_err(|error| Violation::from_value_error(FIELD, &error)),
        Some(other) => Err(invalid_type(FIELD, "a string", other)),
    }
}

/// Parses one raw command, an element of the request body array, into a typed command.
///
/// A `create-task` without `data.id` gets the id that [`TaskId::derive`] makes from
/// the context's user and idempotency key. A `login-user` without `data.name` or
/// `data.email` takes them from the token claims in `context`. Null fields count
/// as absent, and floats without a fraction, such as `5.0`, count as integers.
///
/// # Errors
/// Every [`Violation`] found in the command, not only the first. The rule names
/// are listed in [`rule`].
pub fn parse_command(raw: &Value, context: &ParseContext) -> Result<Command, Vec<Violation>> {
    let Some(fields) = raw.as_object() else {
        let message = format!(
            "The command must be a JSON object but is {}. Send an object with entityType, \
             type and data.",
            JsonKind(raw)
        );
        return Err(vec![Violation::new("", rule::INVALID_TYPE, message)]);
    };
    let mut violations = Vec::new();
    for name in fields.keys() {
        if !TOP_LEVEL_FIELDS.contains(&name.as_str()) {
            violations.push(unknown_field(name));
        }
    }
    if let Err(violation) = parse_idempotency_key(raw) {
        violations.push(violation);
    }
    let kind = parse_kind(fields, &mut violations);
    let data = parse_data(fields.get("data"), &mut violations);
    let command = match (kind, data) {
        (Some(kind), Data::Absent) => parse_kind_data(kind, None, context, &mut violations),
        (Some(kind), Data::Object(data)) => {
            parse_kind_data(kind, Some(data), context, &mut violations)
        }
        (None, _) | (_, Data::Invalid) => None,
    };
    match command {
        Some(command) if violations.is_empty() => Ok(command),
        _ => Err(violations),
    }
}

/// Resolves `entityType` and `type` to a command kind.
fn parse_kind(fields: &Map<String, Value>, violations: &mut Vec<Violation>) -> Option<CommandKind> {
    let entity_type = required_top_level_string(fields, "entityType", violations);
    let command_type = required_top_level_string(fields, "type", violations);
    let entity_type = entity_type?;
    if !ENTITY_TYPES.contains(&entity_type) {
        let message = format!(
            "entityType {entity_type:?} is unknown. Use one of {}.",
            ENTITY_TYPES.join(", ")
        );
        violations.push(Violation::new(
            "entityType",
            rule::UNKNOWN_ENTITY_TYPE,
            message,
        ));
        return None;
    }
    let command_type = command_type?;
    let known = COMMAND_KINDS
        .iter()
        .find(|(entity, command, _)| *entity == entity_type && *command == command_type);
    if let Some((_, _, kind)) = known {
        return Some(*kind);
    }
    let allowed: Vec<&str> = COMMAND_KINDS
        .iter()
        .filter(|(entity, _, _)| *entity == entity_type)
        .map(|(_, command, _)| *command)
        .collect();
    let message = format!(
        "type {command_type:?} is not a command of entityType {entity_type:?}. Use one of {}.",
        allowed.join(", ")
    );
    violations.push(Violation::new("type", rule::UNKNOWN_COMMAND_TYPE, message));
    None
}

fn required_top_level_string<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    violations: &mut Vec<Violation>,
) -> Option<&'a str> {
    match fields.get(name) {
        None | Some(Value::Null) => {
            violations.push(required(name));
            None
        }
        Some(Value::String(text)) => Some(text),
        Some(other) => {
            violations.push(invalid_type(name, "a string", other));
            None
        }
    }
}

fn parse_data<'a>(value: Option<&'a Value>, violations: &mut Vec<Violation>) -> Data<'a> {
    match value {
        None | Some(Value::Null) => Data::Absent,
        Some(Value::Object(fields)) => Data::Object(fields),
        Some(other) => {
            violations.push(invalid_type("data", "an object", other));
            Data::Invalid
        }
    }
}

fn parse_kind_data(
    kind: CommandKind,
    data: Option<&Map<String, Value>>,
    context: &ParseContext,
    violations: &mut Vec<Violation>,
) -> Option<Command> {
    let mut reader = DataReader::new(data, kind.data_fields(), violations);
    match kind {
        CommandKind::CreateTask => parse_create_task(&mut reader, context),
        CommandKind::UpdateTask => parse_update_task(&mut reader),
        CommandKind::CompleteTask => parse_task_action(&mut reader, TaskAction::Complete),
        CommandKind::ReopenTask => parse_task_action(&mut reader, TaskAction::Reopen),
        CommandKind::DeleteTask => parse_task_action(&mut reader, TaskAction::Delete),
        CommandKind::LoginUser => Some(parse_login(&mut reader, context)),
        CommandKind::LogoutUser => Some(Command::User(UserCommand::Logout)),
        CommandKind::UpdateUserSettings => parse_update_settings(&mut reader),
    }
}

fn parse_create_task(reader: &mut DataReader, context: &ParseContext) -> Option<Command> {
    // An invalid optional field is already reported, so its default never reaches
    // a command.
    let task_id = reader
        .text_value("id", TaskId::parse)
        .unwrap_or_else(|| TaskId::derive(context.user_id, context.idempotency_key));
    let title = reader.required_text_value("title", Title::new);
    let notes = reader.text_value("notes", Notes::new).unwrap_or_default();
    let category = reader
        .text_value("category", Category::parse)
        .unwrap_or_default();
    let order = reader
        .integer_value("order", Order::new)
        .unwrap_or_default();
    let new_task = NewTask {
        title: title?,
        notes,
        category,
        order,
    };
    Some(Command::Task(TaskCommand {
        task_id,
        action: TaskAction::Create(new_task),
    }))
}

fn parse_update_task(reader: &mut DataReader) -> Option<Command> {
    let task_id = reader.required_text_value("id", TaskId::parse);
    let has_change = reader.contains_any(&TASK_CHANGE_FIELDS);
    let changes = TaskChanges {
        title: reader.text_value("title", Title::new),
        notes: reader.text_value("notes", Notes::new),
        category: reader.text_value("category", Category::parse),
        order: reader.integer_value("order", Order::new),
        done: reader.boolean("done"),
    };
    if !has_change {
        reader.push(empty_update(&TASK_CHANGE_FIELDS));
        return None;
    }
    Some(Command::Task(TaskCommand {
        task_id: task_id?,
        action: TaskAction::Update(changes),
    }))
}

fn parse_task_action(reader: &mut DataReader, action: TaskAction) -> Option<Command> {
    let task_id = reader.required_text_value("id", TaskId::parse)?;
    Some(Command::Task(TaskCommand { task_id, action }))
}

/// Parses a login. A claim that fails validation is dropped rather than reported,
/// because the caller cannot change what the identity provider put in the token.
fn parse_login(reader: &mut DataReader, context: &ParseContext) -> Command {
    let name = if reader.contains("name") {
        reader.text_value("name", DisplayName::new)
    } else {
        context
            .claimed_name
            .and_then(|claim| DisplayName::new(claim).ok())
    };
    let email = if reader.contains("email") {
        reader.text_value("email", Email::new)
    } else {
        context
            .claimed_email
            .and_then(|claim| Email::new(claim).ok())
    };
    Command::User(UserCommand::Login { name, email })
}

fn parse_update_settings(reader: &mut DataReader) -> Option<Command> {
    let has_change = reader.contains_any(&SETTINGS_CHANGE_FIELDS);
    let changes = SettingsChanges {
        tasks_per_category: reader.integer_value("tasksPerCategory", TasksPerCategory::new),
        show_done_tasks: reader.boolean("showDoneTasks"),
    };
    if !has_change {
        reader.push(empty_update(&SETTINGS_CHANGE_FIELDS));
        return None;
    }
    Some(Command::User(UserCommand::UpdateSettings(changes)))
}

/// Reads typed fields of `data` and records a violation for each invalid one.
///
/// Every read returns `None` both for an absent field and for an invalid one,
/// and only the invalid case adds a violation.
struct DataReader<'a, 'v> {
    fields: Option<&'a Map<String, Value>>,
    violations: &'v mut Vec<Violation>,
}

impl<'a, 'v> DataReader<'a, 'v> {
    /// Creates a reader and reports every field of `fields` outside `allowed`.
    fn new(
        fields: Option<&'a Map<String, Value>>,
        allowed: &[&str],
        violations: &'v mut Vec<Violation>,
    ) -> Self {
        for name in fields.into_iter().flat_map(Map::keys) {
            if !allowed.contains(&name.as_str()) {
                violations.push(unknown_field(&data_path(name)));
            }
        }
        Self { fields, violations }
    }

    fn push(&mut self, violation: Violation) {
        self.violations.push(violation);
    }

    /// Returns the field's value, treating null as absent.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields?.get(name).filter(|value| !value.is_null())
    }

    fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn contains_any(&self, names: &[&str]) -> bool {
        names.iter().any(|name| self.contains(name))
    }

    fn text(&mut self, name: &str) -> Option<&'a str> {
        match self.get(name)? {
            Value::String(text) => Some(text),
            other => {
                self.push(invalid_type(&data_path(name), "a string", other));
                None
            }
        }
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(flag) => Some(*flag),
            other => {
                self.push(invalid_type(&data_path(name), "a boolean", other));
                None
            }
        }
    }

    /// Reads a string field and validates it with `parse`.
    fn text_value<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Option<T> {
        let text = self.text(name)?;
        match parse(text) {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(Violation::from_value_error(&data_path(name), &error));
                None
            }
        }
    }

    /// Like [`DataReader::text_value`], and reports `required` when the field is absent.
    fn required_text_value<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Option<T> {
        if !self.contains(name) {
            self.push(required(&data_path(name)));
            return None;
        }
        self.text_value(name, parse)
    }

    /// Reads a whole-number field and validates it with `parse`.
    fn integer_value<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(i64) -> Result<T, ValueError>,
    ) -> Option<T> {
        let path = data_path(name);
        let number = match self.get(name)? {
            Value::Number(number) => number,
            other => {
                self.push(invalid_type(&path, "a whole number", other));
                return None;
            }
        };
        let Some(integer) = whole_number(number) else {
            let message =
                format!("{path} must be a whole number but is {number}. Remove the fraction.");
            self.push(Violation::new(path, rule::NOT_INTEGER, message));
            return None;
        };
        match parse(integer) {
            Ok(value) => Some(value),
            Err(ValueError::OutOfRange { min, max, .. }) => {
                // The integer may be saturated at the i64 limits, so the message
                // shows the number as sent.
                let message = format!(
                    "{path} must be between {min} and {max} but is {number}. \
                     Use a value inside the range."
                );
                self.push(Violation::new(path, rule::OUT_OF_RANGE, message));
                None
            }
            Err(error) => {
                self.push(Violation::from_value_error(&path, &error));
                None
            }
        }
    }
}

/// Converts a JSON number without a fraction to i64, saturating at the i64 limits
/// so that huge values still fail the range check. Returns `None` for a fraction.
fn whole_number(number: &Number) -> Option<i64> {
    if let Some(integer) = number.as_i64() {
        return Some(integer);
    }
    if number.as_u64().is_some() {
        return Some(i64::MAX);
    }
    let float = number.as_f64()?;
    if float.fract() != 0.0 {
        return None;
    }
    // `as` saturates for floats outside the i64 range.
    Some(float as i64)
}

fn data_path(name: &str) -> String {
    format!("data.{name}")
}

fn invalid_type(field: &str, expected: &str, actual: &Value) -> Violation {
    let message = format!(
        "{field} must be {expected} but is {}. Send {expected}.",
        JsonKind(actual)
    );
    Violation::new(field, rule::INVALID_TYPE, message)
}

fn required(field: &str) -> Violation {
    let message = format!("{field} is required but missing. Add it.");
    Violation::new(field, rule::REQUIRED, message)
}

fn unknown_field(field: &str) -> Violation {
    let message =
        format!("{field} is not a field of this command. Remove it or correct its spelling.");
    Violation::new(field, rule::UNKNOWN_FIELD, message)
}

fn empty_update(fields: &[&str]) -> Violation {
    let message = format!(
        "data must contain at least one of {}. Add the fields to change.",
        fields.join(", ")
    );
    Violation::new("data", rule::EMPTY_UPDATE, message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TASK_UUID: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";

    fn user() -> UserId {
        UserId::new("user-1").unwrap()
    }

    fn key() -> IdempotencyKey {
        IdempotencyKey::new("key-1").unwrap()
    }

    fn parse_with_claims(
        raw: &Value,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<Command, Vec<Violation>> {
        let user_id = user();
        let idempotency_key = key();
        let context = ParseContext {
            user_id: &user_id,
            idempotency_key: &idempotency_key,
            claimed_name: name,
            claimed_email: email,
        };
        parse_command(raw, &context)
    }

    fn parse(raw: &Value) -> Result<Command, Vec<Violation>> {
        parse_with_claims(raw, Some("Ada Lovelace"), Some("ada@example.org"))
    }

    fn task_command(raw: &Value) -> TaskCommand {
        match parse(raw) {
            Ok(Command::Task(command)) => command,
            other => panic!("expected a task command, got {other:?}"),
        }
    }

    fn user_command(raw: &Value) -> UserCommand {
        match parse(raw) {
            Ok(Command::User(command)) => command,
            other => panic!("expected a user command, got {other:?}"),
        }
    }

    fn task_id() -> TaskId {
        TaskId::parse(TASK_UUID).unwrap()
    }

    fn create(data: Value) -> Value {
        json!({"entityType": "task", "type": "create-task", "data": data})
    }

    fn update(data: Value) -> Value {
        json!({"entityType": "task", "type": "update-task", "data": data})
    }

    fn settings(data: Value) -> Value {
        json!({"entityType": "user-settings", "type": "update-user-settings", "data": data})
    }

    fn login(data: Value) -> Value {
        json!({"entityType": "user", "type": "login-user", "data": data})
    }

    /// Raw commands that must be rejected, each with every expected (field, rule) pair.
    fn invalid_cases() -> Vec<(Value, Vec<(&'static str, &'static str)>)> {
        let long_title = "t".repeat(201);
        let long_notes = "n".repeat(5001);
        let long_email = format!("{}@example.org", "a".repeat(320));
        vec![
            (json!(42), vec![("", "invalid-type")]),
            (json!([]), vec![("", "invalid-type")]),
            (
                json!({}),
                vec![("entityType", "required"), ("type", "required")],
            ),
            (
                json!({"entityType": null, "type": "create-task"}),
                vec![("entityType", "required")],
            ),
            (
                json!({"entityType": "task", "data": {"title": "a"}}),
                vec![("type", "required")],
            ),
            (
                json!({"entityType": 5, "type": "create-task"}),
                vec![("entityType", "invalid-type")],
            ),
            (
                json!({"entityType": "task", "type": ["create-task"]}),
                vec![("type", "invalid-type")],
            ),
            (
                json!({"entityType": "project", "type": "create-task"}),
                vec![("entityType", "unknown-entity-type")],
            ),
            (
                json!({"entityType": "task", "type": "login-user"}),
                vec![("type", "unknown-command-type")],
            ),
            (
                json!({"entityType": "user-settings", "type": "update-settings"}),
                vec![("type", "unknown-command-type")],
            ),
            (
                json!({"entityType": "task", "type": "create-task", "data": {"title": "a"},
                       "extra": 1}),
                vec![("extra", "unknown-field")],
            ),
            (
                json!({"entityType": "task", "type": "create-task"}),
                vec![("data.title", "required")],
            ),
            (
                json!({"entityType": "task", "type": "create-task", "data": "title"}),
                vec![("data", "invalid-type")],
            ),
            (
                create(json!({"title": 5})),
                vec![("data.title", "invalid-type")],
            ),
            (
                create(json!({"title": "   "})),
                vec![("data.title", "too-short")],
            ),
            (
                create(json!({"title": long_title})),
                vec![("data.title", "too-long")],
            ),
            (
                create(json!({"title": "bell\u{7}"})),
                vec![("data.title", "invalid-characters")],
            ),
            (
                create(json!({"title": "a", "notes": long_notes})),
                vec![("data.notes", "too-long")],
            ),
            (
                create(json!({"title": "a", "notes": "\u{1}"})),
                vec![("data.notes", "invalid-characters")],
            ),
            (
                create(json!({"title": "a", "category": "urgent"})),
                vec![("data.category", "invalid-category")],
            ),
            (
                create(json!({"title": "a", "category": 3})),
                vec![("data.category", "invalid-type")],
            ),
            (
                create(json!({"title": "a", "order": 1.5})),
                vec![("data.order", "not-integer")],
            ),
            (
                create(json!({"title": "a", "order": -1})),
                vec![("data.order", "out-of-range")],
            ),
            (
                create(json!({"title": "a", "order": 1_000_000_001})),
                vec![("data.order", "out-of-range")],
            ),
            (
                create(json!({"title": "a", "order": 1e12})),
                vec![("data.order", "out-of-range")],
            ),
            (
                create(json!({"title": "a", "order": u64::MAX})),
                vec![("data.order", "out-of-range")],
            ),
            (
                create(json!({"title": "a", "order": "3"})),
                vec![("data.order", "invalid-type")],
            ),
            (
                create(json!({"title": "a", "id": "nope"})),
                vec![("data.id", "invalid-uuid")],
            ),
            (
                create(json!({"title": "a", "due": "tomorrow"})),
                vec![("data.due", "unknown-field")],
            ),
            (
                create(json!({"title": "a", "done": true})),
                vec![("data.done", "unknown-field")],
            ),
            (
                json!({"idempotencyKey": "has space", "entityType": "task",
                       "type": "create-task", "data": {"title": "a"}}),
                vec![("idempotencyKey", "invalid-characters")],
            ),
            (
                json!({"idempotencyKey": 7, "entityType": "task",
                       "type": "create-task", "data": {"title": "a"}}),
                vec![("idempotencyKey", "invalid-type")],
            ),
            (
                json!({"idempotencyKey": "", "entityType": "task",
                       "type": "create-task", "data": {"title": "a"}}),
                vec![("idempotencyKey", "too-short")],
            ),
            (
                json!({"idempotencyKey": "k".repeat(129), "entityType": "task",
                       "type": "create-task", "data": {"title": "a"}}),
                vec![("idempotencyKey", "too-long")],
            ),
            (
                create(
                    json!({"title": "t".repeat(300), "category": "Fun", "order": 0.5,
                              "colour": "red"}),
                ),
                vec![
                    ("data.colour", "unknown-field"),
                    ("data.title", "too-long"),
                    ("data.category", "invalid-category"),
                    ("data.order", "not-integer"),
                ],
            ),
            (
                json!({"entityType": "task", "type": "create-task", "data": {"title": ""},
                       "idempotencyKey": "a/b", "priority": 1}),
                vec![
                    ("priority", "unknown-field"),
                    ("idempotencyKey", "invalid-characters"),
                    ("data.title", "too-short"),
                ],
            ),
            (update(json!({"title": "a"})), vec![("data.id", "required")]),
            (
                update(json!({"id": TASK_UUID})),
                vec![("data", "empty-update")],
            ),
            (
                update(json!({"id": TASK_UUID, "title": null})),
                vec![("data", "empty-update")],
            ),
            (
                json!({"entityType": "task", "type": "update-task"}),
                vec![("data.id", "required"), ("data", "empty-update")],
            ),
            (
                update(json!({"id": TASK_UUID, "done": "yes"})),
                vec![("data.done", "invalid-type")],
            ),
            (
                update(json!({"id": "123", "order": -4})),
                vec![("data.id", "invalid-uuid"), ("data.order", "out-of-range")],
            ),
            (
                update(json!({"id": TASK_UUID, "title": "a", "tasksPerCategory": 3})),
                vec![("data.tasksPerCategory", "unknown-field")],
            ),
            (
                json!({"entityType": "task", "type": "complete-task"}),
                vec![("data.id", "required")],
            ),
            (
                json!({"entityType": "task", "type": "reopen-task", "data": {"id": 5}}),
                vec![("data.id", "invalid-type")],
            ),
            (
                json!({"entityType": "task", "type": "delete-task",
                       "data": {"id": TASK_UUID, "title": "a"}}),
                vec![("data.title", "unknown-field")],
            ),
            (
                login(json!({"name": " ", "email": "nope"})),
                vec![("data.name", "too-short"), ("data.email", "invalid-email")],
            ),
            (
                login(json!({"email": long_email})),
                vec![("data.email", "too-long")],
            ),
            (
                login(json!({"name": 1})),
                vec![("data.name", "invalid-type")],
            ),
            (
                login(json!({"name": "Ada", "role": "admin"})),
                vec![("data.role", "unknown-field")],
            ),
            (
                json!({"entityType": "user", "type": "logout-user", "data": {"force": true}}),
                vec![("data.force", "unknown-field")],
            ),
            (
                json!({"entityType": "user", "type": "logout-user", "data": []}),
                vec![("data", "invalid-type")],
            ),
            (settings(json!({})), vec![("data", "empty-update")]),
            (
                json!({"entityType": "user-settings", "type": "update-user-settings"}),
                vec![("data", "empty-update")],
            ),
            (
                settings(json!({"tasksPerCategory": 0})),
                vec![("data.tasksPerCategory", "out-of-range")],
            ),
            (
                settings(json!({"tasksPerCategory": 101})),
                vec![("data.tasksPerCategory", "out-of-range")],
            ),
            (
                settings(json!({"tasksPerCategory": 2.5})),
                vec![("data.tasksPerCategory", "not-integer")],
            ),
            (
                settings(json!({"tasksPerCategory": "3"})),
                vec![("data.tasksPerCategory", "invalid-type")],
            ),
            (
                settings(json!({"showDoneTasks": "true"})),
                vec![("data.showDoneTasks", "invalid-type")],
            ),
            (
                settings(json!({"showDoneTasks": true, "theme": "dark"})),
                vec![("data.theme", "unknown-field")],
            ),
        ]
    }

    #[test]
    fn invalid_commands_report_every_violation() {
        for (raw, expected) in invalid_cases() {
            let violations = parse(&raw).expect_err(&format!("accepted {raw}"));
            let mut actual: Vec<(&str, &str)> = violations
                .iter()
                .map(|violation| (violation.field.as_str(), violation.rule))
                .collect();
            let mut expected = expected;
            actual.sort_unstable();
            expected.sort_unstable();
            assert_eq!(actual, expected, "command {raw}");
        }
    }

    #[test]
    fn violation_messages_name_field_and_fix() {
        for (raw, _) in invalid_cases() {
            for violation in parse(&raw).unwrap_err() {
                if !violation.field.is_empty() {
                    assert!(
                        violation.message.starts_with(&violation.field),
                        "message {:?} does not start with {:?}",
                        violation.message,
                        violation.field
                    );
                }
                assert!(violation.message.ends_with('.'), "{:?}", violation.message);
            }
        }
    }

    #[test]
    fn too_long_title_message_is_specific() {
        let violations = parse(&create(json!({"title": "t".repeat(201)}))).unwrap_err();
        assert_eq!(
            violations[0].message,
            "data.title must be at most 200 characters but has 201. Shorten it."
        );
    }

    #[test]
    fn unknown_command_type_message_lists_types() {
        let raw = json!({"entityType": "user", "type": "create-task"});
        let violations = parse(&raw).unwrap_err();
        assert_eq!(
            violations[0].message,
            "type \"create-task\" is not a command of entityType \"user\". \
             Use one of login-user, logout-user."
        );
    }

    #[test]
    fn huge_order_message_shows_number_as_sent() {
        let violations = parse(&create(json!({"title": "a", "order": u64::MAX}))).unwrap_err();
        assert!(
            violations[0].message.contains("18446744073709551615"),
            "{}",
            violations[0].message
        );
    }

    #[test]
    fn create_task_applies_defaults() {
        let command = task_command(&create(json!({"title": "  Buy milk  "})));
        assert_eq!(command.task_id, TaskId::derive(&user(), &key()));
        let TaskAction::Create(new_task) = command.action else {
            panic!("expected a create action");
        };
        assert_eq!(new_task.title.as_str(), "Buy milk");
        assert_eq!(new_task.notes.as_str(), "");
        assert_eq!(new_task.category, Category::Normal);
        assert_eq!(new_task.order.value(), 0);
    }

    #[test]
    fn create_task_reads_every_field() {
        let raw = json!({
            "idempotencyKey": "create-1",
            "entityType": "task",
            "type": "create-task",
            "data": {"id": TASK_UUID, "title": "Plan", "notes": "a\nb",
                     "category": "critical", "order": 7}
        });
        let command = task_command(&raw);
        assert_eq!(command.task_id, task_id());
        let expected = NewTask {
            title: Title::new("Plan").unwrap(),
            notes: Notes::new("a\nb").unwrap(),
            category: Category::Critical,
            order: Order::new(7).unwrap(),
        };
        assert_eq!(command.action, TaskAction::Create(expected));
    }

    #[test]
    fn create_task_treats_null_as_absent() {
        let raw = create(json!({"id": null, "title": "a", "notes": null, "order": null}));
        let command = task_command(&raw);
        assert_eq!(command.task_id, TaskId::derive(&user(), &key()));
    }

    #[test]
    fn whole_float_counts_as_integer() {
        let command = task_command(&create(json!({"title": "a", "order": 5.0})));
        let TaskAction::Create(new_task) = command.action else {
            panic!("expected a create action");
        };
        assert_eq!(new_task.order.value(), 5);
    }

    #[test]
    fn derived_id_differs_per_user() {
        let raw = create(json!({"title": "a"}));
        let first = task_command(&raw).task_id;
        let other_user = UserId::new("user-2").unwrap();
        let idempotency_key = key();
        let context = ParseContext {
            user_id: &other_user,
            idempotency_key: &idempotency_key,
            claimed_name: None,
            claimed_email: None,
        };
        let Ok(Command::Task(second)) = parse_command(&raw, &context) else {
            panic!("expected a task command");
        };
        assert_ne!(first, second.task_id);
        assert_eq!(first, task_command(&raw).task_id);
    }

    #[test]
    fn update_task_reads_changes() {
        let raw = update(json!({"id": TASK_UUID, "title": "New", "notes": "",
                                "category": "fun", "order": 2, "done": true}));
        let command = task_command(&raw);
        assert_eq!(command.task_id, task_id());
        let expected = TaskChanges {
            title: Some(Title::new("New").unwrap()),
            notes: Some(Notes::default()),
            category: Some(Category::Fun),
            order: Some(Order::new(2).unwrap()),
            done: Some(true),
        };
        assert_eq!(command.action, TaskAction::Update(expected));
    }

    #[test]
    fn update_task_accepts_single_field() {
        let command = task_command(&update(json!({"id": TASK_UUID, "done": false})));
        let expected = TaskChanges {
            done: Some(false),
            ..TaskChanges::default()
        };
        assert_eq!(command.action, TaskAction::Update(expected));
    }

    #[test]
    fn id_only_task_commands_parse() {
        let cases = [
            ("complete-task", TaskAction::Complete),
            ("reopen-task", TaskAction::Reopen),
            ("delete-task", TaskAction::Delete),
        ];
        for (command_type, action) in cases {
            let raw = json!({"entityType": "task", "type": command_type,
                             "data": {"id": TASK_UUID}});
            let command = task_command(&raw);
            assert_eq!(command.task_id, task_id(), "{command_type}");
            assert_eq!(command.action, action, "{command_type}");
        }
    }

    #[test]
    fn login_defaults_to_claims() {
        let raw = json!({"entityType": "user", "type": "login-user"});
        let expected = UserCommand::Login {
            name: Some(DisplayName::new("Ada Lovelace").unwrap()),
            email: Some(Email::new("ada@example.org").unwrap()),
        };
        assert_eq!(user_command(&raw), expected);
        assert_eq!(user_command(&login(json!({}))), expected);
    }

    #[test]
    fn login_data_overrides_claims() {
        let raw = login(json!({"name": "Ada", "email": "ada@work.example"}));
        let expected = UserCommand::Login {
            name: Some(DisplayName::new("Ada").unwrap()),
            email: Some(Email::new("ada@work.example").unwrap()),
        };
        assert_eq!(user_command(&raw), expected);
    }

    #[test]
    fn login_drops_invalid_claims() {
        let raw = login(json!({}));
        let long_name = "n".repeat(201);
        let command = parse_with_claims(&raw, Some(&long_name), Some("not-an-email"));
        let expected = Command::User(UserCommand::Login {
            name: None,
            email: None,
        });
        assert_eq!(command, Ok(expected));
    }

    #[test]
    fn logout_accepts_absent_null_and_empty_data() {
        let raws = [
            json!({"entityType": "user", "type": "logout-user"}),
            json!({"entityType": "user", "type": "logout-user", "data": null}),
            json!({"entityType": "user", "type": "logout-user", "data": {}}),
        ];
        for raw in raws {
            assert_eq!(user_command(&raw), UserCommand::Logout, "command {raw}");
        }
    }

    #[test]
    fn settings_update_reads_fields() {
        let raw = settings(json!({"tasksPerCategory": 5, "showDoneTasks": true}));
        let expected = SettingsChanges {
            tasks_per_category: Some(TasksPerCategory::new(5).unwrap()),
            show_done_tasks: Some(true),
        };
        assert_eq!(user_command(&raw), UserCommand::UpdateSettings(expected));
    }

    #[test]
    fn settings_update_accepts_single_field() {
        let raw = settings(json!({"showDoneTasks": false}));
        let expected = SettingsChanges {
            tasks_per_category: None,
            show_done_tasks: Some(false),
        };
        assert_eq!(user_command(&raw), UserCommand::UpdateSettings(expected));
    }

    #[test]
    fn idempotency_key_parse_cases() {
        assert_eq!(parse_idempotency_key(&json!({})), Ok(None));
        assert_eq!(
            parse_idempotency_key(&json!({"idempotencyKey": null})),
            Ok(None)
        );
        assert_eq!(parse_idempotency_key(&json!("text")), Ok(None));
        assert_eq!(
            parse_idempotency_key(&json!({"idempotencyKey": "k-1"})),
            Ok(Some(IdempotencyKey::new("k-1").unwrap()))
        );
        let violation = parse_idempotency_key(&json!({"idempotencyKey": "a b"})).unwrap_err();
        assert_eq!(violation.field, "idempotencyKey");
        assert_eq!(violation.rule, rule::INVALID_CHARACTERS);
    }
}
