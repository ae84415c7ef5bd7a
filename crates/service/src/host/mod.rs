//! The two hosts that run the function code: the local host
//! (`prism-plan local`) and the Functions custom handler (`prism-plan handler`).

pub mod handler;
pub mod host_json;
pub mod listener;
pub mod local;

use std::path::Path;

use tracing::warn;

use host_json::{read_queue_settings, HostJsonError, QueueSettings};

/// Reads the queue settings from `<app_root>/host.json`, falling back to the
/// Functions defaults (with a warning) when the file does not exist.
///
/// # Errors
/// [`HostJsonError`] for a file that exists but is invalid.
pub fn queue_settings(app_root: &Path) -> Result<QueueSettings, HostJsonError> {
    let path = app_root.join("host.json");
    if !path.exists() {
        warn!(path = %path.display(), "host.json not found; using the Functions queue defaults");
        return Ok(QueueSettings::functions_defaults());
    }
    read_queue_settings(&path)
}

/// Resolves when the process receives Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
