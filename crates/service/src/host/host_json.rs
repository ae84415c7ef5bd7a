//! Reads the queue-trigger settings of `host.json`, the file the Functions
//! host reads, so both hosts poll, retry and poison messages alike.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Queue-trigger settings (`extensions.queues` in `host.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// Messages fetched per receive, 1–32.
    pub batch_size: u8,
    /// The next batch is fetched once no more than this many messages are in flight.
    pub new_batch_threshold: usize,
    /// Maximum wait between polls of an idle queue.
    pub max_polling_interval: Duration,
    /// Delay before a failed message becomes visible again.
    pub visibility_timeout: Duration,
    /// Deliveries before a failing message moves to `<queue>-poison`.
    pub max_dequeue_count: u32,
}

impl QueueSettings {
    /// Returns the Functions host defaults on a one-core instance.
    pub fn functions_defaults() -> Self {
        Self {
            batch_size: 16,
            new_batch_threshold: 8,
            max_polling_interval: Duration::from_secs(60),
            visibility_timeout: Duration::ZERO,
            max_dequeue_count: 5,
        }
    }
}

/// Errors reading `host.json`.
#[derive(Debug, thiserror::Error)]
pub enum HostJsonError {
    /// The file could not be read.
    #[error(
        "cannot read {path}: {source}; run from the project root or set FUNCTIONS_APP_ROOT_PATH"
    )]
    Read {
        /// Path tried.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("{path} is invalid: {reason}")]
    Invalid {
        /// Path read.
        path: String,
        /// Description of the problem and its fix.
        reason: String,
    },
}

#[derive(Deserialize)]
struct HostJson {
    #[serde(default)]
    extensions: Extensions,
}

#[derive(Deserialize, Default)]
struct Extensions {
    #[serde(default)]
    queues: RawQueues,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawQueues {
    batch_size: Option<u8>,
    new_batch_threshold: Option<usize>,
    max_polling_interval: Option<String>,
    visibility_timeout: Option<String>,
    max_dequeue_count: Option<u32>,
    message_encoding: Option<String>,
}

/// Reads `extensions.queues` from the `host.json` at `path`, applying the
/// Functions defaults for missing settings.
///
/// # Errors
/// [`HostJsonError`] naming the file and the bad setting.
pub fn read_queue_settings(path: &Path) -> Result<QueueSettings, HostJsonError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| HostJsonError::Read {
        path: display.clone(),
        source,
    })?;
    parse_queue_settings(&text).map_err(|reason| HostJsonError::Invalid {
        path: display,
        reason,
    })
}

/// Parses the text of a `host.json`.
///
/// # Errors
/// A message naming the bad setting and the allowed values.
pub fn parse_queue_settings(text: &str) -> Result<QueueSettings, String> {
    let host: HostJson = serde_json::from_str(text).map_err(|error| error.to_string())?;
    let raw = host.extensions.queues;
    let defaults = QueueSettings::functions_defaults();
    let batch_size = raw.batch_size.unwrap_or(defaults.batch_size);
    if !(1..=32).contains(&batch_size) {
        return Err(format!(
            "extensions.queues.batchSize is {batch_size}; use a value from 1 to 32"
        ));
    }
    let max_dequeue_count = raw.max_dequeue_count.unwrap_or(defaults.max_dequeue_count);
    if max_dequeue_count == 0 {
        return Err("extensions.queues.maxDequeueCount is 0; use 1 or more".into());
    }
    if let Some(encoding) = raw.message_encoding.as_deref() {
        if !encoding.eq_ignore_ascii_case("base64") {
            return Err(format!(
                "extensions.queues.messageEncoding is {encoding:?}; this app writes base64 messages, so set \"base64\""
            ));
        }
    }
    let max_polling_interval = match raw.max_polling_interval.as_deref() {
        Some(text) => parse_timespan(text, "maxPollingInterval")?,
        None => defaults.max_polling_interval,
    };
    if max_polling_interval < Duration::from_millis(100) {
        return Err("extensions.queues.maxPollingInterval is below the 100 ms minimum".into());
    }
    let visibility_timeout = match raw.visibility_timeout.as_deref() {
        Some(text) => parse_timespan(text, "visibilityTimeout")?,
        None => defaults.visibility_timeout,
    };
    Ok(QueueSettings {
        batch_size,
        new_batch_threshold: raw
            .new_batch_threshold
            .unwrap_or(usize::from(batch_size) / 2),
        max_polling_interval,
        visibility_timeout,
        max_dequeue_count,
    })
}

/// Parses a .NET `TimeSpan` in the `hh:mm:ss[.fff]` form used by `host.json`.
fn parse_timespan(text: &str, setting: &str) -> Result<Duration, String> {
    let invalid =
        || format!("extensions.queues.{setting} is {text:?}; write it as hh:mm:ss or hh:mm:ss.fff");
    let parts: Vec<&str> = text.split(':').collect();
    let [hours, minutes, seconds] = parts.as_slice() else {
        return Err(invalid());
    };
    let hours: u64 = hours.parse().map_err(|_| invalid())?;
    let minutes: u64 = minutes.parse().map_err(|_| invalid())?;
    let seconds: f64 = seconds.parse().map_err(|_| invalid())?;
    if minutes >= 60 || !(0.0..60.0).contains(&seconds) {
        return Err(invalid());
    }
    let whole = hours * 3600 + minutes * 60;
    Ok(Duration::from_secs(whole) + Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_section_gives_functions_defaults() {
        let settings = parse_queue_settings(r#"{"version":"2.0"}"#).expect("valid");
        assert_eq!(settings, QueueSettings::functions_defaults());
    }

    #[test]
    fn settings_are_read() {
        let text = r#"{"version":"2.0","extensions":{"queues":{"batchSize":4,
            "newBatchThreshold":2,"maxPollingInterval":"00:00:02",
            "visibilityTimeout":"00:00:00.500","maxDequeueCount":3}}}"#;
        let settings = parse_queue_settings(text).expect("valid");
        assert_eq!(settings.batch_size, 4);
        assert_eq!(settings.new_batch_threshold, 2);
        assert_eq!(settings.max_polling_interval, Duration::from_secs(2));
        assert_eq!(settings.visibility_timeout, Duration::from_millis(500));
        assert_eq!(settings.max_dequeue_count, 3);
    }

    #[test]
    fn batch_size_over_32_is_rejected() {
        let text = r#"{"extensions":{"queues":{"batchSize":33}}}"#;
        let error = parse_queue_settings(text).expect_err("33 is too big");
        assert!(error.contains("batchSize"), "{error}");
    }

    #[test]
    fn malformed_timespan_names_the_setting() {
        let text = r#"{"extensions":{"queues":{"maxPollingInterval":"2s"}}}"#;
        let error = parse_queue_settings(text).expect_err("2s is not a TimeSpan");
        assert!(error.contains("maxPollingInterval"), "{error}");
    }

    #[test]
    fn encoding_none_is_rejected() {
        let text = r#"{"extensions":{"queues":{"messageEncoding":"none"}}}"#;
        assert!(parse_queue_settings(text).is_err());
    }
}
