//! Local development identity provider: mints RS256 tokens and serves their JWKS.
//!
//! It replaces Auth0 on a developer machine. Its tokens are checked by the
//! same [`super::TokenVerifier`] code path, which fetches `/dev/jwks.json` over
//! HTTP exactly as it fetches Auth0's key set.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::http::problem::{FieldProblem, Problem};

/// Lifetime of a minted token.
pub const DEV_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Size of the generated RSA modulus, in bits.
const KEY_BITS: usize = 2048;

/// Maximum `/dev/token` request body size, in bytes. A valid body is far smaller.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

const MAX_SUBJECT_CHARS: usize = super::MAX_SUBJECT_CHARS;
const MAX_NAME_CHARS: usize = 200;
/// Maximum email length: a 64-character local part, `@` and a 255-character domain.
const MAX_EMAIL_CHARS: usize = 320;

/// Failures of the development identity provider.
#[derive(Debug, thiserror::Error)]
pub enum DevIdentityError {
    /// RSA key generation failed.
    #[error("generating the {KEY_BITS}-bit RSA key failed: {0}")]
    KeyGeneration(#[source] rsa::Error),
    /// The private key could not be encoded as PKCS#1 DER for signing.
    #[error("encoding the RSA private key as PKCS#1 failed: {0}")]
    KeyEncoding(String),
    /// The blocking key-generation task panicked or was cancelled.
    #[error("the key generation task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// Signing the token failed.
    #[error("signing the token failed: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// A field of the token request is missing or invalid.
    #[error("invalid token request field {field}: {message}")]
    InvalidRequest {
        /// Name of the JSON field, or `body` for the document as a whole.
        field: String,
        /// Stable rule name, such as `required` or `too-long`.
        rule: &'static str,
        /// Client-safe sentence naming the value and the fix.
        message: String,
    },
    /// The provider was about to listen on an address other hosts can reach.
    #[error(
        "the development identity provider must listen on a loopback address, not {0}; \
         bind to 127.0.0.1 or [::1], or set AUTH0_DOMAIN and AUTH0_AUDIENCE to use Auth0"
    )]
    NotLoopback(SocketAddr),
}

fn invalid_field(field: &str, rule: &'static str, message: String) -> DevIdentityError {
    DevIdentityError::InvalidRequest {
        field: field.to_owned(),
        rule,
        message,
    }
}

/// Body of `POST /dev/token`: the identity the minted token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevTokenRequest {
    /// Subject, 1 to 255 characters without control characters.
    pub sub: String,
    /// Display name, at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email address, at most 320 characters. Its format is not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl DevTokenRequest {
    /// Checks the length and character limits of every field.
    ///
    /// # Errors
    ///
    /// [`DevIdentityError::InvalidRequest`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), DevIdentityError> {
        if self.sub.is_empty() {
            return Err(invalid_field(
                "sub",
                "required",
                "sub is empty; send the user id to sign in as, such as \"dev|alice\"".to_owned(),
            ));
        }
        check_text("sub", &self.sub, MAX_SUBJECT_CHARS)?;
        if let Some(name) = &self.name {
            check_text("name", name, MAX_NAME_CHARS)?;
        }
        if let Some(email) = &self.email {
            check_text("email", email, MAX_EMAIL_CHARS)?;
        }
        Ok(())
    }
}

fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), DevIdentityError> {
    let length = value.chars().count();
    if length > max_chars {
        return Err(invalid_field(
            field,
            "too-long",
            format!("{field} has {length} characters; shorten it to at most {max_chars}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid_field(
            field,
            "control-character",
            format!("{field} contains a control character; remove it"),
        ));
    }
    Ok(())
}

/// Body of a successful `POST /dev/token` response, shaped like an OAuth 2.0 token response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevTokenResponse {
    /// The signed JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Claims of a minted token.
#[derive(Serialize)]
struct DevClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
}

/// An ephemeral RS256 issuer for local runs, whose key exists only in memory.
pub struct DevIdentityProvider {
    issuer: String,
    audience: String,
    kid: String,
    encoding_key: EncodingKey,
    /// Public modulus, base64url without padding.
    modulus: String,
    /// Public exponent, base64url without padding.
    exponent: String,
}

impl std::fmt::Debug for DevIdentityProvider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DevIdentityProvider")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevIdentityProvider {
    /// Generates a provider with a fresh RSA-2048 key and a random `kid`.
    ///
    /// Key generation is CPU-bound and blocks the calling thread, so async
    /// code should call [`Self::generate_async`] instead.
    ///
    /// # Errors
    ///
    /// [`DevIdentityError::KeyGeneration`] or [`DevIdentityError::KeyEncoding`].
    pub fn generate(issuer: String, audience: String) -> Result<Self, DevIdentityError> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), KEY_BITS)
            .map_err(DevIdentityError::KeyGeneration)?;
        let mut kid_bytes = [0_u8; 16];
        rand::thread_rng().fill_bytes(&mut kid_bytes);
        Self::from_private_key(issuer, audience, URL_SAFE_NO_PAD.encode(kid_bytes), &key)
    }

    /// Runs [`Self::generate`] on the blocking thread pool.
    ///
    /// # Errors
    ///
    /// As [`Self::generate`], plus [`DevIdentityError::Task`] if the task panics.
    pub async fn generate_async(
        issuer: String,
        audience: String,
    ) -> Result<Self, DevIdentityError> {
        tokio::task::spawn_blocking(move || Self::generate(issuer, audience))
            .await
            .map_err(DevIdentityError::Task)?
    }

    /// Builds a provider from an existing key and `kid`, for tests that need a
    /// second key under the same `kid` or a key shared between providers.
    ///
    /// # Errors
    ///
    /// [`DevIdentityError::KeyEncoding`] if the key cannot be encoded as PKCS#1.
    pub fn from_private_key(
        issuer: String,
        audience: String,
        kid: String,
        key: &RsaPrivateKey,
    ) -> Result<Self, DevIdentityError> {
        let der = key
            .to_pkcs1_der()
            .map_err(|error| DevIdentityError::KeyEncoding(error.to_string()))?;
        Ok(Self {
            issuer,
            audience,
            kid,
            encoding_key: EncodingKey::from_rsa_der(der.as_bytes()),
            modulus: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            exponent: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        })
    }

    /// Key id placed in every token header and in the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Value of the `iss` claim.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Value of the `aud` claim.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Builds the public JWKS document with the provider's one signing key.
    pub fn jwks(&self) -> Value {
        serde_json::json!({
            "keys": [{
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": self.kid,
                "n": self.modulus,
                "e": self.exponent,
            }]
        })
    }

    /// Validates `request` and signs a token for it that expires after [`DEV_TOKEN_LIFETIME`].
    ///
    /// # Errors
    ///
    /// [`DevIdentityError::InvalidRequest`] for an invalid field and
    /// [`DevIdentityError::Signing`] if signing fails.
    pub fn mint(&self, request: &DevTokenRequest) -> Result<DevTokenResponse, DevIdentityError> {
        request.validate()?;
        let issued_at = time::OffsetDateTime::now_utc().unix_timestamp();
        let lifetime = DEV_TOKEN_LIFETIME.as_secs();
        let claims = DevClaims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: &request.sub,
            iat: issued_at,
            exp: issued_at.saturating_add_unsigned(lifetime),
            name: request.name.as_deref(),
            email: request.email.as_deref(),
        };
        Ok(DevTokenResponse {
            access_token: self.sign(&claims)?,
            token_type: "Bearer".to_owned(),
            expires_in: lifetime,
        })
    }

    /// Signs arbitrary `claims` with the provider's key, RS256 and its `kid`.
    ///
    /// Unlike [`Self::mint`] this checks nothing, so tests can build expired
    /// tokens or tokens that lack required claims.
    ///
    /// # Errors
    ///
    /// [`DevIdentityError::Signing`] if the claims cannot be serialized or signed.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, DevIdentityError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key).map_err(DevIdentityError::Signing)
    }
}

/// Checks that the provider is about to listen on a loopback address.
///
/// The host calls this before serving [`router`], because anyone who can
/// reach `/dev/token` can sign in as any user.
///
/// # Errors
///
/// [`DevIdentityError::NotLoopback`] for any other address, including
/// `0.0.0.0`, `[::]` and IPv4-mapped IPv6 loopback addresses.
pub fn ensure_loopback(address: &SocketAddr) -> Result<(), DevIdentityError> {
    if address.ip().is_loopback() {
        Ok(())
    } else {
        Err(DevIdentityError::NotLoopback(*address))
    }
}

/// Builds the routes `POST /dev/token` and `GET /dev/jwks.json`.
///
/// Call [`ensure_loopback`] on the listening address before serving them.
pub fn router(provider: Arc<DevIdentityProvider>) -> Router {
    Router::new()
        .route(
            "/dev/token",
            post(issue_token).fallback(crate::http::method_not_allowed),
        )
        .route(
            "/dev/jwks.json",
            get(serve_jwks).fallback(crate::http::method_not_allowed),
        )
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(provider)
}

async fn serve_jwks(State(provider): State<Arc<DevIdentityProvider>>) -> Json<Value> {
    Json(provider.jwks())
}

async fn issue_token(
    State(provider): State<Arc<DevIdentityProvider>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DevTokenResponse>, Problem> {
    let content_type = content_type(&headers);
    if !is_json(content_type) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("The content type {content_type:?} is not supported; send application/json."),
        ));
    }
    let body = body.map_err(|rejection| {
        Problem::new(
            rejection.status(),
            "invalid-body",
            format!("Reading the body failed: {}", rejection.body_text()),
        )
    })?;
    let request = parse_token_request(&body).map_err(token_problem)?;
    let response = provider.mint(&request).map_err(token_problem)?;
    tracing::debug!(sub = %request.sub, "minted a development token");
    Ok(Json(response))
}

/// Returns the `Content-Type` header, or `""` when it is absent or not ASCII.
fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// Checks for `application/json`, ignoring case and parameters such as `charset`.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Maps an invalid request to 400 naming the field, and every other error to a logged 500.
fn token_problem(error: DevIdentityError) -> Problem {
    let DevIdentityError::InvalidRequest {
        field,
        rule,
        message,
    } = error
    else {
        tracing::error!(%error, "failed to mint a development token");
        return Problem::internal();
    };
    Problem::bad_request(format!("The token request is invalid: {message}.")).with_errors(vec![
        FieldProblem {
            index: None,
            field,
            rule: rule.to_owned(),
            message,
        },
    ])
}

/// Parses the body field by field, so that every error names the field.
fn parse_token_request(body: &[u8]) -> Result<DevTokenRequest, DevIdentityError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        invalid_field(
            "body",
            "invalid-json",
            format!("the body is not valid JSON ({error})"),
        )
    })?;
    let Value::Object(object) = value else {
        return Err(invalid_field(
            "body",
            "type",
            "the body must be a JSON object such as {\"sub\": \"dev|alice\"}".to_owned(),
        ));
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !matches!(key.as_str(), "sub" | "name" | "email"))
    {
        return Err(invalid_field(
            unknown,
            "unknown-field",
            format!("{unknown} is not a known field; send only sub, name and email"),
        ));
    }

    let sub = string_field(&object, "sub")?.ok_or_else(|| {
        invalid_field(
            "sub",
            "required",
            "sub is missing; send the user id to sign in as, such as \"dev|alice\"".to_owned(),
        )
    })?;
    let request = DevTokenRequest {
        sub,
        name: string_field(&object, "name")?,
        email: string_field(&object, "email")?,
    };
    request.validate()?;
    Ok(request)
}

/// Reads an optional string field, where JSON `null` counts as absent.
fn string_field(
    object: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, DevIdentityError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid_field(
            field,
            "type",
            format!("{field} must be a JSON string"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A panic in a test is a failure with a location.
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_pass() {
        for address in ["127.0.0.1:7071", "[::1]:7071", "127.0.0.2:80"] {
            assert!(
                ensure_loopback(&address.parse().unwrap()).is_ok(),
                "{address}"
            );
        }
    }

    #[test]
    fn other_addresses_are_rejected() {
        for address in [
            "0.0.0.0:7071",
            "[::]:7071",
            "192.168.1.5:7071",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(
                ensure_loopback(&address.parse().unwrap()).is_err(),
                "{address}"
            );
        }
    }

    #[test]
    fn request_parsing_names_the_field() {
        let cases = [
            (r#"{"sub": 5}"#, "sub", "type"),
            (r#"{"name": "A"}"#, "sub", "required"),
            (r#"{"sub": ""}"#, "sub", "required"),
            (r#"{"sub": "a\u0000b"}"#, "sub", "control-character"),
            (r#"{"sub": "a", "role": "admin"}"#, "role", "unknown-field"),
            (r#"{"sub": "a", "email": ["x"]}"#, "email", "type"),
            (r#"[]"#, "body", "type"),
            (r#"{"sub": "#, "body", "invalid-json"),
        ];
        for (body, expected_field, expected_rule) in cases {
            let error = parse_token_request(body.as_bytes()).unwrap_err();
            let DevIdentityError::InvalidRequest { field, rule, .. } = error else {
                panic!("{body} gave {error}");
            };
            assert_eq!(field, expected_field, "{body}");
            assert_eq!(rule, expected_rule, "{body}");
        }
    }

    #[test]
    fn request_limits_count_characters() {
        let at_limit = DevTokenRequest {
            sub: "é".repeat(MAX_SUBJECT_CHARS),
            name: Some("n".repeat(MAX_NAME_CHARS)),
            email: Some("e".repeat(MAX_EMAIL_CHARS)),
        };
        assert!(at_limit.validate().is_ok());

        let mut long_name = at_limit.clone();
        long_name.name = Some("n".repeat(MAX_NAME_CHARS + 1));
        assert!(long_name.validate().is_err());

        let mut long_email = at_limit.clone();
        long_email.email = Some("e".repeat(MAX_EMAIL_CHARS + 1));
        assert!(long_email.validate().is_err());

        let mut long_sub = at_limit;
        long_sub.sub.push('x');
        assert!(long_sub.validate().is_err());
    }

    #[test]
    fn null_optional_fields_count_as_absent() {
        let request = parse_token_request(br#"{"sub": "dev|a", "name": null}"#).unwrap();
        assert_eq!(request.name, None);
    }
}
