//! Token verification over real loopback HTTP, against the development identity provider
//! and a counting JWKS server started by each test.

// A panic in a test is a failure with a location.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use prism_service::auth::{
    AuthError, AuthSettings, Authenticated, DevIdentityProvider, TokenVerifier,
};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

const AUDIENCE: &str = "prism-plan-local";

fn http_client() -> reqwest::Client {
    // Proxy variables must never redirect loopback test traffic elsewhere.
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn bind_loopback() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

fn serve(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(async move { axum::serve(listener, router).await });
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The development provider served by its own router, as the local host runs it.
struct DevServer {
    provider: Arc<DevIdentityProvider>,
    address: SocketAddr,
}

impl DevServer {
    async fn start() -> Self {
        let (listener, address) = bind_loopback().await;
        prism_service::auth::ensure_loopback(&address).unwrap();
        let issuer = format!("http://{address}/dev");
        let provider = DevIdentityProvider::generate_async(issuer, AUDIENCE.to_owned())
            .await
            .unwrap();
        let provider = Arc::new(provider);
        serve(listener, prism_service::auth::router(provider.clone()));
        Self { provider, address }
    }

    fn settings(&self) -> AuthSettings {
        let jwks_url = format!("http://{}/dev/jwks.json", self.address);
        AuthSettings::new(
            self.provider.issuer().to_owned(),
            AUDIENCE.to_owned(),
            jwks_url.parse().unwrap(),
        )
    }

    fn verifier(&self) -> TokenVerifier {
        TokenVerifier::new(self.settings(), http_client())
    }

    fn claims(&self, sub: &str) -> Value {
        json!({
            "iss": self.provider.issuer(),
            "aud": AUDIENCE,
            "sub": sub,
            "iat": now(),
            "exp": now() + 600,
        })
    }

    async fn post_token(&self, content_type: Option<&str>, body: &str) -> reqwest::Response {
        let mut request = http_client()
            .post(format!("http://{}/dev/token", self.address))
            .body(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.unwrap()
    }
}

/// A JWKS endpoint that counts requests and whose document and status a test can swap.
struct JwksServer {
    address: SocketAddr,
    fetches: Arc<AtomicUsize>,
    document: Arc<Mutex<Value>>,
    status: Arc<Mutex<StatusCode>>,
}

#[derive(Clone)]
struct JwksState {
    fetches: Arc<AtomicUsize>,
    document: Arc<Mutex<Value>>,
    status: Arc<Mutex<StatusCode>>,
    delay: Duration,
}

async fn counted_jwks(State(state): State<JwksState>) -> (StatusCode, Json<Value>) {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    // The delay keeps a fetch in flight long enough for concurrent callers to pile up.
    tokio::time::sleep(state.delay).await;
    let status = *state.status.lock().unwrap();
    let document = state.document.lock().unwrap().clone();
    (status, Json(document))
}

impl JwksServer {
    async fn start(document: Value, delay: Duration) -> Self {
        let (listener, address) = bind_loopback().await;
        let state = JwksState {
            fetches: Arc::new(AtomicUsize::new(0)),
            document: Arc::new(Mutex::new(document)),
            status: Arc::new(Mutex::new(StatusCode::OK)),
            delay,
        };
        let router = Router::new()
            .route("/jwks.json", get(counted_jwks))
            .with_state(state.clone());
        serve(listener, router);
        Self {
            address,
            fetches: state.fetches,
            document: state.document,
            status: state.status,
        }
    }

    fn verifier(&self, issuer: &str, min_refresh_interval: Duration) -> TokenVerifier {
        let jwks_url = format!("http://{}/jwks.json", self.address);
        let mut settings = AuthSettings::new(
            issuer.to_owned(),
            AUDIENCE.to_owned(),
            jwks_url.parse().unwrap(),
        );
        settings.min_refresh_interval = min_refresh_interval;
        TokenVerifier::new(settings, http_client())
    }

    fn fetch_count(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn new_key() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap()
}

fn assert_invalid(result: Result<prism_service::auth::VerifiedClaims, AuthError>, case: &str) {
    assert!(
        matches!(result, Err(AuthError::InvalidToken(_))),
        "{case}: expected InvalidToken, got {result:?}"
    );
}

fn encode_segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn minted_token_verifies() {
    let server = DevServer::start().await;
    let body = r#"{"sub": "dev|alice", "name": "Alice", "email": "alice@example.com"}"#;
    let response = server.post_token(Some("application/json"), body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let minted: Value = response.json().await.unwrap();
    assert_eq!(minted["token_type"], "Bearer");
    assert_eq!(minted["expires_in"], 3600);

    let token = minted["access_token"].as_str().unwrap();
    let claims = server.verifier().verify(token).await.unwrap();
    assert_eq!(claims.subject, "dev|alice");
    assert_eq!(claims.name.as_deref(), Some("Alice"));
    assert_eq!(claims.email.as_deref(), Some("alice@example.com"));
}

#[tokio::test]
async fn jwks_endpoint_publishes_the_key() {
    let server = DevServer::start().await;
    let url = format!("http://{}/dev/jwks.json", server.address);
    let document: Value = http_client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &document["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["kid"], server.provider.kid());
    assert_eq!(key["e"], "AQAB");
    assert!(!key["n"].as_str().unwrap().contains('='));
}

#[tokio::test]
async fn expired_token_is_rejected() {
    let server = DevServer::start().await;
    let mut claims = server.claims("dev|alice");
    claims["iat"] = json!(now() - 7200);
    claims["exp"] = json!(now() - 3600);
    let token = server.provider.sign(&claims).unwrap();
    assert_eq!(
        server.verifier().verify(&token).await,
        Err(AuthError::Expired)
    );
}

#[tokio::test]
async fn expiry_within_leeway_is_accepted() {
    let server = DevServer::start().await;
    let mut claims = server.claims("dev|alice");
    claims["exp"] = json!(now() - 5);
    let token = server.provider.sign(&claims).unwrap();
    assert!(server.verifier().verify(&token).await.is_ok());
}

#[tokio::test]
async fn wrong_audience_or_issuer_is_rejected() {
    let server = DevServer::start().await;
    let token = server.provider.sign(&server.claims("dev|alice")).unwrap();

    let mut settings = server.settings();
    settings.audience = "another-api".to_owned();
    let verifier = TokenVerifier::new(settings, http_client());
    assert_invalid(verifier.verify(&token).await, "wrong audience");

    let mut settings = server.settings();
    settings.issuer = "https://another-issuer.example/".to_owned();
    let verifier = TokenVerifier::new(settings, http_client());
    assert_invalid(verifier.verify(&token).await, "wrong issuer");
}

#[tokio::test]
async fn missing_required_claims_are_rejected() {
    let server = DevServer::start().await;
    let verifier = server.verifier();
    for claim in ["aud", "iss", "sub", "exp"] {
        let mut claims = server.claims("dev|alice");
        claims.as_object_mut().unwrap().remove(claim);
        let token = server.provider.sign(&claims).unwrap();
        assert_invalid(verifier.verify(&token).await, claim);
    }
}

#[tokio::test]
async fn unusable_subjects_are_rejected() {
    let server = DevServer::start().await;
    let verifier = server.verifier();
    let too_long = "s".repeat(256);
    for subject in ["", too_long.as_str(), "dev|a\nb"] {
        let token = server.provider.sign(&server.claims(subject)).unwrap();
        assert_invalid(verifier.verify(&token).await, subject);
    }
    let longest = "s".repeat(255);
    let token = server.provider.sign(&server.claims(&longest)).unwrap();
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn hs256_token_is_rejected() {
    let server = DevServer::start().await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(server.provider.kid().to_owned());
    let claims = server.claims("dev|alice");
    let token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"secret")).unwrap();
    assert_invalid(server.verifier().verify(&token).await, "HS256");
}

#[tokio::test]
async fn hmac_signature_under_rs256_header_is_rejected() {
    // The classic confusion attack signs with HMAC, keyed by the public key,
    // and claims RS256 in the header.
    let server = DevServer::start().await;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": server.provider.kid()});
    let message = format!(
        "{}.{}",
        encode_segment(&header),
        encode_segment(&server.claims("dev|alice"))
    );
    let public_key = server.provider.jwks()["keys"][0]["n"].to_string();
    let hmac_key = EncodingKey::from_secret(public_key.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &hmac_key, Algorithm::HS256).unwrap();
    let token = format!("{message}.{signature}");
    assert_invalid(server.verifier().verify(&token).await, "HMAC as RS256");
}

#[tokio::test]
async fn unsigned_token_is_rejected() {
    let server = DevServer::start().await;
    let verifier = server.verifier();
    let payload = encode_segment(&server.claims("dev|alice"));
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": server.provider.kid()});
        let token = format!("{}.{payload}.", encode_segment(&header));
        assert_invalid(verifier.verify(&token).await, alg);
    }
}

#[tokio::test]
async fn tampered_token_is_rejected() {
    let server = DevServer::start().await;
    let verifier = server.verifier();
    let token = server.provider.sign(&server.claims("dev|alice")).unwrap();
    let parts: Vec<&str> = token.split('.').collect();

    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[10] ^= 0x01;
    let bad_signature = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    assert_invalid(
        verifier.verify(&bad_signature).await,
        "flipped signature bit",
    );

    let other_payload = encode_segment(&server.claims("dev|mallory"));
    let bad_payload = format!("{}.{other_payload}.{}", parts[0], parts[2]);
    assert_invalid(verifier.verify(&bad_payload).await, "swapped payload");
}

#[tokio::test]
async fn other_key_with_same_kid_is_rejected() {
    let server = DevServer::start().await;
    let impostor = DevIdentityProvider::from_private_key(
        server.provider.issuer().to_owned(),
        AUDIENCE.to_owned(),
        server.provider.kid().to_owned(),
        &new_key(),
    )
    .unwrap();
    let token = impostor.sign(&server.claims("dev|alice")).unwrap();
    assert_invalid(server.verifier().verify(&token).await, "impostor key");
}

#[tokio::test]
async fn oversized_token_is_rejected_without_fetching() {
    let jwks = JwksServer::start(json!({"keys": []}), Duration::ZERO).await;
    let verifier = jwks.verifier("https://issuer.example/", Duration::ZERO);
    let token = "a".repeat(8 * 1024 + 1);
    assert_invalid(verifier.verify(&token).await, "oversized");
    assert_eq!(jwks.fetch_count(), 0);
}

#[tokio::test]
async fn unknown_kid_is_rejected() {
    let server = DevServer::start().await;
    let stranger = DevIdentityProvider::from_private_key(
        server.provider.issuer().to_owned(),
        AUDIENCE.to_owned(),
        "unknown-kid".to_owned(),
        &new_key(),
    )
    .unwrap();
    let token = stranger.sign(&server.claims("dev|alice")).unwrap();
    assert_eq!(
        server.verifier().verify(&token).await,
        Err(AuthError::UnknownKey)
    );
}

#[tokio::test]
async fn rotated_key_is_fetched_once() {
    let issuer = "https://issuer.example/";
    let old = DevIdentityProvider::generate_async(issuer.to_owned(), AUDIENCE.to_owned())
        .await
        .unwrap();
    let new = DevIdentityProvider::generate_async(issuer.to_owned(), AUDIENCE.to_owned())
        .await
        .unwrap();
    let claims = json!({"iss": issuer, "aud": AUDIENCE, "sub": "dev|alice", "exp": now() + 600});
    let jwks = JwksServer::start(old.jwks(), Duration::ZERO).await;
    let verifier = jwks.verifier(issuer, Duration::from_millis(100));

    assert!(verifier.verify(&old.sign(&claims).unwrap()).await.is_ok());
    assert_eq!(jwks.fetch_count(), 1);

    *jwks.document.lock().unwrap() = new.jwks();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let new_token = new.sign(&claims).unwrap();
    assert!(verifier.verify(&new_token).await.is_ok());
    assert_eq!(jwks.fetch_count(), 2);

    assert!(verifier.verify(&new_token).await.is_ok());
    assert_eq!(jwks.fetch_count(), 2);
}

#[tokio::test]
async fn burst_of_unknown_kids_fetches_once() {
    let issuer = "https://issuer.example/";
    let known = DevIdentityProvider::generate_async(issuer.to_owned(), AUDIENCE.to_owned())
        .await
        .unwrap();
    let claims = json!({"iss": issuer, "aud": AUDIENCE, "sub": "dev|alice", "exp": now() + 600});
    let jwks = JwksServer::start(known.jwks(), Duration::from_millis(200)).await;
    let verifier = jwks.verifier(issuer, Duration::from_secs(60));

    let bogus_key = new_key();
    let mut tasks = Vec::new();
    for index in 0..50 {
        let bogus = DevIdentityProvider::from_private_key(
            issuer.to_owned(),
            AUDIENCE.to_owned(),
            format!("bogus-{index}"),
            &bogus_key,
        )
        .unwrap();
        let token = bogus.sign(&claims).unwrap();
        let verifier = verifier.clone();
        tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), Err(AuthError::UnknownKey));
    }
    assert_eq!(jwks.fetch_count(), 1);

    // The one fetch also cached the real key, so a valid token needs no second fetch.
    assert!(verifier.verify(&known.sign(&claims).unwrap()).await.is_ok());
    assert_eq!(jwks.fetch_count(), 1);
}

#[tokio::test]
async fn unreachable_jwks_means_keys_unavailable() {
    let server = DevServer::start().await;
    let token = server.provider.sign(&server.claims("dev|alice")).unwrap();
    let (listener, address) = bind_loopback().await;
    drop(listener);

    let jwks_url = format!("http://{address}/jwks.json");
    let settings = AuthSettings::new(
        server.provider.issuer().to_owned(),
        AUDIENCE.to_owned(),
        jwks_url.parse().unwrap(),
    );
    let verifier = TokenVerifier::new(settings, http_client());
    assert!(matches!(
        verifier.verify(&token).await,
        Err(AuthError::KeysUnavailable(_))
    ));
}

#[tokio::test]
async fn jwks_server_error_means_keys_unavailable() {
    let issuer = "https://issuer.example/";
    let provider = DevIdentityProvider::generate_async(issuer.to_owned(), AUDIENCE.to_owned())
        .await
        .unwrap();
    let claims = json!({"iss": issuer, "aud": AUDIENCE, "sub": "dev|alice", "exp": now() + 600});
    let token = provider.sign(&claims).unwrap();

    let jwks = JwksServer::start(provider.jwks(), Duration::ZERO).await;
    *jwks.status.lock().unwrap() = StatusCode::INTERNAL_SERVER_ERROR;
    let verifier = jwks.verifier(issuer, Duration::ZERO);
    assert!(matches!(
        verifier.verify(&token).await,
        Err(AuthError::KeysUnavailable(_))
    ));

    *jwks.status.lock().unwrap() = StatusCode::OK;
    *jwks.document.lock().unwrap() = json!("not a key set");
    assert!(matches!(
        verifier.verify(&token).await,
        Err(AuthError::KeysUnavailable(_))
    ));

    *jwks.document.lock().unwrap() = provider.jwks();
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn failed_fetch_is_retried_after_five_seconds() {
    let issuer = "https://issuer.example/";
    let provider = DevIdentityProvider::generate_async(issuer.to_owned(), AUDIENCE.to_owned())
        .await
        .unwrap();
    let claims = json!({"iss": issuer, "aud": AUDIENCE, "sub": "dev|alice", "exp": now() + 600});
    let token = provider.sign(&claims).unwrap();
    let jwks = JwksServer::start(provider.jwks(), Duration::ZERO).await;
    *jwks.status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
    let verifier = jwks.verifier(issuer, Duration::from_secs(60));

    for _ in 0..3 {
        let result = verifier.verify(&token).await;
        assert!(
            matches!(result, Err(AuthError::KeysUnavailable(_))),
            "{result:?}"
        );
    }
    assert_eq!(jwks.fetch_count(), 1);

    *jwks.status.lock().unwrap() = StatusCode::OK;
    tokio::time::sleep(Duration::from_millis(5100)).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(jwks.fetch_count(), 2);
}

#[tokio::test]
async fn silent_jwks_server_times_out() {
    let issuer = "https://issuer.example/";
    let jwks = JwksServer::start(json!({"keys": []}), Duration::from_secs(30)).await;
    let verifier = jwks.verifier(issuer, Duration::ZERO);
    let token = format!(
        "{}.{}.c2ln",
        encode_segment(&json!({"alg": "RS256", "kid": "k"})),
        encode_segment(&json!({"sub": "dev|alice"}))
    );
    let started = std::time::Instant::now();
    let result = verifier.verify(&token).await;
    assert!(
        matches!(result, Err(AuthError::KeysUnavailable(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn token_endpoint_requires_json() {
    let server = DevServer::start().await;
    let body = r#"{"sub": "dev|alice"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let response = server.post_token(content_type, body).await;
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 415);
    }
    let response = server
        .post_token(Some("Application/JSON; charset=utf-8"), body)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn token_endpoint_names_bad_fields() {
    let server = DevServer::start().await;
    let long_sub = format!(r#"{{"sub": "{}"}}"#, "s".repeat(256));
    let long_name = format!(r#"{{"sub": "a", "name": "{}"}}"#, "n".repeat(201));
    let long_email = format!(r#"{{"sub": "a", "email": "{}"}}"#, "e".repeat(321));
    let cases = [
        ("{", "body"),
        ("[1]", "body"),
        ("{}", "sub"),
        (r#"{"sub": 7}"#, "sub"),
        (r#"{"sub": ""}"#, "sub"),
        (r#"{"sub": "a\u0007"}"#, "sub"),
        (r#"{"sub": "a", "admin": true}"#, "admin"),
        (long_sub.as_str(), "sub"),
        (long_name.as_str(), "name"),
        (long_email.as_str(), "email"),
    ];
    for (body, field) in cases {
        let response = server.post_token(Some("application/json"), body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "invalid-request", "{body}");
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn extractor_guards_a_route() {
    let server = DevServer::start().await;
    let router = Router::new()
        .route(
            "/api/me",
            get(|Authenticated(claims): Authenticated| async move { claims.subject }),
        )
        .with_state(server.verifier());
    let (listener, address) = bind_loopback().await;
    serve(listener, router);
    let url = format!("http://{address}/api/me");

    let response = http_client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "unauthorized");

    let token = server.provider.sign(&server.claims("dev|alice")).unwrap();
    let response = http_client()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "dev|alice");

    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Basic {token}").parse().unwrap());
    let response = http_client()
        .get(&url)
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
