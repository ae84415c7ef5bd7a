//! Versioned queue messages: commands on the commands queue and recorded
//! events on the domain-events queue.
//!
//! These are wire types, separate from the domain types, so the queue format
//! can outlive a change of the domain model. Every message carries `schema`.

use serde::{Deserialize, Serialize};

/// Version of [`CommandMessage`] and [`EventsMessage`] written by this code.
pub const MESSAGE_SCHEMA_VERSION: u32 = 1;

/// One accepted command, as command ingest puts it on the commands queue.
///
/// `command` is the raw command object from the request; domain processing
/// parses it again so the domain rules hold whatever wrote the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandMessage {
    /// Message format version.
    pub schema: u32,
    /// Verified `sub` of the caller; never taken from the request body.
    pub user_id: String,
    /// Per-user idempotency key: given by the client or generated at ingest.
    pub idempotency_key: String,
    /// The raw command object (`entityType`, `type`, `data`).
    pub command: serde_json::Value,
    /// `name` claim of the verified token, the default for `login-user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_name: Option<String>,
    /// `email` claim of the verified token, the default for `login-user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_email: Option<String>,
    /// RFC 3339 time at which ingest accepted the command.
    pub received_at: String,
}

/// The events one command appended to one stream, published after the append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsMessage {
    /// Message format version.
    pub schema: u32,
    /// Owner of the stream.
    pub user_id: String,
    /// Stream key such as `task-<uuid>` or `user`.
    pub stream: String,
    /// The events, in version order, without gaps.
    pub events: Vec<EventRecord>,
}

/// One stored event as it travels on the domain-events queue and through the
/// history endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// Position in the stream, starting at 1.
    pub version: u32,
    /// Stable event name such as `task-created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Version of the `data` layout.
    pub schema_version: u32,
    /// Event data in the stored layout.
    pub data: serde_json::Value,
    /// RFC 3339 time of the append.
    pub occurred_at: String,
    /// Idempotency key of the command that produced the event.
    pub idempotency_key: String,
}

/// Errors decoding a queue message that no retry can fix.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The text is not JSON of the expected shape.
    #[error("message is not a valid {kind} message: {reason}")]
    Invalid {
        /// Message kind that was expected.
        kind: &'static str,
        /// Description of the parse failure.
        reason: String,
    },
    /// The message was written by a newer or unknown format version.
    #[error("{kind} message has unsupported schema version {version}; this build reads version {MESSAGE_SCHEMA_VERSION}")]
    UnsupportedSchema {
        /// Message kind that was expected.
        kind: &'static str,
        /// The version found.
        version: u32,
    },
}

impl CommandMessage {
    /// Parses a commands-queue message.
    ///
    /// # Errors
    /// [`EnvelopeError`] when the text is not a command message of a known version.
    pub fn decode(text: &str) -> Result<Self, EnvelopeError> {
        let message: Self = decode_json(text, "command")?;
        check_schema(message.schema, "command")?;
        Ok(message)
    }

    /// Serialises the message for the queue.
    pub fn encode(&self) -> String {
        encode_json(self)
    }
}

impl EventsMessage {
    /// Parses a domain-events-queue message.
    ///
    /// # Errors
    /// [`EnvelopeError`] when the text is not an events message of a known version.
    pub fn decode(text: &str) -> Result<Self, EnvelopeError> {
        let message: Self = decode_json(text, "events")?;
        check_schema(message.schema, "events")?;
        Ok(message)
    }

    /// Serialises the message for the queue.
    pub fn encode(&self) -> String {
        encode_json(self)
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(
    text: &str,
    kind: &'static str,
) -> Result<T, EnvelopeError> {
    serde_json::from_str(text).map_err(|error| EnvelopeError::Invalid {
        kind,
        reason: error.to_string(),
    })
}

fn encode_json<T: Serialize>(value: &T) -> String {
    // Serialising these plain structs cannot fail: every field is a string,
    // a number or an already-valid JSON value.
    serde_json::to_string(value).unwrap_or_default()
}

fn check_schema(version: u32, kind: &'static str) -> Result<(), EnvelopeError> {
    if version == MESSAGE_SCHEMA_VERSION {
        Ok(())
    } else {
        Err(EnvelopeError::UnsupportedSchema { kind, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_message_round_trips() {
        let message = CommandMessage {
            schema: MESSAGE_SCHEMA_VERSION,
            user_id: "auth0|abc".into(),
            idempotency_key: "k1".into(),
            command: serde_json::json!({"entityType": "task", "type": "create-task", "data": {"title": "x"}}),
            claimed_name: None,
            claimed_email: Some("a@example.com".into()),
            received_at: "2026-12-04T10:00:00Z".into(),
        };
        let decoded = CommandMessage::decode(&message.encode()).expect("round trip");
        assert_eq!(decoded, message);
    }

    #[test]
    fn unknown_schema_version_is_rejected() {
        let text = r#"{"schema":2,"userId":"u","stream":"user","events":[]}"#;
        let error = EventsMessage::decode(text).expect_err("schema 2 is unknown");
        assert!(matches!(
            error,
            EnvelopeError::UnsupportedSchema { version: 2, .. }
        ));
    }

    #[test]
    fn garbage_is_invalid() {
        assert!(matches!(
            CommandMessage::decode("not json"),
            Err(EnvelopeError::Invalid { .. })
        ));
    }
}
