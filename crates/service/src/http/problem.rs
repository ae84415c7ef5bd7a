//! The one JSON error envelope (`application/problem+json`) for every 4xx and 5xx.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One invalid value inside a request, for batch validation errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldProblem {
    /// Position of the command in the request array, when the body is a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// JSON path of the field, such as `data.title`.
    pub field: String,
    /// Stable rule name, such as `required` or `too-long`.
    pub rule: String,
    /// Client-safe sentence naming the value and the fix.
    pub message: String,
}

/// An RFC 9457 problem document with a stable machine-readable `code`.
///
/// The message is safe to show to the caller; causes go to the log where the
/// problem is created, never into the body. The document is boxed so that
/// `Result<_, Problem>` stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(Box<ProblemDocument>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct ProblemDocument {
    #[serde(skip)]
    status: StatusCode,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    #[serde(rename = "status")]
    status_code: u16,
    detail: String,
    code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldProblem>,
}

impl Problem {
    /// Builds a problem with `status`, a stable kebab-case `code` and a client-safe `detail`.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemDocument {
            status,
            kind: format!("https://prism-plan.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status_code: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            errors: Vec::new(),
        }))
    }

    /// Attaches the list of invalid fields.
    pub fn with_errors(mut self, errors: Vec<FieldProblem>) -> Self {
        self.0.errors = errors;
        self
    }

    /// HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// 400 with code `invalid-request`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-request", detail)
    }

    /// 401 with code `unauthorized`; the response also carries `WWW-Authenticate`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 404 with code `not-found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 500 with code `internal-error` and a generic message.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "The server failed to handle the request; try again later.",
        )
    }

    /// 503 with code `storage-unavailable`.
    pub fn storage_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage-unavailable",
            "Storage is unavailable; retry the request with the same idempotency keys.",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.0.status;
        let body = serde_json::to_vec(&*self.0).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
