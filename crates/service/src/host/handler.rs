//! The Azure Functions custom handler: HTTP functions arrive forwarded at
//! their original `/api/...` path (`enableForwardingHttpRequest`), and queue
//! triggers arrive as `POST /{FunctionName}` in the JSON invocation protocol.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tracing::{error, info, warn};

use super::listener::InvocationFailure;
use crate::app::{App, Storage};
use crate::auth::TokenVerifier;
use crate::config::Config;
use crate::functions::{PROCESS_COMMAND, PROJECT_EVENTS};
use crate::storage::{Queue, StorageAccount};

/// Name of the trigger binding in the queue functions' `function.json`.
pub const QUEUE_TRIGGER_NAME: &str = "message";

/// Environment variable holding the port the Functions host chose.
pub const PORT_VARIABLE: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";

/// Runs the custom handler until SIGTERM.
///
/// # Errors
/// Missing configuration or a port that cannot be bound.
pub async fn run(config: Config, port: u16) -> anyhow::Result<()> {
    let connection = config.storage_connection.as_ref().context(
        "AzureWebJobsStorage is not set; the Functions host sets it from the app settings",
    )?;
    let settings = config.auth.clone().context(
        "token verification is not configured; set AUTH0_DOMAIN and AUTH0_AUDIENCE (the development identity provider never runs in the Functions host)",
    )?;
    let account = StorageAccount::parse(connection.expose())
        .context("AzureWebJobsStorage is not a valid connection string")?;
    let storage = Storage::connect(&account, &config.names)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("building the HTTP client for JWKS")?;
    let app = App::new(storage, TokenVerifier::new(settings, http));
    let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind} ({PORT_VARIABLE})"))?;
    info!(address = %bind, "custom handler is listening");
    axum::serve(listener, router(app))
        .with_graceful_shutdown(super::shutdown_signal())
        .await
        .context("the custom handler's HTTP server failed")
}

/// Builds the handler's router: forwarded API routes, queue invocations and
/// the readiness route `GET /`.
pub fn router(app: App) -> Router {
    let invocations = Router::new()
        .route("/", get(|| async { StatusCode::OK }))
        .route("/{function}", post(invoke))
        .with_state(app.clone());
    crate::http::router(app.http.clone()).merge(invocations)
}

async fn invoke(
    State(app): State<App>,
    Path(function): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (queue, poison) = match function.as_str() {
        PROCESS_COMMAND => (&app.storage.commands, &app.storage.commands_poison),
        PROJECT_EVENTS => (
            &app.storage.domain_events,
            &app.storage.domain_events_poison,
        ),
        _ => {
            return invocation_reply(
                StatusCode::NOT_FOUND,
                format!(
                    "no function named {function:?}; known: {PROCESS_COMMAND}, {PROJECT_EVENTS}"
                ),
            )
        }
    };
    let text = match message_text(&body) {
        Ok(text) => text,
        Err(reason) => {
            // The host never sends such a body for a queue trigger. A 4xx makes
            // the host count a failure, which suits a broken request.
            return invocation_reply(StatusCode::BAD_REQUEST, reason);
        }
    };
    match app.functions.invoke(&function, &text).await {
        None | Some(Ok(())) => invocation_reply(StatusCode::OK, format!("{function} succeeded")),
        Some(Err(InvocationFailure::Poison(reason))) => {
            move_to_poison(queue, poison, &text, &reason).await
        }
        Some(Err(InvocationFailure::Retry(reason))) => {
            invocation_reply(StatusCode::INTERNAL_SERVER_ERROR, reason)
        }
    }
}

/// Extracts the queue message text from a JSON invocation body.
///
/// The host JSON-quotes the message once more, so `Data.message` contains the
/// JSON text of a string whose content is the message.
///
/// # Errors
/// A message naming what is missing.
pub fn message_text(body: &[u8]) -> Result<String, String> {
    let invocation: Value = serde_json::from_slice(body)
        .map_err(|error| format!("invocation body is not JSON: {error}"))?;
    let data = invocation
        .get("Data")
        .and_then(|data| data.get(QUEUE_TRIGGER_NAME))
        .ok_or_else(|| format!("invocation has no Data.{QUEUE_TRIGGER_NAME}"))?;
    let quoted = data
        .as_str()
        .ok_or_else(|| format!("Data.{QUEUE_TRIGGER_NAME} is not a string"))?;
    match serde_json::from_str::<Value>(quoted) {
        Ok(Value::String(text)) => Ok(text),
        // A host that did not quote the value again passes the text itself.
        _ => Ok(quoted.to_owned()),
    }
}

async fn move_to_poison(queue: &Queue, poison: &Queue, text: &str, reason: &str) -> Response {
    error!(queue = queue.name(), error = %reason, "moving a malformed message to the poison queue");
    match poison.send(text).await {
        Ok(()) => invocation_reply(
            StatusCode::OK,
            format!("moved to {}: {reason}", poison.name()),
        ),
        Err(error) => {
            warn!(error = %error, "writing to the poison queue failed; the host will retry the message");
            invocation_reply(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
        }
    }
}

fn invocation_reply(status: StatusCode, log: String) -> Response {
    (
        status,
        Json(json!({ "Outputs": {}, "Logs": [log], "ReturnValue": null })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_message_is_unwrapped_twice() {
        let body =
            r#"{"Data":{"message":"\"{\\\"schema\\\":1}\""},"Metadata":{"DequeueCount":"1"}}"#;
        assert_eq!(
            message_text(body.as_bytes()).expect("valid"),
            r#"{"schema":1}"#
        );
    }

    #[test]
    fn plain_string_message_is_accepted() {
        let body = r#"{"Data":{"message":"\"aaaaa\""},"Metadata":{}}"#;
        assert_eq!(message_text(body.as_bytes()).expect("valid"), "aaaaa");
    }

    #[test]
    fn missing_trigger_data_is_an_error() {
        let error = message_text(br#"{"Data":{},"Metadata":{}}"#).expect_err("no data");
        assert!(error.contains("Data.message"), "{error}");
    }
}
