//! Domain processing: one command message in, events appended and published.
//!
//! The function is idempotent. A redelivered command finds its idempotency
//! row and publishes the recorded events again, which covers a crash between
//! the append and the publish. Domain rejections are recorded and
//! acknowledged; only infrastructure failures are returned as errors, so the
//! host retries them and finally moves the message to the poison queue.

use prism_domain::{
    decide, parse_command, IdempotencyKey, ParseContext, Rejection, StreamId, UserId,
};
use rand::Rng;
use tracing::{info, warn};

use crate::envelope::{CommandMessage, EventsMessage, MESSAGE_SCHEMA_VERSION};
use crate::event_store::{CommandRecord, EventStore, EventStoreError};
use crate::storage::{Queue, StorageError};
use crate::wake::Waker;

/// How often a command is decided again after losing an optimistic-concurrency race
/// before the message is handed back to the queue. A batch of up to 32 messages
/// may target one stream, and each round lets at least one of them win.
const MAX_CONCURRENCY_RETRIES: usize = 32;

/// Outcome of processing one message; every variant acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The command appended events (or was an accepted no-op) and they are published.
    Applied {
        /// Stream key.
        stream: String,
        /// Stream version after the command.
        version: u32,
    },
    /// A domain rule rejected the command; the reason is recorded.
    Rejected {
        /// Stable rejection code.
        code: String,
    },
    /// The command had been processed before; recorded events were published again.
    Duplicate,
}

/// Failures that no retry can fix: the message itself is bad.
#[derive(Debug, thiserror::Error)]
pub enum MalformedCommand {
    /// The envelope is not a command message.
    #[error(transparent)]
    Envelope(#[from] crate::envelope::EnvelopeError),
    /// The envelope names an invalid user or key.
    #[error("command message has an invalid {field}: {reason}")]
    InvalidField {
        /// Name of the envelope field.
        field: &'static str,
        /// Description of the problem.
        reason: String,
    },
}

/// Errors of domain processing.
#[derive(Debug, thiserror::Error)]
pub enum ProcessingError {
    /// The message can never be processed; the host moves it to the poison queue.
    #[error(transparent)]
    Malformed(#[from] MalformedCommand),
    /// Storage or the queue failed; retry the message later.
    #[error(transparent)]
    EventStore(#[from] EventStoreError),
    /// Publishing the events failed; retry the message later.
    #[error("publishing events failed: {0}")]
    Publish(#[source] StorageError),
}

/// Everything domain processing needs.
#[derive(Clone)]
pub struct CommandProcessor {
    event_store: EventStore,
    domain_events: Queue,
    events_waker: Waker,
}

impl CommandProcessor {
    /// Builds the processor from the event store and the domain-events queue.
    pub fn new(event_store: EventStore, domain_events: Queue, events_waker: Waker) -> Self {
        Self {
            event_store,
            domain_events,
            events_waker,
        }
    }

    /// Processes one commands-queue message.
    ///
    /// # Errors
    /// [`ProcessingError::Malformed`] for a message that can never succeed,
    /// other variants for failures worth a retry.
    pub async fn process(&self, text: &str) -> Result<CommandOutcome, ProcessingError> {
        let message = CommandMessage::decode(text).map_err(MalformedCommand::from)?;
        let user =
            UserId::new(&message.user_id).map_err(|error| MalformedCommand::InvalidField {
                field: "userId",
                reason: error.to_string(),
            })?;
        let key = IdempotencyKey::new(&message.idempotency_key).map_err(|error| {
            MalformedCommand::InvalidField {
                field: "idempotencyKey",
                reason: error.to_string(),
            }
        })?;
        for _ in 0..MAX_CONCURRENCY_RETRIES {
            match self.try_process(&message, &user, &key).await {
                Err(ProcessingError::EventStore(EventStoreError::Concurrency { stream })) => {
                    info!(command.key = %key, stream = %stream, "stream moved during the command; deciding again");
                    // A short random pause spreads out racers that would
                    // otherwise collide again on the next version.
                    let pause = rand::thread_rng().gen_range(1..20);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                other => return other,
            }
        }
        Err(EventStoreError::Concurrency {
            stream: String::from("(retries exhausted)"),
        }
        .into())
    }

    async fn try_process(
        &self,
        message: &CommandMessage,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<CommandOutcome, ProcessingError> {
        if let Some(record) = self.event_store.command_record(user, key).await? {
            self.republish(user, &record).await?;
            return Ok(CommandOutcome::Duplicate);
        }
        let context = ParseContext {
            user_id: user,
            idempotency_key: key,
            claimed_name: message.claimed_name.as_deref(),
            claimed_email: message.claimed_email.as_deref(),
        };
        let command = match parse_command(&message.command, &context) {
            Ok(command) => command,
            Err(violations) => {
                let reason = violations
                    .iter()
                    .map(|violation| violation.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                let rejection = Rejection {
                    code: "invalid-command",
                    message: reason,
                };
                let stream = fallback_stream(&message.command);
                return self.reject(user, &stream, key, rejection).await;
            }
        };
        let stream = command.stream();
        let loaded = self.event_store.load(user, &stream).await?;
        let history: Vec<_> = loaded
            .events
            .iter()
            .map(|stored| stored.event.clone())
            .collect();
        match decide(&command, &history) {
            Err(rejection) => self.reject(user, &stream, key, rejection).await,
            Ok(events) => {
                let records = self
                    .event_store
                    .append(user, &stream, &loaded, &events, key)
                    .await?;
                let version = loaded.version + records.len() as u32;
                self.publish(user, &stream.as_key(), records).await?;
                info!(command.key = %key, stream = %stream.as_key(), stream.version = version, "command applied");
                Ok(CommandOutcome::Applied {
                    stream: stream.as_key(),
                    version,
                })
            }
        }
    }

    async fn reject(
        &self,
        user: &UserId,
        stream: &StreamId,
        key: &IdempotencyKey,
        rejection: Rejection,
    ) -> Result<CommandOutcome, ProcessingError> {
        self.event_store
            .record_rejection(user, stream, key, &rejection)
            .await?;
        warn!(command.key = %key, rejection.code = rejection.code, "command rejected by a domain rule");
        Ok(CommandOutcome::Rejected {
            code: rejection.code.to_owned(),
        })
    }

    async fn republish(
        &self,
        user: &UserId,
        record: &CommandRecord,
    ) -> Result<(), ProcessingError> {
        let CommandRecord::Applied {
            stream,
            first_version,
            last_version,
        } = record
        else {
            return Ok(());
        };
        let Ok(stream_id) = StreamId::parse(stream) else {
            return Ok(());
        };
        let events = self
            .event_store
            .load_range(user, &stream_id, *first_version, *last_version)
            .await?;
        let records = events.into_iter().map(|stored| stored.record).collect();
        self.publish(user, stream, records).await
    }

    async fn publish(
        &self,
        user: &UserId,
        stream: &str,
        events: Vec<crate::envelope::EventRecord>,
    ) -> Result<(), ProcessingError> {
        if events.is_empty() {
            return Ok(());
        }
        let message = EventsMessage {
            schema: MESSAGE_SCHEMA_VERSION,
            user_id: user.as_str().to_owned(),
            stream: stream.to_owned(),
            events,
        };
        self.domain_events
            .send(&message.encode())
            .await
            .map_err(ProcessingError::Publish)?;
        self.events_waker.wake();
        Ok(())
    }
}

/// Picks the stream to file a rejection under when the command did not parse.
fn fallback_stream(command: &serde_json::Value) -> StreamId {
    command
        .get("data")
        .and_then(|data| data.get("id"))
        .and_then(|id| id.as_str())
        .and_then(|id| StreamId::parse(&format!("task-{id}")).ok())
        .unwrap_or(StreamId::User)
}
