//! Read-model rows: one task row per task and one settings row and one
//! profile row per user, each holding the stream version it reflects.

use prism_domain::UserId;
use serde::Serialize;

use crate::event_store::partition_key;
use crate::storage::{odata_string, Continuation, Entity, QueryPage, StorageError, Table};

/// Row key of the settings row and of the profile row of a user.
pub const SETTINGS_ROW_KEY: &str = "settings";
/// Row key of the profile row of a user.
pub const PROFILE_ROW_KEY: &str = "profile";

/// A task as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    /// Task id (UUID).
    pub id: String,
    /// Title.
    pub title: String,
    /// Notes, possibly empty.
    pub notes: String,
    /// One of `critical`, `fun`, `important`, `normal`.
    pub category: String,
    /// Position within the category.
    pub order: i64,
    /// Whether the task is completed.
    pub done: bool,
    /// Version of the task stream this row reflects.
    pub version: i64,
}

/// Settings as the API returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    /// Tasks shown per category before "more".
    pub tasks_per_category: i64,
    /// Whether the done lane is shown.
    pub show_done_tasks: bool,
}

impl Default for SettingsView {
    fn default() -> Self {
        Self {
            tasks_per_category: 3,
            show_done_tasks: false,
        }
    }
}

/// One page of a user's tasks.
#[derive(Debug, Clone)]
pub struct TaskPage {
    /// Live (not deleted) tasks, ordered by task id.
    pub tasks: Vec<TaskView>,
    /// Start of the next page, if there is one.
    pub continuation: Option<Continuation>,
}

/// Access to the read-model tables.
#[derive(Clone)]
pub struct ReadModels {
    /// Task rows.
    pub tasks: Table,
    /// Settings rows.
    pub settings: Table,
    /// Profile rows.
    pub users: Table,
}

impl ReadModels {
    /// Lists one page of the user's live tasks.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list_tasks(
        &self,
        user: &UserId,
        page_size: u32,
        continuation: Option<&Continuation>,
    ) -> Result<TaskPage, StorageError> {
        let filter = format!(
            "PartitionKey eq {} and Deleted eq false",
            odata_string(&partition_key(user))
        );
        let QueryPage {
            entities,
            continuation,
        } = self
            .tasks
            .query(&filter, Some(page_size), continuation)
            .await?;
        Ok(TaskPage {
            tasks: entities.iter().filter_map(task_view).collect(),
            continuation,
        })
    }

    /// Reads the version of a task row, `None` when the row does not exist.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn task_version(
        &self,
        user: &UserId,
        task_id: &str,
    ) -> Result<Option<i64>, StorageError> {
        let row = self.tasks.get(&partition_key(user), task_id).await?;
        Ok(row.and_then(|row| row.int("Version")))
    }

    /// Reads the settings of a user, defaults when there is no row yet.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn settings(&self, user: &UserId) -> Result<(SettingsView, i64), StorageError> {
        let row = self
            .settings
            .get(&partition_key(user), SETTINGS_ROW_KEY)
            .await?;
        Ok(match row {
            Some(row) => (
                SettingsView {
                    tasks_per_category: row.int("TasksPerCategory").unwrap_or(3),
                    show_done_tasks: row.bool("ShowDoneTasks").unwrap_or(false),
                },
                row.int("Version").unwrap_or(0),
            ),
            None => (SettingsView::default(), 0),
        })
    }
}

/// Converts a task row into its API form; `None` for a tombstone or a
/// row missing its required columns.
pub fn task_view(row: &Entity) -> Option<TaskView> {
    if row.bool("Deleted").unwrap_or(false) {
        return None;
    }
    Some(TaskView {
        id: row.row_key.clone(),
        title: row.string("Title")?.to_owned(),
        notes: row.string("Notes").unwrap_or_default().to_owned(),
        category: row.string("Category")?.to_owned(),
        order: row.int("Order").unwrap_or(0),
        done: row.bool("Done").unwrap_or(false),
        version: row.int("Version").unwrap_or(0),
    })
}
