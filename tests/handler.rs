//! The custom-handler mode, driven the way the Functions host drives it:
//! readiness on `GET /`, queue invocations as JSON `POST /{FunctionName}`.

mod common;

use std::time::Duration;

use prism_service::app::Storage;
use prism_service::envelope::{CommandMessage, MESSAGE_SCHEMA_VERSION};
use prism_service::host::handler;
use serde_json::{json, Value};

struct Handler {
    base_url: String,
    storage: Storage,
    client: reqwest::Client,
}

async fn start_handler() -> Handler {
    let app = common::app_without_http().await;
    let storage = app.storage.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, handler::router(app))
            .await
            .expect("serve");
    });
    Handler {
        base_url: format!("http://{address}"),
        storage,
        client: reqwest::Client::new(),
    }
}

/// Builds the body the host sends for a queue message: the text JSON-quoted
/// once more inside `Data.message`, and metadata with string values.
fn invocation(function: &str, text: &str) -> Value {
    json!({
        "Data": { "message": serde_json::to_string(text).expect("quote") },
        "Metadata": {
            "DequeueCount": "1",
            "Id": "\"8b1c4f0e-2a7d-4c3b-9e6f-5d4c3b2a1f0e\"",
            "sys": { "MethodName": function, "UtcNow": "2026-12-04T10:15:30.1234567Z" }
        }
    })
}

fn create_message(user: &str, key: &str, title: &str) -> String {
    CommandMessage {
        schema: MESSAGE_SCHEMA_VERSION,
        user_id: user.into(),
        idempotency_key: key.into(),
        command: json!({ "entityType": "task", "type": "create-task", "data": { "title": title } }),
        claimed_name: None,
        claimed_email: None,
        received_at: "2026-12-04T10:15:29Z".into(),
    }
    .encode()
}

#[tokio::test]
async fn readiness_probe_answers_200() {
    let handler = start_handler().await;
    let response = handler
        .client
        .get(format!("{}/", handler.base_url))
        .send()
        .await
        .expect("GET /");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn queue_invocations_run_the_pipeline() {
    let handler = start_handler().await;
    let text = create_message("auth0|handler", "h1", "Via the host");
    let response = handler
        .client
        .post(format!("{}/ProcessCommand", handler.base_url))
        .header("content-type", "application/json; charset=utf-8")
        .json(&invocation("ProcessCommand", &text))
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("application/json"));
    let reply: Value = response.json().await.expect("JSON reply");
    assert!(reply["Logs"].is_array());
    assert!(reply.get("Outputs").is_some());

    // The processor published the events; deliver them as the host would.
    let published = handler
        .storage
        .domain_events
        .receive(1, Duration::from_secs(30))
        .await
        .expect("receive");
    assert_eq!(published.len(), 1);
    let events_text = published[0].body.clone().expect("base64 text");
    let response = handler
        .client
        .post(format!("{}/ProjectEvents", handler.base_url))
        .json(&invocation("ProjectEvents", &events_text))
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status(), 200);
    let rows = handler
        .storage
        .read_models
        .tasks
        .query_all("Title eq 'Via the host'")
        .await
        .expect("query");
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn malformed_message_is_poisoned_and_acknowledged() {
    let handler = start_handler().await;
    let response = handler
        .client
        .post(format!("{}/ProcessCommand", handler.base_url))
        .json(&invocation("ProcessCommand", "garbage"))
        .send()
        .await
        .expect("invoke");
    assert_eq!(
        response.status(),
        200,
        "a message no retry can fix is acknowledged"
    );
    let poisoned = handler.storage.commands_poison.peek(1).await.expect("peek");
    assert_eq!(poisoned.len(), 1);
    assert_eq!(poisoned[0].body.as_deref(), Ok("garbage"));
}

#[tokio::test]
async fn unknown_function_gets_404_json() {
    let handler = start_handler().await;
    let response = handler
        .client
        .post(format!("{}/NoSuchFunction", handler.base_url))
        .json(&invocation("NoSuchFunction", "x"))
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status(), 404);
    let reply: Value = response.json().await.expect("JSON");
    assert!(reply["Logs"][0]
        .as_str()
        .expect("log")
        .contains("NoSuchFunction"));
}
