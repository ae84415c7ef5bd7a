//! Identifiers: users, idempotency keys, tasks and event streams.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{StreamKeyError, ValueError};
use crate::values::{check_max_chars, reject_control_characters};

/// Namespace of the UUIDv5 task ids that [`TaskId::derive`] makes.
///
/// Changing it changes every derived id, so a request retried across the change
/// would create a second task.
const TASK_ID_NAMESPACE: Uuid = Uuid::from_u128(0xeb0f_c5c6_3c3e_48c2_9a57_9681_a56c_a478);

/// Identity of a user: the `sub` claim of their access token.
///
/// Invariant: 1 to 255 characters and no control characters. The value is kept
/// exactly as the identity provider sent it, without trimming.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Maximum length in characters.
    pub const MAX_CHARS: usize = 255;

    /// Validates a `sub` claim as a user id.
    ///
    /// # Errors
    /// [`ValueError::TooShort`] when empty, [`ValueError::TooLong`] above 255
    /// characters and [`ValueError::InvalidCharacters`] for a control character.
    pub fn new(value: &str) -> Result<Self, ValueError> {
        if value.is_empty() {
            return Err(ValueError::TooShort);
        }
        check_max_chars(value, Self::MAX_CHARS)?;
        reject_control_characters(value, &[])?;
        Ok(Self(value.to_owned()))
    }

    /// Returns the id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = ValueError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> Self {
        id.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Client-chosen key that makes a retried command take effect only once.
///
/// Invariant: 1 to 128 characters, each an ASCII letter, an ASCII digit or one
/// of `-_.:~`, so the key is safe inside storage keys and header values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Maximum length in characters.
    pub const MAX_CHARS: usize = 128;

    /// Validates a raw idempotency key.
    ///
    /// # Errors
    /// [`ValueError::TooShort`] when empty, [`ValueError::TooLong`] above 128
    /// characters and [`ValueError::InvalidCharacters`] for any character outside
    /// ASCII letters, digits and `-_.:~`.
    pub fn new(value: &str) -> Result<Self, ValueError> {
        if value.is_empty() {
            return Err(ValueError::TooShort);
        }
        check_max_chars(value, Self::MAX_CHARS)?;
        let invalid = value
            .chars()
            .find(|character| !character.is_ascii_alphanumeric() && !"-_.:~".contains(*character));
        if let Some(character) = invalid {
            return Err(ValueError::InvalidCharacters { character });
        }
        Ok(Self(value.to_owned()))
    }

    /// Returns the key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = ValueError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> Self {
        key.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Identity of a task. Displays as a lowercase hyphenated UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(Uuid);

impl TaskId {
    /// Wraps any UUID as a task id.
    pub fn new(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// Derives the id of the task that `user` creates with idempotency key `key`.
    ///
    /// The id is a UUIDv5 of `user`, a line feed and `key` in a fixed project
    /// namespace. The same user and key always give the same id, so a retried
    /// create request targets the task that the first attempt created. The line
    /// feed cannot occur in either part, so two different pairs never share a name.
    pub fn derive(user: &UserId, key: &IdempotencyKey) -> Self {
        let name = format!("{}\n{}", user.as_str(), key.as_str());
        Self(Uuid::new_v5(&TASK_ID_NAMESPACE, name.as_bytes()))
    }

    /// Parses a UUID in any format that the `uuid` crate reads, such as hyphenated.
    ///
    /// # Errors
    /// [`ValueError::InvalidUuid`] when `value` is not a UUID.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Uuid::try_parse(value)
            .map(Self)
            .map_err(|_| ValueError::InvalidUuid {
                value: value.to_owned(),
            })
    }

    /// Returns the UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl FromStr for TaskId {
    type Err = ValueError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), formatter)
    }
}

/// Event stream of one aggregate inside the streams of one user.
///
/// The user id is not part of the stream id because every stream is stored
/// per user. The user stream contains both the profile and the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamId {
    /// Stream of one task.
    Task(TaskId),
    /// Stream of the user's profile and settings.
    User,
}

impl StreamId {
    const TASK_PREFIX: &'static str = "task-";
    const USER_KEY: &'static str = "user";

    /// Returns the storage key: `task-<uuid>` or `user`.
    pub fn as_key(&self) -> String {
        match self {
            Self::Task(id) => format!("{}{id}", Self::TASK_PREFIX),
            Self::User => Self::USER_KEY.to_owned(),
        }
    }

    /// Parses a storage key made by [`StreamId::as_key`].
    ///
    /// # Errors
    /// [`StreamKeyError`] when `key` is neither `user` nor `task-` followed by a UUID.
    pub fn parse(key: &str) -> Result<Self, StreamKeyError> {
        if key == Self::USER_KEY {
            return Ok(Self::User);
        }
        key.strip_prefix(Self::TASK_PREFIX)
            .and_then(|uuid| TaskId::parse(uuid).ok())
            .map(Self::Task)
            .ok_or_else(|| StreamKeyError {
                key: key.to_owned(),
            })
    }

    /// Returns the id of the entity behind the stream: the task id, or `user`'s id
    /// for the user stream.
    pub fn entity_id(&self, user: &UserId) -> String {
        match self {
            Self::Task(id) => id.to_string(),
            Self::User => user.as_str().to_owned(),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.as_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(value: &str) -> UserId {
        UserId::new(value).unwrap()
    }

    fn key(value: &str) -> IdempotencyKey {
        IdempotencyKey::new(value).unwrap()
    }

    #[test]
    fn user_id_accepts_typical_sub() {
        assert_eq!(user("auth0|65f1c2").as_str(), "auth0|65f1c2");
    }

    #[test]
    fn user_id_rejects_empty_long_and_control() {
        assert_eq!(UserId::new(""), Err(ValueError::TooShort));
        assert_eq!(
            UserId::new(&"u".repeat(256)).map_err(|error| error.rule()),
            Err("too-long")
        );
        assert!(UserId::new(&"u".repeat(255)).is_ok());
        assert_eq!(
            UserId::new("a\u{0}b"),
            Err(ValueError::InvalidCharacters { character: '\u{0}' })
        );
    }

    #[test]
    fn idempotency_key_allows_listed_characters() {
        assert!(IdempotencyKey::new("Az09-_.:~").is_ok());
        assert!(IdempotencyKey::new(&"k".repeat(128)).is_ok());
    }

    #[test]
    fn idempotency_key_rejects_other_characters() {
        for (raw, character) in [("a b", ' '), ("a/b", '/'), ("é", 'é'), ("a\nb", '\n')] {
            assert_eq!(
                IdempotencyKey::new(raw),
                Err(ValueError::InvalidCharacters { character }),
                "key {raw:?}"
            );
        }
        assert_eq!(IdempotencyKey::new(""), Err(ValueError::TooShort));
        assert_eq!(
            IdempotencyKey::new(&"k".repeat(129)).map_err(|error| error.rule()),
            Err("too-long")
        );
    }

    #[test]
    fn derived_task_id_is_pinned() {
        // The derived ids are stored, so this value must never change.
        let id = TaskId::derive(&user("user-1"), &key("key-1"));
        let expected = Uuid::new_v5(&TASK_ID_NAMESPACE, b"user-1\nkey-1");
        assert_eq!(id.as_uuid(), &expected);
        assert_eq!(id.as_uuid().get_version_num(), 5);
        assert_eq!(
            TASK_ID_NAMESPACE.to_string(),
            "eb0fc5c6-3c3e-48c2-9a57-9681a56ca478"
        );
    }

    #[test]
    fn derived_task_id_is_deterministic() {
        let first = TaskId::derive(&user("user-1"), &key("key-1"));
        let second = TaskId::derive(&user("user-1"), &key("key-1"));
        assert_eq!(first, second);
    }

    #[test]
    fn derived_task_id_differs_per_user_and_key() {
        let base = TaskId::derive(&user("user-1"), &key("key-1"));
        assert_ne!(base, TaskId::derive(&user("user-2"), &key("key-1")));
        assert_ne!(base, TaskId::derive(&user("user-1"), &key("key-2")));
    }

    #[test]
    fn task_id_displays_lowercase_hyphenated() {
        let id = TaskId::parse("67E55044-10B1-426F-9247-BB680E5FE0C8").unwrap();
        assert_eq!(id.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
    }

    #[test]
    fn task_id_rejects_non_uuid() {
        assert_eq!(
            TaskId::parse("nope"),
            Err(ValueError::InvalidUuid {
                value: "nope".to_owned()
            })
        );
    }

    #[test]
    fn stream_key_round_trips() {
        let id = TaskId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        let task = StreamId::Task(id);
        assert_eq!(task.as_key(), "task-67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert_eq!(StreamId::parse(&task.as_key()), Ok(task));
        assert_eq!(StreamId::User.as_key(), "user");
        assert_eq!(StreamId::parse("user"), Ok(StreamId::User));
    }

    #[test]
    fn stream_parse_rejects_unknown_keys() {
        for key in ["", "users", "task-", "task-nope", "settings"] {
            assert!(StreamId::parse(key).is_err(), "key {key:?}");
        }
    }

    #[test]
    fn stream_entity_id_is_task_or_user() {
        let owner = user("user-1");
        let id = TaskId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        assert_eq!(
            StreamId::Task(id).entity_id(&owner),
            "67e55044-10b1-426f-9247-bb680e5fe0c8"
        );
        assert_eq!(StreamId::User.entity_id(&owner), "user-1");
    }
}
