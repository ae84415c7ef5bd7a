//! Operator tools behind the CLI: creating storage and handling poison queues.

use std::fmt::Write as _;
use std::time::Duration;

use crate::app::Storage;
use crate::storage::StorageError;

/// How long a replayed poison message stays invisible while it is copied.
const REPLAY_VISIBILITY: Duration = Duration::from_secs(60);

/// Errors of the operator tools.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The queue named on the command line is not one of the app's queues.
    #[error("{name:?} is not a queue of this app; use {commands:?} or {events:?}")]
    UnknownQueue {
        /// Name given.
        name: String,
        /// The commands queue name.
        commands: String,
        /// The domain-events queue name.
        events: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Lists up to 32 messages of the poison queue of `queue_name` as text lines.
///
/// # Errors
/// [`OpsError`] for an unknown queue or a storage failure.
pub async fn list_poison(storage: &Storage, queue_name: &str) -> Result<String, OpsError> {
    let (_, poison) = resolve(storage, queue_name)?;
    let count = poison.approximate_message_count().await?;
    let mut report = format!("{}: about {count} message(s)\n", poison.name());
    for message in poison.peek(32).await? {
        let body = message.body.unwrap_or_else(|raw| raw);
        let _ = writeln!(
            report,
            "{}\tinserted {}\t{}",
            message.id, message.inserted_at, body
        );
    }
    Ok(report)
}

/// Moves every message of the poison queue of `queue_name` back to that
/// queue; returns how many moved.
///
/// # Errors
/// [`OpsError`] for an unknown queue or a storage failure; messages moved
/// before the failure stay moved.
pub async fn replay_poison(storage: &Storage, queue_name: &str) -> Result<usize, OpsError> {
    let (queue, poison) = resolve(storage, queue_name)?;
    let mut moved = 0;
    loop {
        let batch = poison.receive(32, REPLAY_VISIBILITY).await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        for message in batch {
            let text = message.body.clone().unwrap_or_else(|raw| raw);
            queue.send(&text).await?;
            poison.delete(&message).await?;
            moved += 1;
        }
    }
}

/// Deletes every message of the poison queue of `queue_name`.
///
/// # Errors
/// [`OpsError`] for an unknown queue or a storage failure.
pub async fn drop_poison(storage: &Storage, queue_name: &str) -> Result<(), OpsError> {
    let (_, poison) = resolve(storage, queue_name)?;
    poison.clear().await?;
    Ok(())
}

fn resolve<'a>(
    storage: &'a Storage,
    queue_name: &str,
) -> Result<(&'a crate::storage::Queue, &'a crate::storage::Queue), OpsError> {
    storage
        .poison_of(queue_name)
        .ok_or_else(|| OpsError::UnknownQueue {
            name: queue_name.to_owned(),
            commands: storage.commands.name().to_owned(),
            events: storage.domain_events.name().to_owned(),
        })
}
