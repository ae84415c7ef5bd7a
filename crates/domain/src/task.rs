//! Task aggregate: its state, how events evolve it and how it decides on actions.

use crate::command::TaskAction;
use crate::error::Rejection;
use crate::event::TaskEvent;
use crate::values::{Category, Notes, Order, Title};

/// Fields of a task to create. New tasks start not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// Title of the task.
    pub title: Title,
    /// Notes, empty by default.
    pub notes: Notes,
    /// Category, `normal` by default.
    pub category: Category,
    /// Sort position inside the category, 0 by default.
    pub order: Order,
}

/// Fields of a task to change. `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskChanges {
    /// New title.
    pub title: Option<Title>,
    /// New notes.
    pub notes: Option<Notes>,
    /// New category.
    pub category: Option<Category>,
    /// New sort position.
    pub order: Option<Order>,
    /// New completion state: `true` completes the task, `false` reopens it.
    pub done: Option<bool>,
}

impl TaskChanges {
    /// Returns whether no field would change.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.notes.is_none()
            && self.category.is_none()
            && self.order.is_none()
            && self.done.is_none()
    }
}

/// A task that exists and is not deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Title of the task.
    pub title: Title,
    /// Notes, possibly empty.
    pub notes: Notes,
    /// Category.
    pub category: Category,
    /// Sort position inside the category.
    pub order: Order,
    /// Whether the task is completed.
    pub done: bool,
}

impl Task {
    fn apply(&mut self, changes: &TaskChanges) {
        if let Some(title) = &changes.title {
            self.title = title.clone();
        }
        if let Some(notes) = &changes.notes {
            self.notes = notes.clone();
        }
        if let Some(category) = changes.category {
            self.category = category;
        }
        if let Some(order) = changes.order {
            self.order = order;
        }
        if let Some(done) = changes.done {
            self.done = done;
        }
    }
}

/// State of one task stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TaskState {
    /// No task has been created in the stream.
    #[default]
    NotCreated,
    /// The task exists.
    Active(Task),
    /// The task was deleted. Deletion is final.
    Deleted,
}

impl TaskState {
    /// Folds the events of one task stream, oldest first, into its state.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a TaskEvent>) -> Self {
        events.into_iter().fold(Self::NotCreated, evolve)
    }
}

/// Applies one event to a task state.
///
/// Returns a state for every event, because stored events are facts. An event that cannot follow the
/// state, such as `Updated` before `Created` or anything after `Deleted`, leaves
/// the state unchanged.
pub fn evolve(state: TaskState, event: &TaskEvent) -> TaskState {
    match (state, event) {
        (TaskState::NotCreated, TaskEvent::Created(new)) => TaskState::Active(Task {
            title: new.title.clone(),
            notes: new.notes.clone(),
            category: new.category,
            order: new.order,
            done: false,
        }),
        (TaskState::Active(_), TaskEvent::Deleted) => TaskState::Deleted,
        (TaskState::Active(mut task), event) => {
            match event {
                TaskEvent::Updated(changes) => task.apply(changes),
                TaskEvent::Completed => task.done = true,
                TaskEvent::Reopened => task.done = false,
                TaskEvent::Created(_) | TaskEvent::Deleted => {}
            }
            TaskState::Active(task)
        }
        (state, _) => state,
    }
}

/// Decides which events an action on a task emits.
///
/// An update emits only the fields that differ from the task, and an update that
/// changes nothing is accepted with no events.
///
/// # Errors
/// A [`Rejection`] with code `task-already-exists` for a create on an existing or
/// deleted task, `task-not-found` or `task-deleted` for any other action on a
/// missing or deleted task, `task-already-completed` for completing a done task
/// and `task-not-completed` for reopening an open task.
pub fn decide(state: &TaskState, action: &TaskAction) -> Result<Vec<TaskEvent>, Rejection> {
    match (state, action) {
        (TaskState::NotCreated, TaskAction::Create(new)) => {
            Ok(vec![TaskEvent::Created(new.clone())])
        }
        (TaskState::NotCreated, _) => Err(not_found()),
        (TaskState::Deleted, TaskAction::Create(_)) => Err(already_exists()),
        (TaskState::Deleted, _) => Err(deleted()),
        (TaskState::Active(task), action) => decide_on_active(task, action),
    }
}

fn decide_on_active(task: &Task, action: &TaskAction) -> Result<Vec<TaskEvent>, Rejection> {
    match action {
        TaskAction::Create(_) => Err(already_exists()),
        TaskAction::Update(changes) => Ok(decide_update(task, changes)),
        TaskAction::Complete if task.done => Err(Rejection::new(
            "task-already-completed",
            "The task is already completed. Reopen it first to complete it again.",
        )),
        TaskAction::Complete => Ok(vec![TaskEvent::Completed]),
        TaskAction::Reopen if !task.done => Err(Rejection::new(
            "task-not-completed",
            "The task is not completed, so it cannot be reopened.",
        )),
        TaskAction::Reopen => Ok(vec![TaskEvent::Reopened]),
        TaskAction::Delete => Ok(vec![TaskEvent::Deleted]),
    }
}

/// Keeps only the changes that differ from `task`.
///
/// Moving a done task to another category reopens it, unless the same update
/// sets `done` to true, because a completed task would otherwise vanish from the
/// open list of its new category.
fn decide_update(task: &Task, changes: &TaskChanges) -> Vec<TaskEvent> {
    let category = changes
        .category
        .filter(|category| *category != task.category);
    let mut done = changes.done;
    if category.is_some() && task.done && done != Some(true) {
        done = Some(false);
    }
    let effective = TaskChanges {
        title: changes.title.clone().filter(|title| *title != task.title),
        notes: changes.notes.clone().filter(|notes| *notes != task.notes),
        category,
        order: changes.order.filter(|order| *order != task.order),
        done: done.filter(|done| *done != task.done),
    };
    if effective.is_empty() {
        return Vec::new();
    }
    vec![TaskEvent::Updated(effective)]
}

fn already_exists() -> Rejection {
    Rejection::new(
        "task-already-exists",
        "A task with this id already exists or was deleted. Create the task with a new id.",
    )
}

fn not_found() -> Rejection {
    Rejection::new(
        "task-not-found",
        "No task with this id exists. Create the task first or check the id.",
    )
}

fn deleted() -> Rejection {
    Rejection::new(
        "task-deleted",
        "The task was deleted and cannot be changed. Create a new task instead.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title(value: &str) -> Title {
        Title::new(value).unwrap()
    }

    fn new_task(category: Category) -> NewTask {
        NewTask {
            title: title("Write report"),
            notes: Notes::new("draft").unwrap(),
            category,
            order: Order::new(5).unwrap(),
        }
    }

    fn created() -> TaskEvent {
        TaskEvent::Created(new_task(Category::Important))
    }

    /// Folds `given` and decides `action`, returning the events or the rejection code.
    fn when(given: &[TaskEvent], action: TaskAction) -> Result<Vec<TaskEvent>, &'static str> {
        let state = TaskState::from_events(given);
        decide(&state, &action).map_err(|rejection| rejection.code)
    }

    fn update(changes: TaskChanges) -> TaskAction {
        TaskAction::Update(changes)
    }

    #[test]
    fn create_on_new_stream_emits_created() {
        let new = new_task(Category::Fun);
        let events = when(&[], TaskAction::Create(new.clone()));
        assert_eq!(events, Ok(vec![TaskEvent::Created(new)]));
    }

    #[test]
    fn create_twice_is_rejected() {
        let events = when(&[created()], TaskAction::Create(new_task(Category::Fun)));
        assert_eq!(events, Err("task-already-exists"));
    }

    #[test]
    fn create_after_delete_is_rejected() {
        let given = [created(), TaskEvent::Deleted];
        let events = when(&given, TaskAction::Create(new_task(Category::Fun)));
        assert_eq!(events, Err("task-already-exists"));
    }

    #[test]
    fn update_emits_only_changed_fields() {
        let changes = TaskChanges {
            title: Some(title("Write final report")),
            notes: Some(Notes::new("draft").unwrap()),
            category: Some(Category::Important),
            order: Some(Order::new(9).unwrap()),
            done: Some(false),
        };
        let expected = TaskChanges {
            title: Some(title("Write final report")),
            order: Some(Order::new(9).unwrap()),
            ..TaskChanges::default()
        };
        let events = when(&[created()], update(changes));
        assert_eq!(events, Ok(vec![TaskEvent::Updated(expected)]));
    }

    #[test]
    fn update_without_change_emits_nothing() {
        let changes = TaskChanges {
            title: Some(title("Write report")),
            category: Some(Category::Important),
            done: Some(false),
            ..TaskChanges::default()
        };
        assert_eq!(when(&[created()], update(changes)), Ok(vec![]));
    }

    #[test]
    fn moving_done_task_reopens_it() {
        let given = [created(), TaskEvent::Completed];
        let changes = TaskChanges {
            category: Some(Category::Critical),
            ..TaskChanges::default()
        };
        let expected = TaskChanges {
            category: Some(Category::Critical),
            done: Some(false),
            ..TaskChanges::default()
        };
        let events = when(&given, update(changes));
        assert_eq!(events, Ok(vec![TaskEvent::Updated(expected)]));
    }

    #[test]
    fn moving_done_task_stays_done_when_requested() {
        let given = [created(), TaskEvent::Completed];
        let changes = TaskChanges {
            category: Some(Category::Critical),
            done: Some(true),
            ..TaskChanges::default()
        };
        let expected = TaskChanges {
            category: Some(Category::Critical),
            ..TaskChanges::default()
        };
        let events = when(&given, update(changes));
        assert_eq!(events, Ok(vec![TaskEvent::Updated(expected)]));
    }

    #[test]
    fn moving_open_task_keeps_done_unset() {
        let changes = TaskChanges {
            category: Some(Category::Critical),
            ..TaskChanges::default()
        };
        let events = when(&[created()], update(changes.clone()));
        assert_eq!(events, Ok(vec![TaskEvent::Updated(changes)]));
    }

    #[test]
    fn done_task_in_same_category_stays_done() {
        let given = [created(), TaskEvent::Completed];
        let changes = TaskChanges {
            category: Some(Category::Important),
            ..TaskChanges::default()
        };
        assert_eq!(when(&given, update(changes)), Ok(vec![]));
    }

    #[test]
    fn update_done_sets_completion() {
        let changes = TaskChanges {
            done: Some(true),
            ..TaskChanges::default()
        };
        let events = when(&[created()], update(changes.clone()));
        assert_eq!(events, Ok(vec![TaskEvent::Updated(changes)]));
    }

    #[test]
    fn update_missing_task_is_rejected() {
        let changes = TaskChanges {
            done: Some(true),
            ..TaskChanges::default()
        };
        assert_eq!(when(&[], update(changes)), Err("task-not-found"));
    }

    #[test]
    fn update_after_delete_is_rejected() {
        let given = [created(), TaskEvent::Deleted];
        let changes = TaskChanges {
            title: Some(title("Other")),
            ..TaskChanges::default()
        };
        assert_eq!(when(&given, update(changes)), Err("task-deleted"));
    }

    #[test]
    fn complete_open_task_emits_completed() {
        let events = when(&[created()], TaskAction::Complete);
        assert_eq!(events, Ok(vec![TaskEvent::Completed]));
    }

    #[test]
    fn complete_twice_is_rejected() {
        let given = [created(), TaskEvent::Completed];
        let events = when(&given, TaskAction::Complete);
        assert_eq!(events, Err("task-already-completed"));
    }

    #[test]
    fn complete_after_update_done_is_rejected() {
        let done = TaskChanges {
            done: Some(true),
            ..TaskChanges::default()
        };
        let given = [created(), TaskEvent::Updated(done)];
        let events = when(&given, TaskAction::Complete);
        assert_eq!(events, Err("task-already-completed"));
    }

    #[test]
    fn reopen_done_task_emits_reopened() {
        let given = [created(), TaskEvent::Completed];
        let events = when(&given, TaskAction::Reopen);
        assert_eq!(events, Ok(vec![TaskEvent::Reopened]));
    }

    #[test]
    fn reopen_open_task_is_rejected() {
        let events = when(&[created()], TaskAction::Reopen);
        assert_eq!(events, Err("task-not-completed"));
    }

    #[test]
    fn reopen_after_reopen_is_rejected() {
        let given = [created(), TaskEvent::Completed, TaskEvent::Reopened];
        let events = when(&given, TaskAction::Reopen);
        assert_eq!(events, Err("task-not-completed"));
    }

    #[test]
    fn delete_emits_deleted() {
        let events = when(&[created()], TaskAction::Delete);
        assert_eq!(events, Ok(vec![TaskEvent::Deleted]));
    }

    #[test]
    fn delete_done_task_emits_deleted() {
        let given = [created(), TaskEvent::Completed];
        let events = when(&given, TaskAction::Delete);
        assert_eq!(events, Ok(vec![TaskEvent::Deleted]));
    }

    #[test]
    fn actions_on_missing_task_are_rejected() {
        for action in [TaskAction::Complete, TaskAction::Reopen, TaskAction::Delete] {
            assert_eq!(
                when(&[], action.clone()),
                Err("task-not-found"),
                "{action:?}"
            );
        }
    }

    #[test]
    fn actions_after_delete_are_rejected() {
        let given = [created(), TaskEvent::Deleted];
        for action in [TaskAction::Complete, TaskAction::Reopen, TaskAction::Delete] {
            assert_eq!(
                when(&given, action.clone()),
                Err("task-deleted"),
                "{action:?}"
            );
        }
    }

    #[test]
    fn evolve_applies_updates() {
        let changes = TaskChanges {
            title: Some(title("New")),
            notes: Some(Notes::new("more").unwrap()),
            category: Some(Category::Fun),
            order: Some(Order::new(1).unwrap()),
            done: Some(true),
        };
        let state = TaskState::from_events(&[created(), TaskEvent::Updated(changes)]);
        let expected = Task {
            title: title("New"),
            notes: Notes::new("more").unwrap(),
            category: Category::Fun,
            order: Order::new(1).unwrap(),
            done: true,
        };
        assert_eq!(state, TaskState::Active(expected));
    }

    #[test]
    fn evolve_ignores_impossible_events() {
        assert_eq!(
            TaskState::from_events(&[TaskEvent::Completed]),
            TaskState::NotCreated
        );
        let after_delete = [
            created(),
            TaskEvent::Deleted,
            TaskEvent::Reopened,
            created(),
        ];
        assert_eq!(TaskState::from_events(&after_delete), TaskState::Deleted);
        let second_create = [created(), TaskEvent::Created(new_task(Category::Fun))];
        let TaskState::Active(task) = TaskState::from_events(&second_create) else {
            panic!("expected an active task");
        };
        assert_eq!(task.category, Category::Important);
    }
}
