//! Query routes: task pages, task history, settings and health.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use prism_domain::{StreamId, TaskId, UserId};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::error;

use super::problem::Problem;
use super::{authenticate, AppState};
use crate::event_store::partition_key;
use crate::storage::Continuation;

/// Page size when the request gives none.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page size a request may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Query string of `GET /api/tasks`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskListQuery {
    page_size: Option<String>,
    page_token: Option<String>,
}

/// Lists one page of the caller's tasks with an ETag.
pub async fn list_tasks(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<TaskListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let (user, _) = authenticate(&state, &headers).await?;
    let Query(query) = query.map_err(|rejection| {
        Problem::bad_request(format!(
            "The query string is invalid ({}); use only pageSize and pageToken.",
            rejection.body_text()
        ))
    })?;
    let page_size = parse_page_size(query.page_size.as_deref())?;
    let continuation = query
        .page_token
        .as_deref()
        .map(|token| decode_page_token(token, &user))
        .transpose()?;
    let page = state
        .read_models
        .list_tasks(&user, page_size, continuation.as_ref())
        .await
        .map_err(|error| {
            error!(error = %error, "listing tasks failed");
            Problem::storage_unavailable()
        })?;
    let mut body = json!({ "tasks": page.tasks });
    if let Some(next) = &page.continuation {
        body["nextPageToken"] = json!(encode_page_token(next, &user));
    }
    Ok(with_etag(&headers, &body))
}

/// Returns the events of one of the caller's tasks, oldest first.
pub async fn task_history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Result<Response, Problem> {
    let (user, _) = authenticate(&state, &headers).await?;
    let not_found = || Problem::not_found(format!("No task {raw_id:?} exists for this user."));
    let task_id = TaskId::parse(&raw_id).map_err(|_| not_found())?;
    let stream = StreamId::Task(task_id);
    let loaded = state
        .event_store
        .load(&user, &stream)
        .await
        .map_err(|error| {
            error!(error = %error, "reading a task stream failed");
            Problem::storage_unavailable()
        })?;
    if loaded.events.is_empty() {
        return Err(not_found());
    }
    let events: Vec<_> = loaded
        .events
        .into_iter()
        .map(|stored| stored.record)
        .collect();
    Ok(
        Json(json!({ "taskId": task_id.to_string(), "version": loaded.version, "events": events }))
            .into_response(),
    )
}

/// Returns the caller's settings, or the defaults for a new user.
pub async fn get_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (user, _) = authenticate(&state, &headers).await?;
    let (settings, _) = state.read_models.settings(&user).await.map_err(|error| {
        error!(error = %error, "reading settings failed");
        Problem::storage_unavailable()
    })?;
    Ok(with_etag(&headers, &json!(settings)))
}

/// Reports liveness and whether storage is reachable; needs no token.
pub async fn health(State(state): State<AppState>) -> Result<Response, Problem> {
    let (queue, table) = tokio::join!(
        state.commands.approximate_message_count(),
        state.read_models.settings.get("health", "probe"),
    );
    match (queue, table) {
        (Ok(_), Ok(_)) => {
            Ok(Json(json!({ "status": "ok", "storage": "reachable" })).into_response())
        }
        (queue, table) => {
            let cause = queue
                .err()
                .map(|e| e.to_string())
                .or(table.err().map(|e| e.to_string()));
            error!(
                error = cause.unwrap_or_default(),
                "health check found storage unreachable"
            );
            Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "Storage is unreachable; check AzureWebJobsStorage and that Azurite or Azure Storage is running.",
            ))
        }
    }
}

fn parse_page_size(raw: Option<&str>) -> Result<u32, Problem> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    match raw.parse::<u32>() {
        Ok(size) if (1..=MAX_PAGE_SIZE).contains(&size) => Ok(size),
        _ => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-page-size",
            format!("pageSize {raw:?} is invalid; use a whole number from 1 to {MAX_PAGE_SIZE}."),
        )),
    }
}

/// A page token: the table continuation plus a fingerprint of the owner's
/// partition, so a token cannot be replayed by another user.
#[derive(serde::Serialize, Deserialize)]
struct PageToken {
    #[serde(rename = "o")]
    owner: String,
    #[serde(rename = "c")]
    continuation: Continuation,
}

/// Encodes a table continuation as an opaque URL-safe token for `user`.
fn encode_page_token(continuation: &Continuation, user: &UserId) -> String {
    let token = PageToken {
        owner: owner_fingerprint(user),
        continuation: continuation.clone(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn owner_fingerprint(user: &UserId) -> String {
    let digest = Sha256::digest(partition_key(user).as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

fn decode_page_token(token: &str, user: &UserId) -> Result<Continuation, Problem> {
    let invalid = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-page-token",
            "pageToken is invalid; pass the nextPageToken of the previous page unchanged, or omit it for the first page.",
        )
    };
    if token.len() > 4096 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let decoded: PageToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    // The query always filters on the caller's partition, so a foreign
    // token could not leak data; rejecting it still gives a clear error.
    if decoded.owner != owner_fingerprint(user) {
        return Err(invalid());
    }
    Ok(decoded.continuation)
}

/// Returns 200 with a strong hash ETag, or 304 when `If-None-Match` matches.
fn with_etag(headers: &HeaderMap, body: &serde_json::Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == etag || candidate == "*");
    let status = if matches {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = if matches {
        status.into_response()
    } else {
        (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}

/// Pairs of `(method, path)` served by this module, for the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/tasks"),
    ("get", "/api/tasks/{id}/history"),
    ("get", "/api/settings"),
    ("get", "/api/health"),
];
