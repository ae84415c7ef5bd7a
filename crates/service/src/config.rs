//! Configuration, read once from the environment into typed values.
//!
//! Every error names the variable, the rejected value (never a secret) and
//! the fix. `docs/configuration.md` lists every variable.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use crate::auth::AuthSettings;

/// A value that must never be printed, such as a connection string with a key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }
}

impl Secret<String> {
    /// Returns the secret text, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

/// Names of the queues and tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageNames {
    /// `COMMAND_QUEUE`.
    pub command_queue: String,
    /// `DOMAIN_EVENTS_QUEUE`.
    pub domain_events_queue: String,
    /// `TASK_EVENTS_TABLE`.
    pub task_events_table: String,
    /// `TASKS_TABLE`.
    pub tasks_table: String,
    /// `SETTINGS_TABLE`.
    pub settings_table: String,
    /// `USERS_TABLE`.
    pub users_table: String,
}

/// Origins allowed to call the API from a browser (`CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone)]
pub struct CorsOrigins {
    patterns: Vec<Regex>,
}

impl CorsOrigins {
    /// Checks whether `origin` matches one of the patterns as a whole.
    pub fn allows(&self, origin: &str) -> bool {
        self.patterns.iter().any(|pattern| pattern.is_match(origin))
    }
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `AzureWebJobsStorage`; `None` makes the local host start Azurite.
    pub storage_connection: Option<Secret<String>>,
    /// Queue and table names.
    pub names: StorageNames,
    /// Token issuer; `None` means the local development identity provider.
    pub auth: Option<AuthSettings>,
    /// Browser origins allowed by CORS; `None` sends no CORS headers.
    pub cors_allowed_origins: Option<CorsOrigins>,
    /// Folder holding `host.json` (`FUNCTIONS_APP_ROOT_PATH`).
    pub app_root: PathBuf,
}

/// A configuration variable with a bad value.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// Description of the problem and its fix.
    pub problem: String,
}

fn error(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// The first invalid variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the
    /// process environment. Empty values count as unset.
    ///
    /// # Errors
    /// The first invalid variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let names = StorageNames {
            command_queue: queue_name(read("COMMAND_QUEUE"), "COMMAND_QUEUE", "commands")?,
            domain_events_queue: queue_name(
                read("DOMAIN_EVENTS_QUEUE"),
                "DOMAIN_EVENTS_QUEUE",
                "domain-events",
            )?,
            task_events_table: table_name(
                read("TASK_EVENTS_TABLE"),
                "TASK_EVENTS_TABLE",
                "TaskEvents",
            )?,
            tasks_table: table_name(read("TASKS_TABLE"), "TASKS_TABLE", "Tasks")?,
            settings_table: table_name(read("SETTINGS_TABLE"), "SETTINGS_TABLE", "Settings")?,
            users_table: table_name(read("USERS_TABLE"), "USERS_TABLE", "Users")?,
        };
        let app_root = match read("FUNCTIONS_APP_ROOT_PATH") {
            Some(path) => PathBuf::from(path),
            None => std::env::current_dir().map_err(|cause| {
                error(
                    "FUNCTIONS_APP_ROOT_PATH",
                    format!("is unset and the current directory is unreadable ({cause}); set it to the folder holding host.json"),
                )
            })?,
        };
        Ok(Self {
            storage_connection: read("AzureWebJobsStorage").map(Secret::new),
            names,
            auth: auth_settings(&read)?,
            cors_allowed_origins: read("CORS_ALLOWED_ORIGINS")
                .map(|value| cors_origins(&value))
                .transpose()?,
            app_root,
        })
    }
}

fn queue_name(
    value: Option<String>,
    variable: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let name = value.unwrap_or_else(|| default.to_owned());
    let valid_characters = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let valid_shape = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("--");
    // The poison queue `<name>-poison` must also fit the 63-character limit.
    let fits = (3..=56).contains(&name.len());
    if valid_characters && valid_shape && fits {
        Ok(name)
    } else {
        Err(error(
            variable,
            format!("{name:?} is not a valid queue name; use 3 to 56 lowercase letters, digits and single hyphens, starting and ending with a letter or digit (56 leaves room for the -poison suffix)"),
        ))
    }
}

fn table_name(
    value: Option<String>,
    variable: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let name = value.unwrap_or_else(|| default.to_owned());
    let valid = (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if valid {
        Ok(name)
    } else {
        Err(error(
            variable,
            format!("{name:?} is not a valid table name; use 3 to 63 letters and digits, starting with a letter"),
        ))
    }
}

fn auth_settings(
    read: &impl Fn(&str) -> Option<String>,
) -> Result<Option<AuthSettings>, ConfigError> {
    let leeway = match read("AUTH_LEEWAY_SECONDS") {
        None => Duration::from_secs(30),
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) if seconds <= 300 => Duration::from_secs(seconds),
            _ => {
                return Err(error(
                    "AUTH_LEEWAY_SECONDS",
                    format!("{text:?} is invalid; use whole seconds from 0 to 300"),
                ))
            }
        },
    };
    let audience = read("AUTH0_AUDIENCE").or_else(|| read("AUTH_AUDIENCE"));
    let (issuer, jwks_url) = match (read("AUTH0_DOMAIN"), read("AUTH_ISSUER")) {
        (Some(_), Some(_)) => {
            return Err(error(
                "AUTH_ISSUER",
                "is set together with AUTH0_DOMAIN; set only one of them",
            ))
        }
        (Some(domain), None) => auth0_endpoints(&domain)?,
        (None, Some(issuer)) => {
            let jwks = read("AUTH_JWKS_URL").ok_or_else(|| {
                error(
                    "AUTH_JWKS_URL",
                    "is required when AUTH_ISSUER is set; give the issuer's JWKS URL",
                )
            })?;
            (issuer, jwks)
        }
        (None, None) => {
            if audience.is_some() {
                return Err(error(
                    "AUTH0_DOMAIN",
                    "is unset but an audience is configured; set AUTH0_DOMAIN (or AUTH_ISSUER and AUTH_JWKS_URL) too",
                ));
            }
            return Ok(None);
        }
    };
    let audience = audience.ok_or_else(|| {
        error(
            "AUTH0_AUDIENCE",
            "is required when an issuer is configured; set it to the API identifier",
        )
    })?;
    let jwks_url = jwks_url.parse().map_err(|_| {
        error(
            "AUTH_JWKS_URL",
            format!("{jwks_url:?} is not a valid URL; give an absolute https URL"),
        )
    })?;
    Ok(Some(AuthSettings {
        issuer,
        audience,
        jwks_url,
        leeway,
        min_refresh_interval: Duration::from_secs(60),
    }))
}

fn auth0_endpoints(domain: &str) -> Result<(String, String), ConfigError> {
    let bare_host = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !bare_host {
        return Err(error(
            "AUTH0_DOMAIN",
            format!("{domain:?} is not a bare host name; write it like tenant.eu.auth0.com, without https:// or a path"),
        ));
    }
    Ok((
        format!("https://{domain}/"),
        format!("https://{domain}/.well-known/jwks.json"),
    ))
}

fn cors_origins(value: &str) -> Result<CorsOrigins, ConfigError> {
    let patterns = value
        .split('|')
        .map(str::trim)
        .filter(|pattern| !pattern.is_empty())
        .map(|pattern| {
            // `is_match` finds a match anywhere, so each pattern is anchored
            // to the whole origin.
            Regex::new(&format!("^(?:{pattern})$")).map_err(|cause| {
                error(
                    "CORS_ALLOWED_ORIGINS",
                    format!("{pattern:?} is not a valid regular expression ({cause})"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsOrigins { patterns })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = config(&[]).unwrap();
        assert!(config.storage_connection.is_none());
        assert!(config.auth.is_none());
        assert_eq!(config.names.command_queue, "commands");
        assert_eq!(config.names.domain_events_queue, "domain-events");
        assert_eq!(config.names.task_events_table, "TaskEvents");
        assert_eq!(config.names.tasks_table, "Tasks");
        assert_eq!(config.names.settings_table, "Settings");
        assert_eq!(config.names.users_table, "Users");
    }

    #[test]
    fn invalid_names_name_their_variable() {
        let cases = [
            ("COMMAND_QUEUE", "Commands"),
            ("COMMAND_QUEUE", "a--b"),
            ("DOMAIN_EVENTS_QUEUE", "ab"),
            ("DOMAIN_EVENTS_QUEUE", &"q".repeat(57)),
            ("TASKS_TABLE", "1Tasks"),
            ("SETTINGS_TABLE", "Set-tings"),
        ];
        for (variable, value) in cases {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "{value}");
        }
    }

    #[test]
    fn auth0_domain_gives_issuer_and_jwks() {
        let config = config(&[
            ("AUTH0_DOMAIN", "tenant.eu.auth0.com"),
            ("AUTH0_AUDIENCE", "https://api"),
        ])
        .unwrap();
        let auth = config.auth.unwrap();
        assert_eq!(auth.issuer, "https://tenant.eu.auth0.com/");
        assert_eq!(
            auth.jwks_url.as_str(),
            "https://tenant.eu.auth0.com/.well-known/jwks.json"
        );
        assert_eq!(auth.audience, "https://api");
    }

    #[test]
    fn auth0_domain_with_scheme_is_rejected() {
        let error = config(&[
            ("AUTH0_DOMAIN", "https://tenant.auth0.com"),
            ("AUTH0_AUDIENCE", "x"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "AUTH0_DOMAIN");
    }

    #[test]
    fn domain_without_audience_is_rejected() {
        let error = config(&[("AUTH0_DOMAIN", "tenant.auth0.com")]).unwrap_err();
        assert_eq!(error.variable, "AUTH0_AUDIENCE");
    }

    #[test]
    fn cors_patterns_match_whole_origins() {
        let config = config(&[(
            "CORS_ALLOWED_ORIGINS",
            r"https://app\.example\.com|http://localhost:\d+",
        )])
        .unwrap();
        let cors = config.cors_allowed_origins.unwrap();
        assert!(cors.allows("https://app.example.com"));
        assert!(cors.allows("http://localhost:5173"));
        assert!(!cors.allows("https://app.example.com.evil.net"));
        assert!(!cors.allows("https://evil.net/?https://app.example.com"));
    }

    #[test]
    fn invalid_cors_pattern_is_rejected() {
        let error = config(&[("CORS_ALLOWED_ORIGINS", "(")]).unwrap_err();
        assert_eq!(error.variable, "CORS_ALLOWED_ORIGINS");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = config(&[("AzureWebJobsStorage", "AccountKey=c2VjcmV0")]).unwrap();
        assert!(!format!("{config:?}").contains("c2VjcmV0"));
    }
}
