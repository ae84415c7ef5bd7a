//! End-to-end pipeline tests: HTTP command → commands queue → event store →
//! domain-events queue → read model → HTTP query, on a real Azurite.

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use prism_service::app::Storage;
use serde_json::json;

fn storage_of(app: &TestApp) -> Storage {
    common::storage_for(&app.environment)
}

#[tokio::test]
async fn created_task_appears_in_task_list() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|alice").await;
    let accepted = app
        .accept(
            &token,
            json!([{ "idempotencyKey": "create-1", "entityType": "task", "type": "create-task",
                     "data": { "title": "Buy milk", "category": "fun", "order": 2 } }]),
        )
        .await;
    assert_eq!(accepted["idempotencyKeys"], json!(["create-1"]));
    let task_id = accepted["commands"][0]["entityId"]
        .as_str()
        .expect("entity id")
        .to_owned();

    let tasks = app.wait_for_tasks(&token, |tasks| !tasks.is_empty()).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["id"], json!(task_id));
    assert_eq!(tasks[0]["title"], "Buy milk");
    assert_eq!(tasks[0]["category"], "fun");
    assert_eq!(tasks[0]["order"], 2);
    assert_eq!(tasks[0]["done"], false);
    assert_eq!(tasks[0]["version"], 1);
    app.stop().await;
}

#[tokio::test]
async fn retried_create_with_same_key_makes_one_task() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|retry").await;
    let body = json!([{ "idempotencyKey": "same-key", "entityType": "task", "type": "create-task",
                        "data": { "title": "Only once" } }]);
    let first = app.accept(&token, body.clone()).await;
    let second = app.accept(&token, body).await;
    assert_eq!(
        first["commands"][0]["entityId"],
        second["commands"][0]["entityId"]
    );
    app.settled(&token, "same-key").await;
    // Give the second message time to be processed before counting.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let storage = storage_of(&app);
        if storage
            .commands
            .approximate_message_count()
            .await
            .expect("count")
            == 0
            && storage
                .domain_events
                .approximate_message_count()
                .await
                .expect("count")
                == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tasks = app.all_tasks(&token).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    app.stop().await;
}

#[tokio::test]
async fn users_see_only_their_own_tasks() {
    let app = TestApp::spawn().await;
    let alice = app.token("auth0|alice").await;
    let bob = app.token("google-oauth2|bob").await;
    app.accept(
        &alice,
        json!([{ "idempotencyKey": "a1", "entityType": "task", "type": "create-task",
                                "data": { "title": "Alice's" } }]),
    )
    .await;
    app.settled(&alice, "a1").await;
    assert!(app.all_tasks(&bob).await.is_empty());
    let (status, body) = app.get_json(&bob, "/api/commands/a1").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["status"], "pending",
        "Bob must not see Alice's command: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn request_without_token_gets_401_problem() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        ("GET", "/api/tasks"),
        ("POST", "/api/commands"),
        ("GET", "/api/settings"),
    ] {
        let request = app
            .client
            .request(method.parse().expect("method"), app.url(path));
        let response = request.json(&json!([])).send().await.expect("request");
        assert_eq!(response.status(), 401, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let body: serde_json::Value = response.json().await.expect("problem JSON");
        assert_eq!(body["code"], "unauthorized");
        assert_eq!(body["status"], 401);
    }
    app.stop().await;
}

#[tokio::test]
async fn forged_token_gets_401() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|mallory").await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = base64_url(r#"{"sub":"auth0|alice","aud":"prism-plan-local","exp":9999999999}"#);
    let forged = parts.join(".");
    let (status, body) = app.get_json(&forged, "/api/tasks").await;
    assert_eq!(status, 401, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn health_answers_without_token() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/api/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["storage"], "reachable");
    app.stop().await;
}

#[tokio::test]
async fn undecodable_command_message_moves_to_poison_queue() {
    let app = TestApp::spawn().await;
    let storage = storage_of(&app);
    storage
        .commands
        .send("this is not a command")
        .await
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let poisoned = storage.commands_poison.peek(1).await.expect("peek");
        if let Some(message) = poisoned.first() {
            assert_eq!(message.body.as_deref(), Ok("this is not a command"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the message never reached the poison queue"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        storage
            .commands
            .approximate_message_count()
            .await
            .expect("count"),
        0
    );
    app.stop().await;
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let mut environment = common::test_environment();
    environment.insert(
        "CORS_ALLOWED_ORIGINS".into(),
        r"http://localhost:\d+".into(),
    );
    let app = TestApp::spawn_with(environment).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/tasks"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("http://localhost:5173").await.expect("preflight");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let denied = preflight("http://localhost:5173.evil.net")
        .await
        .expect("preflight");
    assert!(denied
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    app.stop().await;
}

#[tokio::test]
async fn storage_outage_gives_503_problems() {
    use std::sync::Arc;

    use prism_service::app::App;
    use prism_service::auth::{
        self, AuthSettings, DevIdentityProvider, DevTokenRequest, TokenVerifier,
    };

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let connection = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;"
    );
    let mut environment = common::test_environment();
    environment.insert("AzureWebJobsStorage".into(), connection);
    let storage = common::storage_for(&environment);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let issuer = format!("http://{address}/dev");
    let provider = DevIdentityProvider::generate_async(issuer.clone(), "prism-plan-local".into())
        .await
        .expect("key");
    let token = provider
        .mint(&DevTokenRequest {
            sub: "auth0|outage".into(),
            name: None,
            email: None,
        })
        .expect("token")
        .access_token;
    let verifier = TokenVerifier::new(
        AuthSettings {
            issuer,
            audience: "prism-plan-local".into(),
            jwks_url: format!("http://{address}/dev/jwks.json")
                .parse()
                .expect("URL"),
            leeway: Duration::from_secs(30),
            min_refresh_interval: Duration::from_secs(60),
        },
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
    );
    let app = App::new(storage, verifier);
    let router =
        prism_service::http::router(app.http.clone()).merge(auth::router(Arc::new(provider)));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    let client = reqwest::Client::new();

    let health = client
        .get(format!("http://{address}/api/health"))
        .send()
        .await
        .expect("GET");
    assert_eq!(health.status(), 503);
    assert_eq!(health.headers()["content-type"], "application/problem+json");

    let commands = client
        .post(format!("http://{address}/api/commands"))
        .bearer_auth(&token)
        .json(&json!([{ "entityType": "task", "type": "create-task", "data": { "title": "x" } }]))
        .send()
        .await
        .expect("POST");
    assert_eq!(commands.status(), 503);
    let body: serde_json::Value = commands.json().await.expect("problem");
    assert_eq!(body["code"], "storage-unavailable");
}
