//! Token verification (RS256 over JWKS) and the development identity provider.
//!
//! Every `/api` request passes through [`TokenVerifier`], whether the token
//! comes from Auth0 or from the local [`DevIdentityProvider`], because both
//! publish their keys as a JWKS document that the verifier fetches over HTTP.

mod dev_identity;
mod jwks;
mod verifier;

pub use dev_identity::{
    ensure_loopback, router, DevIdentityError, DevIdentityProvider, DevTokenRequest,
    DevTokenResponse, DEV_TOKEN_LIFETIME,
};
pub use verifier::{
    AuthSettings, TokenVerifier, VerifiedClaims, MAX_SUBJECT_CHARS, MAX_TOKEN_BYTES,
};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};

use crate::http::problem::Problem;

/// Reasons a request carries no usable bearer token.
///
/// The variants never contain the token itself, so an error can be logged as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The request has no `Authorization` header.
    #[error("the Authorization header is missing")]
    MissingToken,
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header is malformed: {0}")]
    MalformedHeader(&'static str),
    /// The token failed a structural, signature or claim check.
    #[error("the bearer token is invalid: {0}")]
    InvalidToken(String),
    /// The token's `exp` lies further in the past than the leeway allows.
    #[error("the bearer token has expired")]
    Expired,
    /// No key in the issuer's JWKS has the token's `kid`, even after a refresh.
    #[error("no signing key matches the token's kid")]
    UnknownKey,
    /// The JWKS document could not be fetched or parsed.
    #[error("the signing keys are unavailable: {0}")]
    KeysUnavailable(String),
}

impl From<AuthError> for Problem {
    /// Maps to 503 for [`AuthError::KeysUnavailable`] and to 401 `unauthorized` otherwise.
    ///
    /// The detail is a fixed sentence per variant, because the reason a token
    /// is invalid can help an attacker probe the checks. The reason goes to
    /// the log instead.
    fn from(error: AuthError) -> Self {
        let detail = match &error {
            AuthError::MissingToken => "The request needs an Authorization: Bearer <token> header.",
            AuthError::MalformedHeader(_) => {
                "The Authorization header must be 'Bearer' followed by one space and the token."
            }
            AuthError::InvalidToken(_) | AuthError::UnknownKey => {
                "The bearer token is invalid; sign in again."
            }
            AuthError::Expired => "The bearer token has expired; sign in again.",
            AuthError::KeysUnavailable(_) => {
                tracing::warn!(%error, "rejecting request because the signing keys are unavailable");
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "auth-unavailable",
                    "The server could not load the keys that verify sign-in tokens; try again later.",
                );
            }
        };
        tracing::info!(%error, "rejecting request without a valid bearer token");
        Problem::unauthorized(detail)
    }
}

/// Extracts the token from an `Authorization: Bearer <token>` header.
///
/// The scheme is matched case-insensitively, as RFC 9110 requires for
/// authentication schemes. Exactly one space separates scheme and token.
///
/// # Errors
///
/// [`AuthError::MissingToken`] without the header, and
/// [`AuthError::MalformedHeader`] for a repeated header, another scheme, a
/// missing or empty token, or extra spaces.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::MissingToken)?;
    if values.next().is_some() {
        return Err(AuthError::MalformedHeader(
            "the header appears more than once",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::MalformedHeader("the header contains non-ASCII bytes"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(AuthError::MalformedHeader("expected 'Bearer <token>'"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MalformedHeader("the scheme is not Bearer"));
    }
    if token.is_empty() || token.contains(|c: char| c.is_ascii_whitespace()) {
        return Err(AuthError::MalformedHeader(
            "expected exactly one token after 'Bearer '",
        ));
    }
    Ok(token)
}

/// Claims of a verified bearer token, extracted from the request by axum.
///
/// Handlers that take this argument run only for requests with a valid token.
/// The rejection is a [`Problem`] built from the [`AuthError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated(pub VerifiedClaims);

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    TokenVerifier: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = TokenVerifier::from_ref(state);
        let token = bearer_token(&parts.headers)?;
        let claims = verifier.verify(token).await?;
        Ok(Self(claims))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A panic in a test is a failure with a location.
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers_with(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn bearer_scheme_matches_any_case() {
        for value in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER abc.def.ghi",
        ] {
            assert_eq!(bearer_token(&headers_with(&[value])), Ok("abc.def.ghi"));
        }
    }

    #[test]
    fn bearer_without_header_is_missing() {
        assert_eq!(
            bearer_token(&HeaderMap::new()),
            Err(AuthError::MissingToken)
        );
    }

    #[test]
    fn bearer_rejects_malformed_values() {
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer  abc",
            "Bearer abc def",
            "Basic abc",
            "Bearerabc",
            "abc",
        ] {
            let headers = headers_with(&[value]);
            let result = bearer_token(&headers);
            assert!(
                matches!(result, Err(AuthError::MalformedHeader(_))),
                "{value:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn bearer_rejects_repeated_header() {
        let headers = headers_with(&["Bearer a", "Bearer b"]);
        assert!(matches!(
            bearer_token(&headers),
            Err(AuthError::MalformedHeader(_))
        ));
    }

    #[test]
    fn problem_status_follows_error() {
        let expired = Problem::from(AuthError::Expired);
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(expired.code(), "unauthorized");
        let unavailable = Problem::from(AuthError::KeysUnavailable("timed out".to_owned()));
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
