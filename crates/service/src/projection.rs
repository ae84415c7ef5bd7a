//! Projection: applies published events to the read-model rows.
//!
//! Each row stores the stream version it reflects. An event at or below that
//! version is a duplicate and is acknowledged; an event beyond the next
//! version means earlier events are missing, so they are read from the event
//! store first. Rows are written with If-Match (or insert-only when new), so
//! two projections racing on one row cannot both win, and the loser retries.

use prism_domain::{StreamId, UserId};
use serde_json::Value;
use tracing::{debug, info};

use crate::envelope::{EventRecord, EventsMessage};
use crate::event_store::{partition_key, EventStore, EventStoreError};
use crate::read_models::{ReadModels, PROFILE_ROW_KEY, SETTINGS_ROW_KEY};
use crate::schema::decode_event;
use crate::storage::{Entity, Property, StorageError, Table};

/// Attempts to write one row before giving the message back to the queue.
const MAX_WRITE_ATTEMPTS: usize = 5;

/// Outcome of projecting one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectionOutcome {
    /// At least one row moved forward.
    Applied,
    /// Every event was already reflected.
    Duplicate,
}

/// Errors of the projection.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The message can never be projected.
    #[error("{0}")]
    Malformed(String),
    /// The event store lacks events the message implies exist; retry later.
    #[error("stream {stream} is missing versions {from}..={to} needed to fill a gap")]
    MissingEvents {
        /// Stream key.
        stream: String,
        /// First missing version.
        from: u32,
        /// Last missing version.
        to: u32,
    },
    /// Other writers kept changing the row.
    #[error("row {row_key} kept changing during {MAX_WRITE_ATTEMPTS} attempts")]
    Contention {
        /// Row that kept moving.
        row_key: String,
    },
    /// Reading the event store failed.
    #[error(transparent)]
    EventStore(#[from] EventStoreError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Applies one row's share of an event to the entity.
type Apply = fn(&mut Entity, &EventRecord);

/// Projects events into the read models.
#[derive(Clone)]
pub struct Projector {
    event_store: EventStore,
    read_models: ReadModels,
}

impl Projector {
    /// Builds a projector that heals gaps from `event_store`.
    pub fn new(event_store: EventStore, read_models: ReadModels) -> Self {
        Self {
            event_store,
            read_models,
        }
    }

    /// Projects one domain-events-queue message.
    ///
    /// # Errors
    /// [`ProjectionError::Malformed`] for a message that can never be
    /// projected; other variants are worth a retry.
    pub async fn project(&self, text: &str) -> Result<ProjectionOutcome, ProjectionError> {
        let message = EventsMessage::decode(text)
            .map_err(|error| ProjectionError::Malformed(error.to_string()))?;
        let user = UserId::new(&message.user_id).map_err(|error| {
            ProjectionError::Malformed(format!("events message has an invalid userId: {error}"))
        })?;
        let stream = StreamId::parse(&message.stream).map_err(|error| {
            ProjectionError::Malformed(format!("events message has an invalid stream: {error}"))
        })?;
        check_events(&message.events)?;
        let target = RowTarget {
            user: &user,
            stream: &stream,
        };
        let outcome = match &stream {
            StreamId::Task(task_id) => {
                let row_key = task_id.to_string();
                self.project_row(
                    &target,
                    &self.read_models.tasks,
                    &row_key,
                    &message.events,
                    apply_task,
                )
                .await?
            }
            StreamId::User => {
                let settings = self
                    .project_row(
                        &target,
                        &self.read_models.settings,
                        SETTINGS_ROW_KEY,
                        &message.events,
                        apply_settings,
                    )
                    .await?;
                let profile = self
                    .project_row(
                        &target,
                        &self.read_models.users,
                        PROFILE_ROW_KEY,
                        &message.events,
                        apply_profile,
                    )
                    .await?;
                if settings == ProjectionOutcome::Applied || profile == ProjectionOutcome::Applied {
                    ProjectionOutcome::Applied
                } else {
                    ProjectionOutcome::Duplicate
                }
            }
        };
        info!(stream = %message.stream, outcome = ?outcome, "events projected");
        Ok(outcome)
    }

    async fn project_row(
        &self,
        target: &RowTarget<'_>,
        table: &Table,
        row_key: &str,
        events: &[EventRecord],
        apply: Apply,
    ) -> Result<ProjectionOutcome, ProjectionError> {
        let partition = partition_key(target.user);
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let row = table.get(&partition, row_key).await?;
            let current = row.as_ref().and_then(|row| row.int("Version")).unwrap_or(0);
            let pending = self.pending_events(target, current, events).await?;
            if pending.is_empty() {
                debug!(row_key, version = current, "events already projected");
                return Ok(ProjectionOutcome::Duplicate);
            }
            let etag = row.as_ref().and_then(|row| row.etag.clone());
            let mut entity = row.unwrap_or_else(|| Entity::new(&partition, row_key));
            for event in &pending {
                apply(&mut entity, event);
            }
            if let Some(last) = pending.last() {
                entity.set("Version", i64::from(last.version));
            }
            let written = match etag {
                Some(etag) => table.replace(&entity, &etag).await,
                None => table.insert(&entity).await,
            };
            match written {
                Ok(_) => return Ok(ProjectionOutcome::Applied),
                Err(StorageError::Conflict | StorageError::PreconditionFailed) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(ProjectionError::Contention {
            row_key: row_key.to_owned(),
        })
    }

    /// Returns the events after `current`, reading any gap from the event store.
    async fn pending_events(
        &self,
        target: &RowTarget<'_>,
        current: i64,
        events: &[EventRecord],
    ) -> Result<Vec<EventRecord>, ProjectionError> {
        let current = u32::try_from(current.max(0)).unwrap_or(u32::MAX);
        let newer: Vec<EventRecord> = events
            .iter()
            .filter(|event| event.version > current)
            .cloned()
            .collect();
        let Some(first) = newer.first() else {
            return Ok(newer);
        };
        if first.version == current + 1 {
            return Ok(newer);
        }
        let (from, to) = (current + 1, first.version - 1);
        info!(stream = %target.stream.as_key(), from, to, "filling a projection gap from the event store");
        let missing = self
            .event_store
            .load_range(target.user, target.stream, from, to)
            .await?;
        if missing.len() != (to - from + 1) as usize {
            return Err(ProjectionError::MissingEvents {
                stream: target.stream.as_key(),
                from,
                to,
            });
        }
        let mut all: Vec<EventRecord> = missing.into_iter().map(|stored| stored.record).collect();
        all.extend(newer);
        Ok(all)
    }
}

struct RowTarget<'a> {
    user: &'a UserId,
    stream: &'a StreamId,
}

/// Rejects a message whose events are empty, out of order, or undecodable.
fn check_events(events: &[EventRecord]) -> Result<(), ProjectionError> {
    if events.is_empty() {
        return Err(ProjectionError::Malformed(
            "events message contains no events".into(),
        ));
    }
    for (index, event) in events.iter().enumerate() {
        if event.version == 0 {
            return Err(ProjectionError::Malformed(
                "event version 0 does not exist; versions start at 1".into(),
            ));
        }
        if index > 0 && event.version != events[index - 1].version + 1 {
            return Err(ProjectionError::Malformed(format!(
                "event versions are not consecutive at index {index}"
            )));
        }
        decode_event(&event.event_type, event.schema_version, &event.data).map_err(|error| {
            ProjectionError::Malformed(format!(
                "event version {} is invalid: {error}",
                event.version
            ))
        })?;
    }
    Ok(())
}

fn apply_task(entity: &mut Entity, event: &EventRecord) {
    let data = &event.data;
    match event.event_type.as_str() {
        "task-created" => {
            entity
                .set("Title", string_field(data, "title"))
                .set("Notes", string_field(data, "notes"))
                .set("Category", string_field(data, "category"))
                .set("Order", int_field(data, "order"))
                .set("Done", false)
                .set("Deleted", false);
        }
        "task-updated" => {
            for (field, column) in [
                ("title", "Title"),
                ("notes", "Notes"),
                ("category", "Category"),
            ] {
                if data.get(field).is_some() {
                    entity.set(column, string_field(data, field));
                }
            }
            if data.get("order").is_some() {
                entity.set("Order", int_field(data, "order"));
            }
            if let Some(done) = data.get("done").and_then(Value::as_bool) {
                entity.set("Done", done);
            }
        }
        "task-completed" => {
            entity.set("Done", true);
        }
        "task-reopened" => {
            entity.set("Done", false);
        }
        "task-deleted" => {
            entity.set("Deleted", true);
        }
        _ => {}
    }
    entity.set("UpdatedAt", event.occurred_at.clone());
}

fn apply_settings(entity: &mut Entity, event: &EventRecord) {
    let data = &event.data;
    if entity.int("TasksPerCategory").is_none() {
        entity
            .set("TasksPerCategory", 3_i64)
            .set("ShowDoneTasks", false);
    }
    if matches!(
        event.event_type.as_str(),
        "user-settings-created" | "user-settings-updated"
    ) {
        if let Some(count) = data.get("tasksPerCategory").and_then(Value::as_i64) {
            entity.set("TasksPerCategory", count);
        }
        if let Some(show) = data.get("showDoneTasks").and_then(Value::as_bool) {
            entity.set("ShowDoneTasks", show);
        }
    }
}

fn apply_profile(entity: &mut Entity, event: &EventRecord) {
    let data = &event.data;
    match event.event_type.as_str() {
        "user-created" => {
            for (field, column) in [("name", "Name"), ("email", "Email")] {
                if let Some(value) = data.get(field).and_then(Value::as_str) {
                    entity.set(column, value.to_owned());
                }
            }
            entity
                .set("CreatedAt", event.occurred_at.clone())
                .set("LoggedIn", true);
        }
        "user-logged-in" => {
            entity
                .set("LastLoginAt", event.occurred_at.clone())
                .set("LoggedIn", true);
        }
        "user-logged-out" => {
            entity.set("LoggedIn", false);
        }
        _ => {}
    }
}

fn string_field(data: &Value, field: &str) -> Property {
    Property::String(
        data.get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

fn int_field(data: &Value, field: &str) -> Property {
    Property::Int(data.get(field).and_then(Value::as_i64).unwrap_or(0))
}
