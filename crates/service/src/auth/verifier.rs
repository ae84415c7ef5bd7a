//! RS256 bearer-token verification against an issuer's JWKS.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::jwks::JwksCache;
use super::AuthError;

/// Maximum token length, in bytes. Longer tokens are rejected before parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Maximum `sub` length, in characters, because the subject becomes part of storage keys.
pub const MAX_SUBJECT_CHARS: usize = 255;

/// Issuer, audience and key source that a [`TokenVerifier`] checks tokens against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// Expected `iss` claim, compared byte for byte (Auth0 uses `https://<domain>/`).
    pub issuer: String,
    /// Expected `aud` claim, or one of the entries when `aud` is an array.
    pub audience: String,
    /// Location of the issuer's JSON Web Key Set.
    pub jwks_url: reqwest::Url,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Shortest time between two JWKS fetches.
    pub min_refresh_interval: Duration,
}

impl AuthSettings {
    /// Default [`AuthSettings::leeway`].
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
    /// Default [`AuthSettings::min_refresh_interval`].
    pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

    /// Builds settings with the default leeway and refresh interval.
    pub fn new(issuer: String, audience: String, jwks_url: reqwest::Url) -> Self {
        Self {
            issuer,
            audience,
            jwks_url,
            leeway: Self::DEFAULT_LEEWAY,
            min_refresh_interval: Self::DEFAULT_MIN_REFRESH_INTERVAL,
        }
    }
}

/// Identity of the caller, taken from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// The `sub` claim: non-empty, at most [`MAX_SUBJECT_CHARS`] characters, no control characters.
    pub subject: String,
    /// The optional `name` claim.
    pub name: Option<String>,
    /// The optional `email` claim, as the issuer sent it.
    pub email: Option<String>,
}

/// Claims read from the payload. `sub` is optional here so that a missing
/// `sub` reaches the required-claim check and gets a precise reason.
#[derive(Deserialize)]
struct TokenClaims {
    sub: Option<String>,
    name: Option<String>,
    email: Option<String>,
}

/// Verifier of RS256 bearer tokens. Clones are cheap and share one key cache.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    validation: Validation,
    keys: JwksCache,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenVerifier")
            .field("issuer", &self.inner.validation.iss)
            .field("audience", &self.inner.validation.aud)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// Creates a verifier. The JWKS is fetched on the first verification, not here.
    pub fn new(settings: AuthSettings, http: reqwest::Client) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        // `set_issuer` and `set_audience` only check the claims when present,
        // so the required list is what rejects a token without them.
        validation.set_required_spec_claims(&["iss", "aud", "exp", "sub"]);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;

        let keys = JwksCache::new(settings.jwks_url, http, settings.min_refresh_interval);
        Self {
            inner: Arc::new(Inner { validation, keys }),
        }
    }

    /// Verifies the signature and claims of `token` and returns the caller's identity.
    ///
    /// Only RS256 is accepted, whatever the token header claims, and the key
    /// is chosen by the header's `kid`. An unknown `kid` triggers at most one
    /// JWKS refresh per `min_refresh_interval`.
    ///
    /// # Errors
    ///
    /// [`AuthError::Expired`] for an expired token, [`AuthError::UnknownKey`]
    /// when no key has the `kid`, [`AuthError::KeysUnavailable`] when the JWKS
    /// cannot be fetched, and [`AuthError::InvalidToken`] for every other
    /// failure: too long, malformed, another algorithm, bad signature, wrong or
    /// missing `iss`, `aud`, `exp` or `sub`, or a `sub` that is empty, too long
    /// or contains control characters.
    pub async fn verify(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid(format!(
                "the token is {} bytes, longer than {MAX_TOKEN_BYTES}",
                token.len()
            )));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| invalid(format!("the header is malformed: {error}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid(format!(
                "the algorithm {:?} is not RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the header has no kid".to_owned()))?;

        let key = self.inner.keys.key(&kid).await?;
        let data = jsonwebtoken::decode::<TokenClaims>(token, &key, &self.inner.validation)
            .map_err(map_decode_error)?;
        claims_from(data.claims)
    }
}

fn invalid(reason: String) -> AuthError {
    AuthError::InvalidToken(reason)
}

fn map_decode_error(error: jsonwebtoken::errors::Error) -> AuthError {
    match error.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::InvalidSignature => invalid("the signature does not match".to_owned()),
        ErrorKind::InvalidIssuer => invalid("the issuer does not match".to_owned()),
        ErrorKind::InvalidAudience => invalid("the audience does not match".to_owned()),
        ErrorKind::ImmatureSignature => invalid("the token is not valid yet (nbf)".to_owned()),
        ErrorKind::MissingRequiredClaim(claim) => {
            invalid(format!("the required claim {claim} is missing"))
        }
        _ => invalid(format!("decoding failed: {error}")),
    }
}

fn claims_from(claims: TokenClaims) -> Result<VerifiedClaims, AuthError> {
    let subject = claims.sub.unwrap_or_default();
    if subject.is_empty() {
        return Err(invalid("the sub claim is empty".to_owned()));
    }
    let length = subject.chars().count();
    if length > MAX_SUBJECT_CHARS {
        return Err(invalid(format!(
            "the sub claim has {length} characters, more than {MAX_SUBJECT_CHARS}"
        )));
    }
    if subject.chars().any(char::is_control) {
        return Err(invalid(
            "the sub claim contains control characters".to_owned(),
        ));
    }
    Ok(VerifiedClaims {
        subject,
        name: claims.name,
        email: claims.email,
    })
}
