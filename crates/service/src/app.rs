//! Wiring shared by both hosts: queues, tables, the event store, the read
//! models, the functions and the HTTP state, built from one configuration.

use crate::auth::TokenVerifier;
use crate::config::StorageNames;
use crate::event_store::EventStore;
use crate::functions::Functions;
use crate::http::AppState;
use crate::processing::CommandProcessor;
use crate::projection::Projector;
use crate::read_models::ReadModels;
use crate::storage::{Queue, StorageAccount, StorageError, Table};
use crate::wake::Waker;

/// Suffix of the queue that receives messages that failed too often.
pub const POISON_SUFFIX: &str = "-poison";

/// Every storage client of the app.
#[derive(Clone)]
pub struct Storage {
    /// Commands queue.
    pub commands: Queue,
    /// Poison queue of the commands queue.
    pub commands_poison: Queue,
    /// Domain-events queue.
    pub domain_events: Queue,
    /// Poison queue of the domain-events queue.
    pub domain_events_poison: Queue,
    /// Event store table.
    pub task_events: Table,
    /// Read-model tables.
    pub read_models: ReadModels,
}

impl Storage {
    /// Builds the clients; no request is sent.
    ///
    /// # Errors
    /// [`StorageError`] for a name the SDK rejects.
    pub fn connect(account: &StorageAccount, names: &StorageNames) -> Result<Self, StorageError> {
        let queue = |name: &str| Queue::new(account, name);
        let table = |name: &str| Table::new(account, name);
        Ok(Self {
            commands: queue(&names.command_queue)?,
            commands_poison: queue(&format!("{}{POISON_SUFFIX}", names.command_queue))?,
            domain_events: queue(&names.domain_events_queue)?,
            domain_events_poison: queue(&format!("{}{POISON_SUFFIX}", names.domain_events_queue))?,
            task_events: table(&names.task_events_table)?,
            read_models: ReadModels {
                tasks: table(&names.tasks_table)?,
                settings: table(&names.settings_table)?,
                users: table(&names.users_table)?,
            },
        })
    }

    /// Creates every queue (with its poison queue) and table; safe to repeat.
    ///
    /// # Errors
    /// The first storage failure.
    pub async fn create_all(&self) -> Result<(), StorageError> {
        for queue in self.queues() {
            queue.create_if_missing().await?;
        }
        for table in self.tables() {
            table.create_if_missing().await?;
        }
        Ok(())
    }

    /// Returns all queues, poison queues included.
    pub fn queues(&self) -> [&Queue; 4] {
        [
            &self.commands,
            &self.commands_poison,
            &self.domain_events,
            &self.domain_events_poison,
        ]
    }

    /// All tables.
    pub fn tables(&self) -> [&Table; 4] {
        [
            &self.task_events,
            &self.read_models.tasks,
            &self.read_models.settings,
            &self.read_models.users,
        ]
    }

    /// Returns `queue_name` with its poison queue, if it is one of the app's queues.
    pub fn poison_of(&self, queue_name: &str) -> Option<(&Queue, &Queue)> {
        if queue_name == self.commands.name() {
            Some((&self.commands, &self.commands_poison))
        } else if queue_name == self.domain_events.name() {
            Some((&self.domain_events, &self.domain_events_poison))
        } else {
            None
        }
    }
}

/// The app: storage, wake-up signals, functions and HTTP state.
#[derive(Clone)]
pub struct App {
    /// Storage clients.
    pub storage: Storage,
    /// Wakes the commands listener.
    pub commands_waker: Waker,
    /// Wakes the domain-events listener.
    pub events_waker: Waker,
    /// The queue-triggered functions.
    pub functions: Functions,
    /// State of the HTTP API.
    pub http: AppState,
}

impl App {
    /// Wires the app over `storage`, verifying tokens with `verifier`.
    pub fn new(storage: Storage, verifier: TokenVerifier) -> Self {
        let commands_waker = Waker::new();
        let events_waker = Waker::new();
        let event_store = EventStore::new(storage.task_events.clone());
        let processor = CommandProcessor::new(
            event_store.clone(),
            storage.domain_events.clone(),
            events_waker.clone(),
        );
        let projector = Projector::new(event_store.clone(), storage.read_models.clone());
        let http = AppState {
            commands: storage.commands.clone(),
            commands_waker: commands_waker.clone(),
            event_store,
            read_models: storage.read_models.clone(),
            verifier,
        };
        Self {
            functions: Functions::new(processor, projector),
            storage,
            commands_waker,
            events_waker,
            http,
        }
    }
}
