//! The development identity provider of the local host: an ephemeral RSA
//! key, its JWKS, and `POST /dev/token` to mint a token for any user.
//!
//! It exists so local runs need no Auth0 account, yet the API verifies its
//! tokens through the same JWKS code path as production tokens. It refuses
//! to serve on a non-loopback address and never runs in the Functions host.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::http::commands::require_json;
use crate::http::problem::{FieldProblem, Problem};

/// Lifetime of a minted token.
pub const TOKEN_LIFETIME_SECONDS: u64 = 3600;

/// Body of `POST /dev/token`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevTokenRequest {
    /// User id to put in `sub`.
    pub sub: String,
    /// Optional `name` claim.
    #[serde(default)]
    pub name: Option<String>,
    /// Optional `email` claim.
    #[serde(default)]
    pub email: Option<String>,
}

/// Response body of `POST /dev/token`, shaped like an OAuth token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevTokenResponse {
    /// The signed JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Errors of the development identity provider.
#[derive(Debug, thiserror::Error)]
pub enum DevIdentityError {
    /// Generating or encoding the key failed.
    #[error("creating the development signing key failed: {0}")]
    Key(String),
    /// The host tried to serve the provider on a non-loopback address.
    #[error("the development identity provider only runs on loopback, not on {0}; bind 127.0.0.1")]
    NotLoopback(SocketAddr),
    /// Signing a token failed.
    #[error("signing a development token failed: {0}")]
    Signing(String),
}

/// An ephemeral RSA key pair that signs development tokens.
pub struct DevIdentityProvider {
    issuer: String,
    audience: String,
    key_id: String,
    encoding_key: EncodingKey,
    jwks: Value,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
}

impl DevIdentityProvider {
    /// Generates a fresh RSA-2048 key; this takes CPU time, see [`Self::generate_async`].
    ///
    /// # Errors
    /// [`DevIdentityError::Key`] when key generation or encoding fails.
    pub fn generate(issuer: String, audience: String) -> Result<Self, DevIdentityError> {
        let mut rng = rand::thread_rng();
        let private_key = RsaPrivateKey::new(&mut rng, 2048)
            .map_err(|error| DevIdentityError::Key(error.to_string()))?;
        let pem = private_key
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .map_err(|error| DevIdentityError::Key(error.to_string()))?;
        let encoding_key = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|error| DevIdentityError::Key(error.to_string()))?;
        let key_id = uuid::Uuid::new_v4().simple().to_string();
        let public_key = private_key.to_public_key();
        let jwks = json!({ "keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": key_id,
            "n": URL_SAFE_NO_PAD.encode(public_key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public_key.e().to_bytes_be()),
        }]});
        Ok(Self {
            issuer,
            audience,
            key_id,
            encoding_key,
            jwks,
        })
    }

    /// Generates the key on a blocking thread.
    ///
    /// # Errors
    /// As [`Self::generate`].
    pub async fn generate_async(
        issuer: String,
        audience: String,
    ) -> Result<Self, DevIdentityError> {
        tokio::task::spawn_blocking(move || Self::generate(issuer, audience))
            .await
            .map_err(|error| DevIdentityError::Key(error.to_string()))?
    }

    /// Rejects any address that is not loopback.
    ///
    /// # Errors
    /// [`DevIdentityError::NotLoopback`].
    pub fn ensure_loopback(address: &SocketAddr) -> Result<(), DevIdentityError> {
        if address.ip().is_loopback() {
            Ok(())
        } else {
            Err(DevIdentityError::NotLoopback(*address))
        }
    }

    /// Returns the public key set, as served at `/dev/jwks.json`.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Mints a token for a validated request.
    ///
    /// # Errors
    /// [`DevIdentityError::Signing`].
    pub fn mint(&self, request: &DevTokenRequest) -> Result<DevTokenResponse, DevIdentityError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        let claims = Claims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: &request.sub,
            iat: now,
            nbf: now,
            exp: now + TOKEN_LIFETIME_SECONDS,
            name: request.name.as_deref(),
            email: request.email.as_deref(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.key_id.clone());
        let access_token = encode(&header, &claims, &self.encoding_key)
            .map_err(|error| DevIdentityError::Signing(error.to_string()))?;
        Ok(DevTokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: TOKEN_LIFETIME_SECONDS,
        })
    }
}

/// Routes `POST /dev/token` and `GET /dev/jwks.json`.
pub fn router(provider: Arc<DevIdentityProvider>) -> Router {
    Router::new()
        .route("/dev/token", post(mint_token))
        .route("/dev/jwks.json", get(jwks))
        .with_state(provider)
}

async fn jwks(State(provider): State<Arc<DevIdentityProvider>>) -> Response {
    Json(provider.jwks().clone()).into_response()
}

async fn mint_token(
    State(provider): State<Arc<DevIdentityProvider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_json(&headers)?;
    let request: DevTokenRequest = serde_json::from_slice(&body).map_err(|error| {
        Problem::bad_request(format!(
            "The body must be {{\"sub\": \"...\", \"name\"?: \"...\", \"email\"?: \"...\"}} ({error})."
        ))
    })?;
    let problems = validate(&request);
    if !problems.is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-token-request",
            "The token request is invalid; fix the listed fields.",
        )
        .with_errors(problems));
    }
    let response = provider.mint(&request).map_err(|error| {
        tracing::error!(error = %error, "minting a development token failed");
        Problem::internal()
    })?;
    Ok(Json(response).into_response())
}

fn validate(request: &DevTokenRequest) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let mut check = |field: &str, value: &str, min: usize, max: usize| {
        let length = value.chars().count();
        if length < min || length > max {
            problems.push(FieldProblem {
                index: None,
                field: field.into(),
                rule: "length".into(),
                message: format!("{field} must have {min} to {max} characters but has {length}."),
            });
        } else if value.chars().any(char::is_control) {
            problems.push(FieldProblem {
                index: None,
                field: field.into(),
                rule: "invalid-characters".into(),
                message: format!("{field} must not contain control characters."),
            });
        }
    };
    check("sub", &request.sub, 1, 255);
    if let Some(name) = &request.name {
        check("name", name, 0, 200);
    }
    if let Some(email) = &request.email {
        check("email", email, 0, 320);
    }
    problems
}
