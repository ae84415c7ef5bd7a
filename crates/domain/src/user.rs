//! User aggregate: profile and settings, how events evolve them and how it decides.

use crate::command::UserCommand;
use crate::error::Rejection;
use crate::event::UserEvent;
use crate::values::{DisplayName, Email, TasksPerCategory};

/// Settings of a user's planner view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settings {
    /// Number of open tasks shown per category, 3 by default.
    pub tasks_per_category: TasksPerCategory,
    /// Whether completed tasks are shown, false by default.
    pub show_done_tasks: bool,
}

impl Settings {
    /// Returns the user's settings, or the defaults when none were created.
    pub fn effective(state: &UserState) -> Settings {
        state.settings.unwrap_or_default()
    }

    fn apply(&mut self, changes: &SettingsChanges) {
        if let Some(count) = changes.tasks_per_category {
            self.tasks_per_category = count;
        }
        if let Some(show) = changes.show_done_tasks {
            self.show_done_tasks = show;
        }
    }
}

/// Settings to change. `None` leaves a setting as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingsChanges {
    /// New number of open tasks shown per category.
    pub tasks_per_category: Option<TasksPerCategory>,
    /// New choice whether completed tasks are shown.
    pub show_done_tasks: Option<bool>,
}

impl SettingsChanges {
    /// Returns whether no setting would change.
    pub fn is_empty(&self) -> bool {
        self.tasks_per_category.is_none() && self.show_done_tasks.is_none()
    }
}

/// State of the user stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserState {
    /// Whether the user has signed in at least once.
    pub created: bool,
    /// Display name recorded at the first sign-in.
    pub name: Option<DisplayName>,
    /// Email address recorded at the first sign-in.
    pub email: Option<Email>,
    /// Settings, or `None` before they are created.
    pub settings: Option<Settings>,
}

impl UserState {
    /// Folds the events of the user stream, oldest first, into its state.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a UserEvent>) -> Self {
        events.into_iter().fold(Self::default(), evolve)
    }
}

/// Applies one event to the user state.
///
/// Returns a state for every event, because stored events are facts. A second `Created` or
/// `SettingsCreated` is ignored, so the first one wins. Settings updated before
/// they were created apply to the defaults.
pub fn evolve(mut state: UserState, event: &UserEvent) -> UserState {
    match event {
        UserEvent::Created { name, email } if !state.created => {
            state.created = true;
            state.name = name.clone();
            state.email = email.clone();
        }
        UserEvent::SettingsCreated(settings) if state.settings.is_none() => {
            state.settings = Some(*settings);
        }
        UserEvent::SettingsUpdated(changes) => {
            let mut settings = Settings::effective(&state);
            settings.apply(changes);
            state.settings = Some(settings);
        }
        UserEvent::Created { .. }
        | UserEvent::SettingsCreated(_)
        | UserEvent::LoggedIn
        | UserEvent::LoggedOut => {}
    }
    state
}

/// Decides which events a user command emits.
///
/// The first login creates the user and, unless they already exist, default
/// settings. Later logins only record the sign-in and keep the stored profile.
/// A settings update emits only the settings that differ from the current ones
/// (or from the defaults), and an update that changes nothing emits no events.
///
/// # Errors
/// A [`Rejection`] with code `user-not-found` for a logout of a user who never
/// signed in.
pub fn decide(state: &UserState, command: &UserCommand) -> Result<Vec<UserEvent>, Rejection> {
    match command {
        UserCommand::Login { name, email } if !state.created => {
            let mut events = vec![UserEvent::Created {
                name: name.clone(),
                email: email.clone(),
            }];
            if state.settings.is_none() {
                events.push(UserEvent::SettingsCreated(Settings::default()));
            }
            Ok(events)
        }
        UserCommand::Login { .. } => Ok(vec![UserEvent::LoggedIn]),
        UserCommand::Logout if !state.created => Err(Rejection::new(
            "user-not-found",
            "The user has never logged in, so they cannot log out. Log in first.",
        )),
        UserCommand::Logout => Ok(vec![UserEvent::LoggedOut]),
        UserCommand::UpdateSettings(changes) => Ok(decide_settings(state, changes)),
    }
}

fn decide_settings(state: &UserState, changes: &SettingsChanges) -> Vec<UserEvent> {
    let current = Settings::effective(state);
    let effective = SettingsChanges {
        tasks_per_category: changes
            .tasks_per_category
            .filter(|count| *count != current.tasks_per_category),
        show_done_tasks: changes
            .show_done_tasks
            .filter(|show| *show != current.show_done_tasks),
    };
    if effective.is_empty() {
        return Vec::new();
    }
    vec![UserEvent::SettingsUpdated(effective)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(value: &str) -> DisplayName {
        DisplayName::new(value).unwrap()
    }

    fn email(value: &str) -> Email {
        Email::new(value).unwrap()
    }

    fn count(value: i64) -> TasksPerCategory {
        TasksPerCategory::new(value).unwrap()
    }

    fn login() -> UserCommand {
        UserCommand::Login {
            name: Some(name("Ada")),
            email: Some(email("ada@example.org")),
        }
    }

    fn created() -> UserEvent {
        UserEvent::Created {
            name: Some(name("Ada")),
            email: Some(email("ada@example.org")),
        }
    }

    fn settings_created() -> UserEvent {
        UserEvent::SettingsCreated(Settings::default())
    }

    /// Folds `given` and decides `command`, returning the events or the rejection code.
    fn when(given: &[UserEvent], command: UserCommand) -> Result<Vec<UserEvent>, &'static str> {
        let state = UserState::from_events(given);
        decide(&state, &command).map_err(|rejection| rejection.code)
    }

    #[test]
    fn first_login_creates_user_and_settings() {
        let events = when(&[], login());
        assert_eq!(events, Ok(vec![created(), settings_created()]));
    }

    #[test]
    fn first_login_keeps_existing_settings() {
        let given = [UserEvent::SettingsUpdated(SettingsChanges {
            show_done_tasks: Some(true),
            ..SettingsChanges::default()
        })];
        assert_eq!(when(&given, login()), Ok(vec![created()]));
    }

    #[test]
    fn second_login_records_sign_in() {
        let given = [created(), settings_created()];
        assert_eq!(when(&given, login()), Ok(vec![UserEvent::LoggedIn]));
    }

    #[test]
    fn second_login_keeps_first_profile() {
        let given = [created(), settings_created(), UserEvent::LoggedIn];
        let state = UserState::from_events(&given);
        assert_eq!(state.name, Some(name("Ada")));
        assert_eq!(state.email, Some(email("ada@example.org")));
        assert!(state.created);
    }

    #[test]
    fn logout_of_unknown_user_is_rejected() {
        assert_eq!(when(&[], UserCommand::Logout), Err("user-not-found"));
    }

    #[test]
    fn logout_of_known_user_emits_logged_out() {
        let given = [created(), settings_created()];
        let events = when(&given, UserCommand::Logout);
        assert_eq!(events, Ok(vec![UserEvent::LoggedOut]));
    }

    #[test]
    fn settings_update_emits_changed_fields() {
        let given = [created(), settings_created()];
        let changes = SettingsChanges {
            tasks_per_category: Some(count(5)),
            show_done_tasks: Some(false),
        };
        let expected = SettingsChanges {
            tasks_per_category: Some(count(5)),
            show_done_tasks: None,
        };
        let events = when(&given, UserCommand::UpdateSettings(changes));
        assert_eq!(events, Ok(vec![UserEvent::SettingsUpdated(expected)]));
    }

    #[test]
    fn settings_update_without_change_emits_nothing() {
        let given = [
            created(),
            settings_created(),
            UserEvent::SettingsUpdated(SettingsChanges {
                tasks_per_category: Some(count(7)),
                show_done_tasks: Some(true),
            }),
        ];
        let changes = SettingsChanges {
            tasks_per_category: Some(count(7)),
            show_done_tasks: Some(true),
        };
        assert_eq!(
            when(&given, UserCommand::UpdateSettings(changes)),
            Ok(vec![])
        );
    }

    #[test]
    fn settings_update_compares_with_defaults() {
        let default_count = SettingsChanges {
            tasks_per_category: Some(count(3)),
            ..SettingsChanges::default()
        };
        let events = when(&[], UserCommand::UpdateSettings(default_count));
        assert_eq!(events, Ok(vec![]));

        let show = SettingsChanges {
            show_done_tasks: Some(true),
            ..SettingsChanges::default()
        };
        let events = when(&[], UserCommand::UpdateSettings(show));
        assert_eq!(events, Ok(vec![UserEvent::SettingsUpdated(show)]));
    }

    #[test]
    fn effective_settings_default_without_events() {
        let settings = Settings::effective(&UserState::default());
        assert_eq!(settings.tasks_per_category.value(), 3);
        assert!(!settings.show_done_tasks);
    }

    #[test]
    fn evolve_applies_settings_updates() {
        let given = [
            settings_created(),
            UserEvent::SettingsUpdated(SettingsChanges {
                tasks_per_category: Some(count(10)),
                show_done_tasks: None,
            }),
        ];
        let settings = Settings::effective(&UserState::from_events(&given));
        assert_eq!(settings.tasks_per_category, count(10));
        assert!(!settings.show_done_tasks);
    }

    #[test]
    fn evolve_keeps_first_creation() {
        let second = UserEvent::Created {
            name: Some(name("Eve")),
            email: None,
        };
        let custom = UserEvent::SettingsCreated(Settings {
            tasks_per_category: count(9),
            show_done_tasks: true,
        });
        let state = UserState::from_events(&[created(), settings_created(), second, custom]);
        assert_eq!(state.name, Some(name("Ada")));
        assert_eq!(state.settings, Some(Settings::default()));
    }
}
