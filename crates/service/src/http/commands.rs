//! `POST /api/commands` (command ingest) and `GET /api/commands/{key}` (status).

use axum::body::{to_bytes, Body};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::stream::{self, TryStreamExt};
use prism_domain::{parse_command, parse_idempotency_key, IdempotencyKey, ParseContext, StreamId};
use serde::Serialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use tracing::{error, info};

use super::problem::{FieldProblem, Problem};
use super::{authenticate, AppState};
use crate::envelope::{CommandMessage, MESSAGE_SCHEMA_VERSION};
use crate::event_store::CommandRecord;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest number of commands in one request.
pub const MAX_COMMANDS: usize = 100;
/// Messages put on the queue at the same time for one request.
const ENQUEUE_CONCURRENCY: usize = 16;

/// One accepted command in the 202 body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AcceptedCommand {
    idempotency_key: String,
    entity_type: &'static str,
    #[serde(rename = "type")]
    command_type: &'static str,
    entity_id: String,
}

/// Validates a batch of commands, enqueues every one, and returns 202 only
/// after all of them are on the commands queue.
pub async fn post_commands(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let (user, claims) = authenticate(&state, &headers).await?;
    require_json(&headers)?;
    let bytes = to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("The request body exceeds {MAX_BODY_BYTES} bytes; send fewer or smaller commands per request."),
        )
    })?;
    let raw_commands = parse_batch(&bytes)?;
    let received_at = time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut messages = Vec::with_capacity(raw_commands.len());
    let mut accepted = Vec::with_capacity(raw_commands.len());
    let mut seen_keys = std::collections::HashSet::new();
    for (index, raw) in raw_commands.into_iter().enumerate() {
        let key = match parse_idempotency_key(&raw) {
            Ok(Some(key)) => key,
            Ok(None) => generated_key()?,
            Err(violation) => {
                problems.push(field_problem(index, violation));
                continue;
            }
        };
        if !seen_keys.insert(key.as_str().to_owned()) {
            problems.push(FieldProblem {
                index: Some(index),
                field: "idempotencyKey".into(),
                rule: "duplicate-key".into(),
                message: format!(
                    "idempotencyKey {:?} appears twice in this request; give each command its own key",
                    key.as_str()
                ),
            });
            continue;
        }
        let context = ParseContext {
            user_id: &user,
            idempotency_key: &key,
            claimed_name: claims.name.as_deref(),
            claimed_email: claims.email.as_deref(),
        };
        match parse_command(&raw, &context) {
            Ok(command) => {
                accepted.push(AcceptedCommand {
                    idempotency_key: key.as_str().to_owned(),
                    entity_type: command.entity_type(),
                    command_type: command.command_type(),
                    entity_id: command.entity_id(&user),
                });
                messages.push(CommandMessage {
                    schema: MESSAGE_SCHEMA_VERSION,
                    user_id: user.as_str().to_owned(),
                    idempotency_key: key.as_str().to_owned(),
                    command: normalised_command(
                        raw,
                        &command.entity_id(&user),
                        command.command_type(),
                    ),
                    claimed_name: claims.name.clone(),
                    claimed_email: claims.email.clone(),
                    received_at: received_at.clone(),
                });
            }
            Err(violations) => problems.extend(
                violations
                    .into_iter()
                    .map(|violation| field_problem(index, violation)),
            ),
        }
    }
    if !problems.is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-commands",
            format!(
                "{} problem(s) in the request; nothing was enqueued. Fix each listed field and resend the whole batch.",
                problems.len()
            ),
        )
        .with_errors(problems));
    }
    enqueue_all(&state, messages).await?;
    let keys: Vec<&str> = accepted
        .iter()
        .map(|command| command.idempotency_key.as_str())
        .collect();
    info!(commands = keys.len(), "commands accepted");
    let body = json!({ "idempotencyKeys": keys, "commands": accepted });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Reports whether a command is pending, applied or rejected.
pub async fn get_command_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_key): Path<String>,
) -> Result<Response, Problem> {
    let (user, _) = authenticate(&state, &headers).await?;
    let key = IdempotencyKey::new(&raw_key).map_err(|error| {
        Problem::bad_request(format!(
            "The idempotency key in the path is invalid: {error}"
        ))
    })?;
    let record = state
        .event_store
        .command_record(&user, &key)
        .await
        .map_err(|error| {
            error!(error = %error, "reading a command record failed");
            Problem::storage_unavailable()
        })?;
    let body = match record {
        None => json!({ "idempotencyKey": key.as_str(), "status": "pending" }),
        Some(CommandRecord::Rejected {
            stream,
            code,
            reason,
        }) => json!({
            "idempotencyKey": key.as_str(),
            "status": "rejected",
            "entityId": entity_id_of(&stream, &user),
            "code": code,
            "reason": reason,
        }),
        Some(CommandRecord::Applied {
            stream,
            last_version,
            ..
        }) => {
            let projected = projected_version(&state, &user, &stream).await?;
            json!({
                "idempotencyKey": key.as_str(),
                "status": "applied",
                "entityType": if stream.starts_with("task-") { "task" } else { "user" },
                "entityId": entity_id_of(&stream, &user),
                "version": last_version,
                "projectedVersion": projected,
                "projected": projected >= i64::from(last_version),
            })
        }
    };
    Ok(Json(body).into_response())
}

/// Rejects a body that is not declared as JSON.
pub fn require_json(headers: &HeaderMap) -> Result<(), Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("Content-Type {content_type:?} is not supported; send the body as application/json."),
        ))
    }
}

fn parse_batch(bytes: &[u8]) -> Result<Vec<Value>, Problem> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            format!("The body is not valid JSON ({error}); send a JSON array of commands."),
        )
    })?;
    let Value::Array(commands) = value else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-batch",
            "The body must be a JSON array of commands, even for a single command.",
        ));
    };
    if commands.is_empty() || commands.len() > MAX_COMMANDS {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-batch",
            format!(
                "The body holds {} commands; send from 1 to {MAX_COMMANDS} per request.",
                commands.len()
            ),
        ));
    }
    Ok(commands)
}

/// Keeps the command as sent but pins a derived task id into `data.id`, so
/// processing targets the same entity the 202 named.
fn normalised_command(mut raw: Value, entity_id: &str, command_type: &str) -> Value {
    if command_type == "create-task" {
        if let Some(object) = raw.as_object_mut() {
            object.remove("idempotencyKey");
            let data = object.entry("data").or_insert_with(|| json!({}));
            if let Some(data) = data.as_object_mut() {
                data.entry("id").or_insert_with(|| json!(entity_id));
            }
        }
    } else if let Some(object) = raw.as_object_mut() {
        object.remove("idempotencyKey");
    }
    raw
}

async fn enqueue_all(state: &AppState, messages: Vec<CommandMessage>) -> Result<(), Problem> {
    let queue = &state.commands;
    stream::iter(messages.into_iter().map(Ok))
        .try_for_each_concurrent(ENQUEUE_CONCURRENCY, |message: CommandMessage| async move {
            queue.send(&message.encode()).await
        })
        .await
        .map_err(|error| {
            error!(error = %error, "enqueueing commands failed");
            Problem::storage_unavailable()
        })?;
    state.commands_waker.wake();
    Ok(())
}

async fn projected_version(
    state: &AppState,
    user: &prism_domain::UserId,
    stream: &str,
) -> Result<i64, Problem> {
    let result = match stream.strip_prefix("task-") {
        Some(task_id) => state
            .read_models
            .task_version(user, task_id)
            .await
            .map(|version| version.unwrap_or(0)),
        None => state
            .read_models
            .settings(user)
            .await
            .map(|(_, version)| version),
    };
    result.map_err(|error| {
        error!(error = %error, "reading a read-model version failed");
        Problem::storage_unavailable()
    })
}

fn entity_id_of(stream: &str, user: &prism_domain::UserId) -> String {
    match StreamId::parse(stream) {
        Ok(StreamId::Task(task_id)) => task_id.to_string(),
        _ => user.as_str().to_owned(),
    }
}

fn generated_key() -> Result<IdempotencyKey, Problem> {
    let text = uuid::Uuid::new_v4().to_string();
    IdempotencyKey::new(&text).map_err(|error| {
        error!(error = %error, "a generated UUID key was rejected by the key rules");
        Problem::internal()
    })
}

fn field_problem(index: usize, violation: prism_domain::Violation) -> FieldProblem {
    FieldProblem {
        index: Some(index),
        field: violation.field,
        rule: violation.rule.to_owned(),
        message: violation.message,
    }
}

/// Pairs of `(method, path)` served by this module, for the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/commands"),
    ("get", "/api/commands/{idempotencyKey}"),
];
