//! HTTP API: router, shared state, authentication and the error envelope.

pub mod commands;
pub mod openapi;
pub mod problem;
pub mod queries;

use axum::extract::{FromRef, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use prism_domain::UserId;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{bearer_token, TokenVerifier, VerifiedClaims};
use crate::event_store::EventStore;
use crate::read_models::ReadModels;
use crate::storage::Queue;
use crate::wake::Waker;
use problem::Problem;

/// State shared by every API handler.
#[derive(Clone)]
pub struct AppState {
    /// The commands queue that ingest writes to.
    pub commands: Queue,
    /// Wakes the local commands listener after an enqueue.
    pub commands_waker: Waker,
    /// The event store, for command status and task history.
    pub event_store: EventStore,
    /// The read-model tables.
    pub read_models: ReadModels,
    /// Verifies bearer tokens.
    pub verifier: TokenVerifier,
}

impl FromRef<AppState> for TokenVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Builds the `/api` router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/commands",
            post(commands::post_commands).fallback(method_not_allowed),
        )
        .route(
            "/api/commands/{key}",
            get(commands::get_command_status).fallback(method_not_allowed),
        )
        .route(
            "/api/tasks",
            get(queries::list_tasks).fallback(method_not_allowed),
        )
        .route(
            "/api/tasks/{id}/history",
            get(queries::task_history).fallback(method_not_allowed),
        )
        .route(
            "/api/settings",
            get(queries::get_settings).fallback(method_not_allowed),
        )
        .route(
            "/api/health",
            get(queries::health).fallback(method_not_allowed),
        )
        .route(
            "/api/openapi.json",
            get(openapi::document).fallback(method_not_allowed),
        )
        .route("/api", axum::routing::any(not_found))
        .route("/api/{*rest}", axum::routing::any(not_found))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::info_span!(
                    "http_request",
                    http.method = %request.method(),
                    http.path = %request.uri().path(),
                )
            }),
        )
        .with_state(state)
}

/// Verifies the bearer token and returns the caller's user id and claims.
///
/// # Errors
/// A 401 problem for a missing or invalid token, 503 when the signing keys
/// cannot be fetched.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(UserId, VerifiedClaims), Problem> {
    let token = bearer_token(headers).map_err(Problem::from)?;
    let claims = state.verifier.verify(token).await.map_err(Problem::from)?;
    let user = UserId::new(&claims.subject).map_err(|error| {
        Problem::unauthorized(format!(
            "The token's sub claim is not a usable user id: {error}"
        ))
    })?;
    Ok((user, claims))
}

/// 404 problem for an unknown `/api` route.
pub async fn not_found(request: Request) -> Problem {
    Problem::not_found(format!(
        "No route {} {}; see /api/openapi.json for the routes.",
        request.method(),
        request.uri().path()
    ))
}

/// Turns a panic in a handler into the usual 500 problem; a panic is a bug,
/// so it is logged as an error.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-text panic payload");
    tracing::error!(error = message, "a request handler panicked");
    axum::response::IntoResponse::into_response(Problem::internal())
}

/// 405 problem for a known route called with another method.
pub async fn method_not_allowed(request: Request) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!(
            "{} is not allowed on {}; see /api/openapi.json for the methods.",
            request.method(),
            request.uri().path()
        ),
    )
}
