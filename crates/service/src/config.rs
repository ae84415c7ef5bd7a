//! Configuration read once from the environment at startup into typed structs.
//!
//! Nothing here is global. The host builds one [`Config`] and passes it on.
//! `docs/configuration.md` lists every variable with its default.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use regex::Regex;

use crate::auth::AuthSettings;

/// Suffix the Functions host appends to a queue name for messages that failed too often.
const POISON_SUFFIX: &str = "-poison";

/// Maximum queue name length such that `<name>-poison` still fits Azure's 63-character limit.
const MAX_QUEUE_NAME_CHARS: usize = 63 - POISON_SUFFIX.len();

/// Maximum accepted `AUTH_LEEWAY_SECONDS`.
const MAX_LEEWAY_SECONDS: u64 = 300;

/// A value whose `Debug` and `Display` print `[redacted]`, so formatting it
/// for a log does not reveal it.
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Returns the wrapped value. Call this only where the secret is used.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

/// An invalid or incomplete environment. Every variant names the variable and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable is required by another one that is set.
    #[error("{variable} is missing: {fix}")]
    Missing {
        /// Name of the missing variable.
        variable: &'static str,
        /// Instruction naming what to set and why.
        fix: String,
    },
    /// A variable has a value that cannot be used.
    #[error("{variable}={value:?} is invalid: {reason}")]
    Invalid {
        /// Name of the variable.
        variable: &'static str,
        /// The value as read; never the value of a secret variable.
        value: String,
        /// Description of the problem and of a valid value.
        reason: String,
    },
    /// Two variables are set that exclude each other or must differ.
    #[error("{variable} conflicts with {other}: {fix}")]
    Conflict {
        /// Name of the first variable.
        variable: &'static str,
        /// Name of the second variable.
        other: &'static str,
        /// Instruction naming the variable to change.
        fix: String,
    },
    /// `FUNCTIONS_APP_ROOT_PATH` is unset and the current directory is unreadable.
    #[error(
        "FUNCTIONS_APP_ROOT_PATH is unset and reading the current directory failed: {0}; \
         set FUNCTIONS_APP_ROOT_PATH to the folder with the static files"
    )]
    CurrentDirectory(#[source] std::io::Error),
}

impl ConfigError {
    /// Name of the variable at fault (the first one for a conflict).
    pub fn variable(&self) -> &'static str {
        match self {
            Self::Missing { variable, .. }
            | Self::Invalid { variable, .. }
            | Self::Conflict { variable, .. } => variable,
            Self::CurrentDirectory(_) => "FUNCTIONS_APP_ROOT_PATH",
        }
    }
}

fn invalid(variable: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        variable,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// The whole configuration of one process.
#[derive(Debug, Clone)]
pub struct Config {
    /// `AzureWebJobsStorage` connection string, or `None` to select the local Azurite.
    pub storage_connection: Option<Secret<String>>,
    /// Names of the queues and tables.
    pub names: StorageNames,
    /// Token issuer, or `None` to select the local development identity provider.
    pub auth: Option<AuthSettings>,
    /// `CORS_ALLOWED_ORIGINS`, or `None` to allow no cross-origin requests.
    pub cors_allowed_origins: Option<CorsOrigins>,
    /// `FUNCTIONS_APP_ROOT_PATH`: folder of the function app, current directory by default.
    pub app_root: PathBuf,
}

/// Names of the storage queues and tables, already validated against Azure's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageNames {
    /// Queue of accepted commands (`COMMAND_QUEUE`).
    pub command_queue: String,
    /// Queue of domain events for projections (`DOMAIN_EVENTS_QUEUE`).
    pub domain_events_queue: String,
    /// Append-only event table (`TASK_EVENTS_TABLE`).
    pub task_events_table: String,
    /// Task projection table (`TASKS_TABLE`).
    pub tasks_table: String,
    /// User settings table (`SETTINGS_TABLE`).
    pub settings_table: String,
    /// User profile table (`USERS_TABLE`).
    pub users_table: String,
}

/// Origins allowed to call the API from a browser, as fully anchored regular expressions.
#[derive(Debug, Clone)]
pub struct CorsOrigins {
    patterns: Vec<Regex>,
}

impl CorsOrigins {
    /// Compiles `|`-separated patterns, each wrapped as `^(?:pattern)$`.
    ///
    /// `Regex::is_match` finds a match anywhere in the text, so without the
    /// anchors `https://app\.example\.com` would also allow
    /// `https://app.example.com.evil.net`. Because `|` separates patterns, a
    /// pattern cannot contain an alternation.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `CORS_ALLOWED_ORIGINS` for an empty or
    /// invalid pattern.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        const VARIABLE: &str = "CORS_ALLOWED_ORIGINS";
        let mut patterns = Vec::new();
        for pattern in value.split('|').map(str::trim) {
            if pattern.is_empty() {
                return Err(invalid(
                    VARIABLE,
                    value,
                    "it contains an empty pattern; remove the extra '|'",
                ));
            }
            let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|error| {
                invalid(
                    VARIABLE,
                    value,
                    format!("the pattern {pattern:?} is not a valid regular expression: {error}"),
                )
            })?;
            patterns.push(regex);
        }
        Ok(Self { patterns })
    }

    /// Checks whether `origin` matches one pattern in full.
    pub fn allows(&self, origin: &str) -> bool {
        self.patterns.iter().any(|pattern| pattern.is_match(origin))
    }
}

/// Reader of variables through a lookup function. A blank value counts as
/// unset, so a deployment template can blank a variable instead of removing it.
struct Environment<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Environment<F> {
    fn optional(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable).filter(|value| !value.trim().is_empty())
    }

    fn required(&self, variable: &'static str, fix: &str) -> Result<String, ConfigError> {
        self.optional(variable).ok_or_else(|| ConfigError::Missing {
            variable,
            fix: fix.to_owned(),
        })
    }

    /// Parses the variable with `FromStr`, or returns `default` when it is unset.
    fn parsed<T>(
        &self,
        variable: &'static str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let Some(value) = self.optional(variable) else {
            return Ok(default);
        };
        value
            .trim()
            .parse()
            .map_err(|error| invalid(variable, &value, format!("{error}; expected {expected}")))
    }
}

impl Config {
    /// Reads the process environment.
    ///
    /// A value that is not valid Unicode is read lossily, so it fails
    /// validation with its variable named instead of counting as unset.
    ///
    /// # Errors
    ///
    /// As [`Config::from_lookup`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|variable| {
            std::env::var_os(variable).map(|value| value.to_string_lossy().into_owned())
        })
    }

    /// Reads the configuration through `lookup`, which returns a variable's value.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] found: an invalid value, a missing partner
    /// variable (such as `AUTH0_AUDIENCE` without `AUTH0_DOMAIN`) or a conflict.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let environment = Environment { lookup };
        let storage_connection = environment.optional("AzureWebJobsStorage").map(Secret::new);
        let names = storage_names(&environment)?;
        let auth = auth_settings(&environment)?;
        let cors_allowed_origins = environment
            .optional("CORS_ALLOWED_ORIGINS")
            .map(|value| CorsOrigins::parse(&value))
            .transpose()?;
        let app_root = match environment.optional("FUNCTIONS_APP_ROOT_PATH") {
            Some(path) => PathBuf::from(path),
            None => std::env::current_dir().map_err(ConfigError::CurrentDirectory)?,
        };
        Ok(Self {
            storage_connection,
            names,
            auth,
            cors_allowed_origins,
            app_root,
        })
    }
}

fn storage_names<F: Fn(&str) -> Option<String>>(
    environment: &Environment<F>,
) -> Result<StorageNames, ConfigError> {
    let queue = |variable, default: &str| {
        let name = environment
            .optional(variable)
            .unwrap_or_else(|| default.to_owned());
        validate_queue_name(&name).map_err(|reason| invalid(variable, &name, reason))?;
        Ok::<_, ConfigError>(name)
    };
    let table = |variable, default: &str| {
        let name = environment
            .optional(variable)
            .unwrap_or_else(|| default.to_owned());
        validate_table_name(&name).map_err(|reason| invalid(variable, &name, reason))?;
        Ok::<_, ConfigError>(name)
    };
    let names = StorageNames {
        command_queue: queue("COMMAND_QUEUE", "commands")?,
        domain_events_queue: queue("DOMAIN_EVENTS_QUEUE", "domain-events")?,
        task_events_table: table("TASK_EVENTS_TABLE", "TaskEvents")?,
        tasks_table: table("TASKS_TABLE", "Tasks")?,
        settings_table: table("SETTINGS_TABLE", "Settings")?,
        users_table: table("USERS_TABLE", "Users")?,
    };
    reject_duplicate_names(&names)?;
    Ok(names)
}

/// Checks Azure's queue naming rules, leaving room for the `-poison` suffix.
fn validate_queue_name(name: &str) -> Result<(), String> {
    let fix = format!(
        "use 3 to {MAX_QUEUE_NAME_CHARS} lowercase letters, digits and single hyphens, \
         starting and ending with a letter or digit"
    );
    let length = name.len();
    if length < 3 {
        return Err(format!("it has {length} characters; {fix}"));
    }
    if length > MAX_QUEUE_NAME_CHARS {
        return Err(format!(
            "it has {length} characters, so the poison queue '{name}{POISON_SUFFIX}' \
             would exceed Azure's 63-character limit; {fix}"
        ));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !name.chars().all(allowed) {
        return Err(format!(
            "it contains a character other than a-z, 0-9 or '-'; {fix}"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err(format!(
            "it starts or ends with '-' or contains '--'; {fix}"
        ));
    }
    Ok(())
}

/// Checks Azure's table naming rules: `^[A-Za-z][A-Za-z0-9]{2,62}$`, and not the reserved `tables`.
fn validate_table_name(name: &str) -> Result<(), String> {
    let fix = "use 3 to 63 ASCII letters and digits, starting with a letter";
    let mut characters = name.chars();
    let starts_with_letter = characters.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_alphanumeric = characters.all(|c| c.is_ascii_alphanumeric());
    if !starts_with_letter || !rest_alphanumeric || !(3..=63).contains(&name.len()) {
        return Err(fix.to_owned());
    }
    if name.eq_ignore_ascii_case("tables") {
        return Err("Azure reserves the table name 'tables'; choose another name".to_owned());
    }
    Ok(())
}

/// Rejects two queues or two tables with the same name, which would mix their contents.
fn reject_duplicate_names(names: &StorageNames) -> Result<(), ConfigError> {
    let conflict = |variable, other| ConfigError::Conflict {
        variable,
        other,
        fix: "both name the same storage object; give each its own name".to_owned(),
    };
    if names.command_queue == names.domain_events_queue {
        return Err(conflict("COMMAND_QUEUE", "DOMAIN_EVENTS_QUEUE"));
    }
    let tables = [
        ("TASK_EVENTS_TABLE", &names.task_events_table),
        ("TASKS_TABLE", &names.tasks_table),
        ("SETTINGS_TABLE", &names.settings_table),
        ("USERS_TABLE", &names.users_table),
    ];
    for (index, (variable, name)) in tables.iter().enumerate() {
        // Azure table names are case-insensitive.
        let duplicate = tables[index + 1..]
            .iter()
            .find(|(_, other)| other.eq_ignore_ascii_case(name));
        if let Some((other, _)) = duplicate {
            return Err(conflict(variable, other));
        }
    }
    Ok(())
}

/// Reads the issuer settings, or returns `None` when no issuer variable is set.
fn auth_settings<F: Fn(&str) -> Option<String>>(
    environment: &Environment<F>,
) -> Result<Option<AuthSettings>, ConfigError> {
    let leeway_seconds = environment.parsed(
        "AUTH_LEEWAY_SECONDS",
        AuthSettings::DEFAULT_LEEWAY.as_secs(),
        "a whole number of seconds from 0 to 300",
    )?;
    if leeway_seconds > MAX_LEEWAY_SECONDS {
        return Err(invalid(
            "AUTH_LEEWAY_SECONDS",
            &leeway_seconds.to_string(),
            format!("the leeway must be at most {MAX_LEEWAY_SECONDS} seconds"),
        ));
    }

    let domain = environment.optional("AUTH0_DOMAIN");
    let issuer = environment.optional("AUTH_ISSUER");
    let settings = match (domain, issuer) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Conflict {
                variable: "AUTH0_DOMAIN",
                other: "AUTH_ISSUER",
                fix: "set AUTH0_DOMAIN for Auth0 or AUTH_ISSUER for another issuer, not both"
                    .to_owned(),
            })
        }
        (Some(domain), None) => auth0_settings(environment, &domain)?,
        (None, Some(issuer)) => issuer_settings(environment, issuer)?,
        (None, None) => {
            reject_partial_auth(environment)?;
            return Ok(None);
        }
    };
    Ok(Some(AuthSettings {
        leeway: Duration::from_secs(leeway_seconds),
        ..settings
    }))
}

fn auth0_settings<F: Fn(&str) -> Option<String>>(
    environment: &Environment<F>,
    domain: &str,
) -> Result<AuthSettings, ConfigError> {
    for other in ["AUTH_JWKS_URL", "AUTH_AUDIENCE"] {
        if environment.optional(other).is_some() {
            return Err(ConfigError::Conflict {
                variable: "AUTH0_DOMAIN",
                other,
                fix: format!("AUTH0_DOMAIN and AUTH0_AUDIENCE configure Auth0; unset {other}"),
            });
        }
    }
    let domain = validate_auth0_domain(domain)?;
    let audience = environment.required(
        "AUTH0_AUDIENCE",
        "AUTH0_DOMAIN is set, so set AUTH0_AUDIENCE to the API identifier from the Auth0 \
         dashboard, or unset AUTH0_DOMAIN to use the local development identity provider",
    )?;
    let audience = validate_audience("AUTH0_AUDIENCE", audience)?;
    let jwks_url = format!("https://{domain}/.well-known/jwks.json");
    let jwks_url = reqwest::Url::parse(&jwks_url)
        .map_err(|error| invalid("AUTH0_DOMAIN", &domain, format!("{error}")))?;
    Ok(AuthSettings::new(
        format!("https://{domain}/"),
        audience,
        jwks_url,
    ))
}

/// Checks that the Auth0 domain is a bare host name and lowercases it.
///
/// Host names are case-insensitive and Auth0 tenant names are lowercase, so
/// the lowercase form is the one to expect in `iss`.
fn validate_auth0_domain(domain: &str) -> Result<String, ConfigError> {
    let reason = "expected a bare host name such as your-tenant.eu.auth0.com, \
                  without scheme, port or path";
    let is_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || domain.len() > 253 || !labels.iter().all(|label| is_label(label)) {
        return Err(invalid("AUTH0_DOMAIN", domain, reason));
    }
    Ok(domain.to_ascii_lowercase())
}

fn issuer_settings<F: Fn(&str) -> Option<String>>(
    environment: &Environment<F>,
    issuer: String,
) -> Result<AuthSettings, ConfigError> {
    validate_http_url("AUTH_ISSUER", &issuer)?;
    let jwks_url = environment.required(
        "AUTH_JWKS_URL",
        "AUTH_ISSUER is set, so set AUTH_JWKS_URL to the issuer's jwks_uri \
         from its /.well-known/openid-configuration",
    )?;
    let jwks_url = validate_http_url("AUTH_JWKS_URL", &jwks_url)?;
    let audience = match (
        environment.optional("AUTH_AUDIENCE"),
        environment.optional("AUTH0_AUDIENCE"),
    ) {
        (Some(first), Some(second)) if first != second => {
            return Err(ConfigError::Conflict {
                variable: "AUTH_AUDIENCE",
                other: "AUTH0_AUDIENCE",
                fix: "they differ; set only AUTH_AUDIENCE".to_owned(),
            })
        }
        (Some(audience), _) => validate_audience("AUTH_AUDIENCE", audience)?,
        (None, Some(audience)) => validate_audience("AUTH0_AUDIENCE", audience)?,
        (None, None) => {
            return Err(ConfigError::Missing {
                variable: "AUTH_AUDIENCE",
                fix: "AUTH_ISSUER is set, so set AUTH_AUDIENCE to the expected aud claim"
                    .to_owned(),
            })
        }
    };
    Ok(AuthSettings::new(issuer, audience, jwks_url))
}

/// Parses an https URL, or an http URL on a loopback host for a local issuer.
fn validate_http_url(variable: &'static str, value: &str) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(value)
        .map_err(|error| invalid(variable, value, format!("{error}; expected an https URL")))?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback()),
        None => false,
    };
    let secure = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !secure || url.host().is_none() {
        return Err(invalid(
            variable,
            value,
            "expected an https URL (http is accepted only for localhost and loopback addresses)",
        ));
    }
    Ok(url)
}

fn validate_audience(variable: &'static str, audience: String) -> Result<String, ConfigError> {
    if audience.trim() != audience {
        return Err(invalid(
            variable,
            &audience,
            "it has leading or trailing whitespace, which the aud claim would not match; remove it",
        ));
    }
    Ok(audience)
}

/// Rejects issuer variables that are set while neither issuer is, because
/// the process would otherwise fall back to the development identity provider.
fn reject_partial_auth<F: Fn(&str) -> Option<String>>(
    environment: &Environment<F>,
) -> Result<(), ConfigError> {
    let partner = [
        ("AUTH0_AUDIENCE", "AUTH0_DOMAIN"),
        ("AUTH_AUDIENCE", "AUTH_ISSUER"),
        ("AUTH_JWKS_URL", "AUTH_ISSUER"),
    ];
    for (variable, missing) in partner {
        if environment.optional(variable).is_some() {
            return Err(ConfigError::Missing {
                variable: missing,
                fix: format!(
                    "{variable} is set, so also set {missing}, or unset {variable} \
                     to use the local development identity provider"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A panic in a test is a failure with a location.
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let variables: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Config::from_lookup(|name| variables.get(name).cloned())
    }

    #[test]
    fn empty_environment_uses_defaults() {
        let config = config_from(&[]).unwrap();
        assert!(config.storage_connection.is_none());
        assert!(config.auth.is_none());
        assert!(config.cors_allowed_origins.is_none());
        assert_eq!(config.app_root, std::env::current_dir().unwrap());
        let expected = StorageNames {
            command_queue: "commands".to_owned(),
            domain_events_queue: "domain-events".to_owned(),
            task_events_table: "TaskEvents".to_owned(),
            tasks_table: "Tasks".to_owned(),
            settings_table: "Settings".to_owned(),
            users_table: "Users".to_owned(),
        };
        assert_eq!(config.names, expected);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let config = config_from(&[
            ("AzureWebJobsStorage", ""),
            ("AUTH0_DOMAIN", " "),
            ("COMMAND_QUEUE", ""),
        ])
        .unwrap();
        assert!(config.storage_connection.is_none());
        assert!(config.auth.is_none());
        assert_eq!(config.names.command_queue, "commands");
    }

    #[test]
    fn storage_connection_is_redacted() {
        let config = config_from(&[("AzureWebJobsStorage", "AccountKey=hunter2")]).unwrap();
        let connection = config.storage_connection.as_ref().unwrap();
        assert_eq!(connection.expose(), "AccountKey=hunter2");
        assert_eq!(format!("{connection}"), "[redacted]");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn overrides_replace_defaults() {
        let config = config_from(&[
            ("COMMAND_QUEUE", "cmd-test-1"),
            ("USERS_TABLE", "UsersTest1"),
            ("FUNCTIONS_APP_ROOT_PATH", "/srv/app"),
        ])
        .unwrap();
        assert_eq!(config.names.command_queue, "cmd-test-1");
        assert_eq!(config.names.users_table, "UsersTest1");
        assert_eq!(config.app_root, PathBuf::from("/srv/app"));
    }

    #[test]
    fn every_error_names_its_variable() {
        let long_queue = "q".repeat(MAX_QUEUE_NAME_CHARS + 1);
        let longest_queue = "q".repeat(MAX_QUEUE_NAME_CHARS);
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("COMMAND_QUEUE", "Commands")], "COMMAND_QUEUE"),
            (vec![("COMMAND_QUEUE", "ab")], "COMMAND_QUEUE"),
            (vec![("COMMAND_QUEUE", &long_queue)], "COMMAND_QUEUE"),
            (vec![("COMMAND_QUEUE", "a--b")], "COMMAND_QUEUE"),
            (vec![("COMMAND_QUEUE", "-abc")], "COMMAND_QUEUE"),
            (
                vec![("DOMAIN_EVENTS_QUEUE", "events_")],
                "DOMAIN_EVENTS_QUEUE",
            ),
            (vec![("DOMAIN_EVENTS_QUEUE", "commands")], "COMMAND_QUEUE"),
            (vec![("TASK_EVENTS_TABLE", "1Events")], "TASK_EVENTS_TABLE"),
            (vec![("TASKS_TABLE", "Ta-sks")], "TASKS_TABLE"),
            (vec![("SETTINGS_TABLE", "St")], "SETTINGS_TABLE"),
            (vec![("USERS_TABLE", "tables")], "USERS_TABLE"),
            (vec![("USERS_TABLE", "tasks")], "TASKS_TABLE"),
            (vec![("AUTH_LEEWAY_SECONDS", "301")], "AUTH_LEEWAY_SECONDS"),
            (vec![("AUTH_LEEWAY_SECONDS", "-1")], "AUTH_LEEWAY_SECONDS"),
            (vec![("AUTH_LEEWAY_SECONDS", "30s")], "AUTH_LEEWAY_SECONDS"),
            (vec![("AUTH0_DOMAIN", "t.auth0.com")], "AUTH0_AUDIENCE"),
            (vec![("AUTH0_AUDIENCE", "api")], "AUTH0_DOMAIN"),
            (
                vec![
                    ("AUTH0_DOMAIN", "https://t.auth0.com/"),
                    ("AUTH0_AUDIENCE", "api"),
                ],
                "AUTH0_DOMAIN",
            ),
            (
                vec![("AUTH0_DOMAIN", "t.auth0.com"), ("AUTH0_AUDIENCE", " api")],
                "AUTH0_AUDIENCE",
            ),
            (
                vec![
                    ("AUTH0_DOMAIN", "t.auth0.com"),
                    ("AUTH_ISSUER", "https://i/"),
                ],
                "AUTH0_DOMAIN",
            ),
            (
                vec![("AUTH_ISSUER", "https://id.example.com/")],
                "AUTH_JWKS_URL",
            ),
            (
                vec![
                    ("AUTH_ISSUER", "https://id.example.com/"),
                    ("AUTH_JWKS_URL", "http://id.example.com/jwks"),
                    ("AUTH_AUDIENCE", "api"),
                ],
                "AUTH_JWKS_URL",
            ),
            (
                vec![
                    ("AUTH_ISSUER", "https://id.example.com/"),
                    ("AUTH_JWKS_URL", "https://id.example.com/jwks"),
                ],
                "AUTH_AUDIENCE",
            ),
            (vec![("AUTH_ISSUER", "id.example.com")], "AUTH_ISSUER"),
            (vec![("AUTH_JWKS_URL", "https://id/jwks")], "AUTH_ISSUER"),
            (
                vec![("CORS_ALLOWED_ORIGINS", "https://a(")],
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                vec![("CORS_ALLOWED_ORIGINS", "a||b")],
                "CORS_ALLOWED_ORIGINS",
            ),
        ];
        for (pairs, expected) in cases {
            let error = config_from(&pairs).unwrap_err();
            assert_eq!(error.variable(), expected, "{pairs:?}");
            assert!(error.to_string().contains(expected), "{error}");
        }
        assert!(config_from(&[("COMMAND_QUEUE", &longest_queue)]).is_ok());
    }

    #[test]
    fn invalid_value_appears_in_message() {
        let error = config_from(&[("TASKS_TABLE", "Ta-sks")]).unwrap_err();
        assert!(error.to_string().contains("\"Ta-sks\""), "{error}");
    }

    #[test]
    fn auth0_variables_derive_issuer_and_jwks() {
        let config = config_from(&[
            ("AUTH0_DOMAIN", "Tenant.EU.auth0.com"),
            ("AUTH0_AUDIENCE", "https://api.prism-plan.dev"),
        ])
        .unwrap();
        let auth = config.auth.unwrap();
        assert_eq!(auth.issuer, "https://tenant.eu.auth0.com/");
        assert_eq!(
            auth.jwks_url.as_str(),
            "https://tenant.eu.auth0.com/.well-known/jwks.json"
        );
        assert_eq!(auth.audience, "https://api.prism-plan.dev");
        assert_eq!(auth.leeway, Duration::from_secs(30));
        assert_eq!(auth.min_refresh_interval, Duration::from_secs(60));
    }

    #[test]
    fn generic_issuer_takes_either_audience() {
        for audience_variable in ["AUTH_AUDIENCE", "AUTH0_AUDIENCE"] {
            let config = config_from(&[
                ("AUTH_ISSUER", "http://localhost:8080/realms/dev"),
                ("AUTH_JWKS_URL", "http://127.0.0.1:8080/certs"),
                (audience_variable, "prism"),
                ("AUTH_LEEWAY_SECONDS", "0"),
            ])
            .unwrap();
            let auth = config.auth.unwrap();
            assert_eq!(auth.issuer, "http://localhost:8080/realms/dev");
            assert_eq!(auth.audience, "prism");
            assert_eq!(auth.leeway, Duration::ZERO);
        }
    }

    #[test]
    fn leeway_accepts_upper_bound() {
        let config = config_from(&[
            ("AUTH0_DOMAIN", "t.auth0.com"),
            ("AUTH0_AUDIENCE", "api"),
            ("AUTH_LEEWAY_SECONDS", "300"),
        ])
        .unwrap();
        assert_eq!(config.auth.unwrap().leeway, Duration::from_secs(300));
    }

    #[test]
    fn cors_patterns_are_anchored() {
        let origins = CorsOrigins::parse(r"https://app\.example\.com").unwrap();
        assert!(origins.allows("https://app.example.com"));
        assert!(!origins.allows("https://app.example.com.evil.net"));
        assert!(!origins.allows("https://evil.net/https://app.example.com"));
        assert!(!origins.allows("http://app.example.com"));
    }

    #[test]
    fn cors_accepts_several_patterns() {
        let config = config_from(&[(
            "CORS_ALLOWED_ORIGINS",
            r"http://localhost:\d+ | https://[a-z0-9-]+\.prism-plan\.dev",
        )])
        .unwrap();
        let origins = config.cors_allowed_origins.unwrap();
        assert!(origins.allows("http://localhost:5173"));
        assert!(origins.allows("https://preview-12.prism-plan.dev"));
        assert!(!origins.allows("https://preview-12.prism-plan.dev.evil.net"));
        assert!(!origins.allows("http://localhost:5173.evil.net"));
    }
}
