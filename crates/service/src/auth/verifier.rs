//! Verifies bearer tokens: RS256 only, `iss`, `aud`, `exp` and `sub`
//! required, signing keys fetched from the issuer's JWKS and refreshed when
//! an unknown key id appears, at most once per `min_refresh_interval`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, StatusCode};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};
use tracing::{info, warn};

use crate::http::problem::Problem;

/// Maximum token length in bytes; real tokens are far shorter.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest accepted `sub` claim.
const MAX_SUBJECT_CHARS: usize = 255;

/// Token issuer settings: expected claims and the JWKS location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// Expected `iss` claim, such as `https://tenant.eu.auth0.com/`.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// URL of the issuer's JWKS document.
    pub jwks_url: reqwest::Url,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Shortest time between two JWKS fetches triggered by unknown key ids.
    pub min_refresh_interval: Duration,
}

/// Claims of a verified token that the app uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// The `sub` claim: the user id.
    pub subject: String,
    /// The optional `name` claim.
    pub name: Option<String>,
    /// The optional `email` claim.
    pub email: Option<String>,
}

/// Reasons a request could not be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("the request has no Authorization header")]
    MissingToken,
    /// The header is not `Bearer <token>`.
    #[error("the Authorization header is not of the form `Bearer <token>`")]
    MalformedHeader,
    /// The token failed verification.
    #[error("the bearer token is invalid: {0}")]
    InvalidToken(String),
    /// The token has expired.
    #[error("the bearer token has expired")]
    Expired,
    /// The token names a signing key the issuer does not publish.
    #[error("the bearer token was signed with an unknown key")]
    UnknownKey,
    /// The issuer's keys could not be fetched.
    #[error("the signing keys could not be fetched: {0}")]
    KeysUnavailable(String),
}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Self {
        let detail = match &error {
            AuthError::MissingToken => {
                "Send an Authorization: Bearer <token> header; sign in to get a token.".to_owned()
            }
            AuthError::MalformedHeader => {
                "The Authorization header must be `Bearer <token>` with exactly one token."
                    .to_owned()
            }
            AuthError::InvalidToken(reason) => {
                format!("The bearer token is invalid ({reason}); sign in again.")
            }
            AuthError::Expired => "The bearer token has expired; sign in again.".to_owned(),
            AuthError::UnknownKey => {
                "The bearer token was signed with a key the issuer does not publish; sign in again."
                    .to_owned()
            }
            AuthError::KeysUnavailable(_) => {
                warn!(error = %error, "token signing keys are unavailable");
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "auth-keys-unavailable",
                    "The token signing keys could not be fetched; retry shortly.",
                );
            }
        };
        Problem::unauthorized(detail)
    }
}

/// Extracts the token from `Authorization: Bearer <token>`.
///
/// # Errors
/// [`AuthError::MissingToken`] or [`AuthError::MalformedHeader`].
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::MissingToken)?;
    let text = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
    let mut parts = text.split(' ');
    let (Some(scheme), Some(token), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(AuthError::MalformedHeader);
    };
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    last_fetch: Option<Instant>,
}

struct Shared {
    settings: AuthSettings,
    validation: Validation,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    /// Serialises JWKS fetches so a burst of unknown key ids fetches once.
    fetch: Mutex<()>,
}

/// Verifies bearer tokens against one issuer. Cheap to clone.
#[derive(Clone)]
pub struct TokenVerifier {
    shared: Arc<Shared>,
}

impl TokenVerifier {
    /// Builds a verifier; the JWKS is fetched on first use.
    pub fn new(settings: AuthSettings, http: reqwest::Client) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        // `set_audience` and `set_issuer` alone accept a token that lacks the
        // claim, so all four are listed as required.
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        Self {
            shared: Arc::new(Shared {
                settings,
                validation,
                http,
                cache: RwLock::new(KeyCache::default()),
                fetch: Mutex::new(()),
            }),
        }
    }

    /// Verifies `token` and returns its claims.
    ///
    /// # Errors
    /// [`AuthError`] describing why the token is not acceptable.
    pub async fn verify(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::InvalidToken("it is longer than 8 KiB".into()));
        }
        let header = decode_header(token)
            .map_err(|_| AuthError::InvalidToken("it is not a well-formed JWT".into()))?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::InvalidToken(format!(
                "it is signed with {:?}; only RS256 is accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::InvalidToken("its header has no kid".into()))?;
        let key = self.key(&kid).await?;
        let data = decode::<Claims>(token, &key, &self.shared.validation).map_err(map_error)?;
        let claims = data.claims;
        let subject_chars = claims.sub.chars().count();
        if subject_chars == 0 || subject_chars > MAX_SUBJECT_CHARS {
            return Err(AuthError::InvalidToken(
                "its sub claim must have 1 to 255 characters".into(),
            ));
        }
        Ok(VerifiedClaims {
            subject: claims.sub,
            name: claims.name,
            email: claims.email,
        })
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.shared.cache.read().await.keys.get(kid) {
            return Ok(key.clone());
        }
        let _fetching = self.shared.fetch.lock().await;
        {
            let cache = self.shared.cache.read().await;
            if let Some(key) = cache.keys.get(kid) {
                return Ok(key.clone());
            }
            let recently = cache
                .last_fetch
                .is_some_and(|at| at.elapsed() < self.shared.settings.min_refresh_interval);
            if recently {
                return if cache.keys.is_empty() {
                    Err(AuthError::KeysUnavailable(
                        "the last fetch failed moments ago".into(),
                    ))
                } else {
                    Err(AuthError::UnknownKey)
                };
            }
        }
        let fetched = self.fetch_keys().await;
        let mut cache = self.shared.cache.write().await;
        cache.last_fetch = Some(Instant::now());
        cache.keys = fetched?;
        info!(keys = cache.keys.len(), "fetched token signing keys");
        cache.keys.get(kid).cloned().ok_or(AuthError::UnknownKey)
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>, AuthError> {
        let url = self.shared.settings.jwks_url.clone();
        let unavailable = |reason: String| {
            warn!(jwks.url = %url, error = %reason, "fetching the JWKS failed");
            AuthError::KeysUnavailable(reason)
        };
        let response = self
            .shared
            .http
            .get(url.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        let set: JwkSet = response
            .json()
            .await
            .map_err(|error| unavailable(format!("invalid JWKS: {error}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), AlgorithmParameters::RSA(_)) = (&jwk.common.key_id, &jwk.algorithm)
            else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid.clone(), key);
            }
        }
        Ok(keys)
    }
}

fn map_error(error: jsonwebtoken::errors::Error) -> AuthError {
    let reason = match error.kind() {
        ErrorKind::ExpiredSignature => return AuthError::Expired,
        ErrorKind::InvalidSignature => "its signature does not match".to_owned(),
        ErrorKind::InvalidAudience => "it is meant for another audience".to_owned(),
        ErrorKind::InvalidIssuer => "it comes from another issuer".to_owned(),
        ErrorKind::ImmatureSignature => "it is not valid yet".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("it lacks the {claim} claim"),
        ErrorKind::InvalidAlgorithm => "it uses a disallowed algorithm".to_owned(),
        _ => "it could not be decoded".to_owned(),
    };
    AuthError::InvalidToken(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&headers("bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(&headers("Bearer abc")).unwrap(), "abc");
    }

    #[test]
    fn other_schemes_and_shapes_are_rejected() {
        for value in ["Basic abc", "Bearer", "Bearer a b", "Bearer  abc", "abc"] {
            assert!(
                matches!(
                    bearer_token(&headers(value)),
                    Err(AuthError::MalformedHeader)
                ),
                "{value}"
            );
        }
        assert!(matches!(
            bearer_token(&HeaderMap::new()),
            Err(AuthError::MissingToken)
        ));
    }
}
