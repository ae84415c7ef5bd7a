//! Token verification over real HTTP: the verifier fetches the JWKS from a
//! loopback server, as it fetches Auth0's in production.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use prism_service::auth::{
    dev_identity, AuthError, AuthSettings, DevIdentityProvider, DevTokenRequest, TokenVerifier,
};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

const ISSUER: &str = "https://issuer.test/";
const AUDIENCE: &str = "prism-plan-tests";

/// A signing key with its id, as an issuer holds it.
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn signing_key(kid: &str) -> SigningKey {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key");
    let pem = private
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .expect("PEM");
    let public = private.to_public_key();
    SigningKey {
        kid: kid.to_owned(),
        encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("encoding key"),
        jwk: json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn valid_claims() -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "auth0|user", "exp": now() + 600, "iat": now() })
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    encode(&header, claims, &key.encoding).expect("sign")
}

/// A JWKS endpoint whose key set can change and which counts its fetches.
#[derive(Clone)]
struct JwksServer {
    keys: Arc<RwLock<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    url: String,
}

async fn serve_jwks(State(server): State<JwksServer>) -> Json<Value> {
    server.fetches.fetch_add(1, Ordering::SeqCst);
    let keys = server.keys.read().expect("lock").clone();
    Json(json!({ "keys": keys }))
}

async fn start_jwks(keys: Vec<Value>) -> JwksServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = JwksServer {
        keys: Arc::new(RwLock::new(keys)),
        fetches: Arc::new(AtomicUsize::new(0)),
        url: format!("http://{address}/jwks.json"),
    };
    let router = Router::new()
        .route("/jwks.json", get(serve_jwks))
        .with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    server
}

fn verifier(jwks_url: &str, min_refresh_interval: Duration) -> TokenVerifier {
    TokenVerifier::new(
        AuthSettings {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_url: jwks_url.parse().expect("URL"),
            leeway: Duration::from_secs(5),
            min_refresh_interval,
        },
        reqwest::Client::new(),
    )
}

#[tokio::test]
async fn valid_token_verifies_with_its_claims() {
    let key = signing_key("k1");
    let server = start_jwks(vec![key.jwk.clone()]).await;
    let verifier = verifier(&server.url, Duration::from_secs(60));
    let mut claims = valid_claims();
    claims["name"] = json!("Ada");
    claims["email"] = json!("ada@example.com");
    let verified = verifier.verify(&sign(&key, &claims)).await.expect("valid");
    assert_eq!(verified.subject, "auth0|user");
    assert_eq!(verified.name.as_deref(), Some("Ada"));
    assert_eq!(verified.email.as_deref(), Some("ada@example.com"));
    verifier
        .verify(&sign(&key, &claims))
        .await
        .expect("still valid");
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1, "keys are cached");
}

#[tokio::test]
async fn bad_tokens_are_rejected() {
    let key = signing_key("k1");
    let impostor = signing_key("k1");
    let server = start_jwks(vec![key.jwk.clone()]).await;
    let verifier = verifier(&server.url, Duration::from_secs(60));
    let with = |field: &str, value: Value| {
        let mut claims = valid_claims();
        claims[field] = value;
        claims
    };
    let without = |field: &str| {
        let mut claims = valid_claims();
        claims.as_object_mut().expect("object").remove(field);
        claims
    };
    let valid = sign(&key, &valid_claims());
    let mut tampered: Vec<String> = valid.split('.').map(str::to_owned).collect();
    tampered[1] = URL_SAFE_NO_PAD.encode(with("sub", json!("auth0|admin")).to_string());
    let hs256 = encode(
        &Header::new(Algorithm::HS256),
        &valid_claims(),
        &EncodingKey::from_secret(b"secret"),
    )
    .expect("HS256");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
        URL_SAFE_NO_PAD.encode(valid_claims().to_string())
    );
    let cases = [
        ("expired", sign(&key, &with("exp", json!(now() - 60)))),
        (
            "wrong audience",
            sign(&key, &with("aud", json!("someone-else"))),
        ),
        (
            "wrong issuer",
            sign(&key, &with("iss", json!("https://evil.test/"))),
        ),
        ("missing aud", sign(&key, &without("aud"))),
        ("missing iss", sign(&key, &without("iss"))),
        ("missing sub", sign(&key, &without("sub"))),
        ("missing exp", sign(&key, &without("exp"))),
        ("empty sub", sign(&key, &with("sub", json!("")))),
        (
            "not yet valid",
            sign(&key, &with("nbf", json!(now() + 600))),
        ),
        ("tampered payload", tampered.join(".")),
        ("HS256", hs256),
        ("alg none", none),
        (
            "another key with the same kid",
            sign(&impostor, &valid_claims()),
        ),
        ("garbage", "not.a.token".to_owned()),
        ("too long", format!("{valid}{}", "a".repeat(9000))),
    ];
    for (name, token) in cases {
        let result = verifier.verify(&token).await;
        assert!(result.is_err(), "{name} must be rejected");
    }
    let expired = verifier
        .verify(&sign(&key, &with("exp", json!(now() - 60))))
        .await;
    assert!(matches!(expired, Err(AuthError::Expired)));
}

#[tokio::test]
async fn rotated_key_is_picked_up_without_restart() {
    let old = signing_key("old");
    let new = signing_key("new");
    let server = start_jwks(vec![old.jwk.clone()]).await;
    let verifier = verifier(&server.url, Duration::ZERO);
    verifier
        .verify(&sign(&old, &valid_claims()))
        .await
        .expect("old key");
    *server.keys.write().expect("lock") = vec![new.jwk.clone()];
    verifier
        .verify(&sign(&new, &valid_claims()))
        .await
        .expect("new key after refresh");
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn burst_of_unknown_kids_fetches_once() {
    let key = signing_key("known");
    let server = start_jwks(vec![key.jwk.clone()]).await;
    let verifier = verifier(&server.url, Duration::from_secs(60));
    verifier
        .verify(&sign(&key, &valid_claims()))
        .await
        .expect("warm-up");
    let strangers: Vec<SigningKey> = (0..3)
        .map(|i| signing_key(&format!("stranger-{i}")))
        .collect();
    let attempts = (0..30).map(|i| {
        let verifier = verifier.clone();
        let token = sign(&strangers[i % 3], &valid_claims());
        tokio::spawn(async move { verifier.verify(&token).await })
    });
    for attempt in futures::future::join_all(attempts).await {
        assert!(matches!(attempt.expect("task"), Err(AuthError::UnknownKey)));
    }
    assert!(
        server.fetches.load(Ordering::SeqCst) <= 2,
        "a burst of unknown key ids refetched {} times",
        server.fetches.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn unreachable_jwks_means_keys_unavailable() {
    let key = signing_key("k1");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let verifier = verifier(
        &format!("http://127.0.0.1:{port}/jwks.json"),
        Duration::from_secs(60),
    );
    let result = verifier.verify(&sign(&key, &valid_claims())).await;
    assert!(
        matches!(result, Err(AuthError::KeysUnavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn dev_tokens_verify_through_the_jwks_route() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let issuer = format!("http://{address}/dev");
    let provider = DevIdentityProvider::generate_async(issuer.clone(), AUDIENCE.into())
        .await
        .expect("key");
    let token = provider
        .mint(&DevTokenRequest {
            sub: "local|dev".into(),
            name: None,
            email: None,
        })
        .expect("mint")
        .access_token;
    let router = dev_identity::router(Arc::new(provider));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    let verifier = TokenVerifier::new(
        AuthSettings {
            issuer,
            audience: AUDIENCE.into(),
            jwks_url: format!("http://{address}/dev/jwks.json")
                .parse()
                .expect("URL"),
            leeway: Duration::from_secs(5),
            min_refresh_interval: Duration::from_secs(60),
        },
        reqwest::Client::new(),
    );
    let claims = verifier.verify(&token).await.expect("dev token verifies");
    assert_eq!(claims.subject, "local|dev");

    let client = reqwest::Client::new();
    let bad_bodies = [
        ("application/json", r#"{"sub":""}"#, 400),
        ("application/json", r#"{"name":"no sub"}"#, 400),
        ("application/json", r#"{"sub":"a","admin":true}"#, 400),
        ("application/json", "not json", 400),
        ("text/plain", r#"{"sub":"a"}"#, 415),
    ];
    for (content_type, body, status) in bad_bodies {
        let response = client
            .post(format!("http://{address}/dev/token"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status().as_u16(), status, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{body}"
        );
    }
}

#[test]
fn dev_provider_refuses_non_loopback_addresses() {
    let public: std::net::SocketAddr = "0.0.0.0:7071".parse().expect("address");
    assert!(DevIdentityProvider::ensure_loopback(&public).is_err());
    let loopback: std::net::SocketAddr = "127.0.0.1:7071".parse().expect("address");
    assert!(DevIdentityProvider::ensure_loopback(&loopback).is_ok());
}
