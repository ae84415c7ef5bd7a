//! The event store: per-user partitions in Table Storage holding streams,
//! stream heads and one idempotency row per command.
//!
//! Row layout inside the partition of one user (the encoded user id):
//! - `s|<stream>|<version, 10 digits>`: one event;
//! - `s|<stream>|head`: the current version of the stream, updated with If-Match;
//! - `c|<encoded idempotency key>`: the outcome of one command.
//!
//! Events, head and idempotency row of one command are written in one
//! entity-group transaction, so a command either takes effect whole or not at
//! all, and two racing commands can never both append the same version.

use prism_domain::{Event, IdempotencyKey, Rejection, StreamId, UserId};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::envelope::EventRecord;
use crate::schema::{decode_event, encode_event, EVENT_SCHEMA_VERSION};
use crate::storage::{
    encode_key, odata_string, Entity, Property, StorageError, Table, TableOperation,
};

/// Max events one command may append: the transaction also carries the head
/// and the idempotency row, and Azure allows 100 operations per transaction.
pub const MAX_EVENTS_PER_COMMAND: usize = 98;

/// Table-backed event store.
#[derive(Clone)]
pub struct EventStore {
    table: Table,
}

/// A stream as read before a decision: its events and the head to compare against.
#[derive(Debug, Clone)]
pub struct LoadedStream {
    /// Current version (0 for a stream with no events).
    pub version: u32,
    /// ETag of the head row, `None` when the stream does not exist yet.
    pub head_etag: Option<String>,
    /// Events in version order.
    pub events: Vec<StoredEvent>,
}

/// One event read back from the store.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The wire form, as published and shown in history.
    pub record: EventRecord,
    /// The decoded domain event.
    pub event: Event,
}

/// Outcome of one command as recorded on its idempotency row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandRecord {
    /// The command took effect; `first_version..=last_version` are its events,
    /// an empty range (`first_version > last_version`) for an accepted no-op.
    Applied {
        /// Stream the command targeted.
        stream: String,
        /// Version of the first event it appended.
        first_version: u32,
        /// Version of the stream after the command.
        last_version: u32,
    },
    /// A domain rule rejected the command.
    Rejected {
        /// Stream the command targeted.
        stream: String,
        /// Stable rejection code.
        code: String,
        /// Client-safe reason.
        reason: String,
    },
}

/// Errors of the event store.
#[derive(Debug, thiserror::Error)]
pub enum EventStoreError {
    /// Another writer changed the stream or recorded the command first.
    #[error("stream {stream} changed concurrently; reload and decide again")]
    Concurrency {
        /// The stream that moved.
        stream: String,
    },
    /// A command produced more events than one transaction can hold.
    #[error(
        "a command produced {count} events; at most {MAX_EVENTS_PER_COMMAND} fit one transaction"
    )]
    TooManyEvents {
        /// Events produced.
        count: usize,
    },
    /// A stored row could not be read back into an event.
    #[error("stored event {row_key} is unreadable: {reason}")]
    Corrupt {
        /// Row of the bad event.
        row_key: String,
        /// Description of the problem.
        reason: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl EventStore {
    /// Wraps the table that contains the event store.
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Reads a whole stream and its head in one range query.
    ///
    /// # Errors
    /// Storage failures and unreadable stored events.
    pub async fn load(
        &self,
        user: &UserId,
        stream: &StreamId,
    ) -> Result<LoadedStream, EventStoreError> {
        let prefix = stream_prefix(stream);
        let filter = format!(
            "PartitionKey eq {} and RowKey ge {} and RowKey lt {}",
            odata_string(&partition_key(user)),
            odata_string(&prefix),
            odata_string(&format!("{prefix}~")),
        );
        let rows = self.table.query_all(&filter).await?;
        let mut loaded = LoadedStream {
            version: 0,
            head_etag: None,
            events: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            if row.row_key.ends_with("|head") {
                loaded.version = int_property(&row, "Version")?;
                loaded.head_etag = row.etag.clone();
            } else {
                loaded.events.push(stored_event(&row)?);
            }
        }
        check_gap_free(&loaded, stream)?;
        Ok(loaded)
    }

    /// Reads the events of a stream with versions in `from..=to`.
    ///
    /// # Errors
    /// Storage failures and unreadable stored events.
    pub async fn load_range(
        &self,
        user: &UserId,
        stream: &StreamId,
        from: u32,
        to: u32,
    ) -> Result<Vec<StoredEvent>, EventStoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let filter = format!(
            "PartitionKey eq {} and RowKey ge {} and RowKey le {}",
            odata_string(&partition_key(user)),
            odata_string(&event_row_key(stream, from)),
            odata_string(&event_row_key(stream, to)),
        );
        let rows = self.table.query_all(&filter).await?;
        rows.iter().map(stored_event).collect()
    }

    /// Reads the recorded outcome of a command, if it was processed.
    ///
    /// # Errors
    /// Storage failures and an unreadable row.
    pub async fn command_record(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<CommandRecord>, EventStoreError> {
        let row = self
            .table
            .get(&partition_key(user), &command_row_key(key))
            .await?;
        row.map(|row| command_record(&row)).transpose()
    }

    /// Appends `events` to `stream` if it is still at `expected`, recording the
    /// command as applied in the same transaction.
    ///
    /// Returns the records of the appended events.
    ///
    /// # Errors
    /// [`EventStoreError::Concurrency`] when the stream moved or the command
    /// was recorded meanwhile; storage failures.
    pub async fn append(
        &self,
        user: &UserId,
        stream: &StreamId,
        expected: &LoadedStream,
        events: &[Event],
        key: &IdempotencyKey,
    ) -> Result<Vec<EventRecord>, EventStoreError> {
        if events.len() > MAX_EVENTS_PER_COMMAND {
            return Err(EventStoreError::TooManyEvents {
                count: events.len(),
            });
        }
        let partition = partition_key(user);
        let occurred_at = now_rfc3339();
        let mut operations = Vec::with_capacity(events.len() + 2);
        let mut records = Vec::with_capacity(events.len());
        for (offset, event) in events.iter().enumerate() {
            let version = expected.version + 1 + offset as u32;
            let record = event_record(event, version, &occurred_at, key);
            operations.push(TableOperation::Insert(event_entity(
                &partition, stream, &record,
            )));
            records.push(record);
        }
        let last_version = expected.version + events.len() as u32;
        if !events.is_empty() {
            operations.push(head_operation(&partition, stream, expected, last_version));
        }
        let applied = CommandRecord::Applied {
            stream: stream.as_key(),
            first_version: expected.version + 1,
            last_version,
        };
        operations.push(TableOperation::Insert(command_entity(
            &partition, key, &applied,
        )));
        self.transact(&partition, stream, operations).await?;
        Ok(records)
    }

    /// Records that a domain rule rejected the command.
    ///
    /// # Errors
    /// [`EventStoreError::Concurrency`] when the command was recorded
    /// meanwhile; storage failures.
    pub async fn record_rejection(
        &self,
        user: &UserId,
        stream: &StreamId,
        key: &IdempotencyKey,
        rejection: &Rejection,
    ) -> Result<(), EventStoreError> {
        let partition = partition_key(user);
        let record = CommandRecord::Rejected {
            stream: stream.as_key(),
            code: rejection.code.to_owned(),
            reason: rejection.message.clone(),
        };
        let entity = command_entity(&partition, key, &record);
        match self.table.insert(&entity).await {
            Ok(_) => Ok(()),
            Err(StorageError::Conflict) => Err(EventStoreError::Concurrency {
                stream: stream.as_key(),
            }),
            Err(error) => Err(error.into()),
        }
    }

    async fn transact(
        &self,
        partition: &str,
        stream: &StreamId,
        operations: Vec<TableOperation>,
    ) -> Result<(), EventStoreError> {
        match self.table.transact(partition, operations).await {
            Ok(_) => Ok(()),
            Err(StorageError::Conflict | StorageError::PreconditionFailed) => {
                Err(EventStoreError::Concurrency {
                    stream: stream.as_key(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// Partition key of a user's rows, in the event store and in the read models.
pub fn partition_key(user: &UserId) -> String {
    encode_key(user.as_str())
}

fn stream_prefix(stream: &StreamId) -> String {
    format!("s|{}|", stream.as_key())
}

fn event_row_key(stream: &StreamId, version: u32) -> String {
    format!("s|{}|{version:010}", stream.as_key())
}

fn head_row_key(stream: &StreamId) -> String {
    format!("s|{}|head", stream.as_key())
}

fn command_row_key(key: &IdempotencyKey) -> String {
    format!("c|{}", encode_key(key.as_str()))
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

fn event_record(
    event: &Event,
    version: u32,
    occurred_at: &str,
    key: &IdempotencyKey,
) -> EventRecord {
    let (event_type, data) = encode_event(event);
    EventRecord {
        version,
        event_type: event_type.to_owned(),
        schema_version: EVENT_SCHEMA_VERSION,
        data,
        occurred_at: occurred_at.to_owned(),
        idempotency_key: key.as_str().to_owned(),
    }
}

fn event_entity(partition: &str, stream: &StreamId, record: &EventRecord) -> Entity {
    Entity::new(partition, event_row_key(stream, record.version))
        .with("Stream", Property::String(stream.as_key()))
        .with("Version", Property::Int(i64::from(record.version)))
        .with("Type", Property::String(record.event_type.clone()))
        .with("Schema", Property::Int(i64::from(record.schema_version)))
        .with("Data", Property::String(record.data.to_string()))
        .with("OccurredAt", Property::String(record.occurred_at.clone()))
        .with(
            "CommandKey",
            Property::String(record.idempotency_key.clone()),
        )
}

fn head_operation(
    partition: &str,
    stream: &StreamId,
    expected: &LoadedStream,
    version: u32,
) -> TableOperation {
    let head = Entity::new(partition, head_row_key(stream))
        .with("Version", Property::Int(i64::from(version)));
    match &expected.head_etag {
        Some(etag) => TableOperation::Replace {
            entity: head,
            etag: etag.clone(),
        },
        None => TableOperation::Insert(head),
    }
}

fn command_entity(partition: &str, key: &IdempotencyKey, record: &CommandRecord) -> Entity {
    let entity = Entity::new(partition, command_row_key(key))
        .with("CommandKey", Property::String(key.as_str().to_owned()))
        .with("ProcessedAt", Property::String(now_rfc3339()));
    match record {
        CommandRecord::Applied {
            stream,
            first_version,
            last_version,
        } => entity
            .with("Status", Property::String("applied".into()))
            .with("Stream", Property::String(stream.clone()))
            .with("FirstVersion", Property::Int(i64::from(*first_version)))
            .with("LastVersion", Property::Int(i64::from(*last_version))),
        CommandRecord::Rejected {
            stream,
            code,
            reason,
        } => entity
            .with("Status", Property::String("rejected".into()))
            .with("Stream", Property::String(stream.clone()))
            .with("Code", Property::String(code.clone()))
            .with("Reason", Property::String(reason.clone())),
    }
}

fn command_record(row: &Entity) -> Result<CommandRecord, EventStoreError> {
    let stream = string_property(row, "Stream")?.to_owned();
    match string_property(row, "Status")? {
        "applied" => Ok(CommandRecord::Applied {
            stream,
            first_version: int_property(row, "FirstVersion")?,
            last_version: int_property(row, "LastVersion")?,
        }),
        "rejected" => Ok(CommandRecord::Rejected {
            stream,
            code: string_property(row, "Code")?.to_owned(),
            reason: string_property(row, "Reason")?.to_owned(),
        }),
        other => Err(corrupt(row, format!("unknown Status {other:?}"))),
    }
}

fn stored_event(row: &Entity) -> Result<StoredEvent, EventStoreError> {
    let data_text = string_property(row, "Data")?;
    let data: serde_json::Value = serde_json::from_str(data_text)
        .map_err(|error| corrupt(row, format!("Data is not JSON: {error}")))?;
    let record = EventRecord {
        version: int_property(row, "Version")?,
        event_type: string_property(row, "Type")?.to_owned(),
        schema_version: int_property(row, "Schema")?,
        data,
        occurred_at: string_property(row, "OccurredAt")?.to_owned(),
        idempotency_key: string_property(row, "CommandKey")?.to_owned(),
    };
    let event = decode_event(&record.event_type, record.schema_version, &record.data)
        .map_err(|error| corrupt(row, error.to_string()))?;
    Ok(StoredEvent { record, event })
}

fn check_gap_free(loaded: &LoadedStream, stream: &StreamId) -> Result<(), EventStoreError> {
    let gap_free = loaded
        .events
        .iter()
        .enumerate()
        .all(|(index, event)| event.record.version as usize == index + 1);
    if gap_free && loaded.events.len() == loaded.version as usize {
        Ok(())
    } else {
        Err(EventStoreError::Corrupt {
            row_key: head_row_key(stream),
            reason: format!(
                "head says version {} but {} events were read",
                loaded.version,
                loaded.events.len()
            ),
        })
    }
}

fn string_property<'a>(row: &'a Entity, name: &str) -> Result<&'a str, EventStoreError> {
    row.string(name)
        .ok_or_else(|| corrupt(row, format!("missing string property {name}")))
}

fn int_property(row: &Entity, name: &str) -> Result<u32, EventStoreError> {
    row.int(name)
        .and_then(|value| u32::try_from(value).ok())
        .ok_or_else(|| corrupt(row, format!("missing or negative integer property {name}")))
}

fn corrupt(row: &Entity, reason: String) -> EventStoreError {
    EventStoreError::Corrupt {
        row_key: row.row_key.clone(),
        reason,
    }
}
