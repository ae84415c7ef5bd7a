//! Projection convergence: out-of-order, duplicated and redelivered events
//! all end in the fold of the stream.

mod common;

use std::time::Duration;

use prism_service::app::App;
use prism_service::envelope::{CommandMessage, EventsMessage, MESSAGE_SCHEMA_VERSION};
use prism_service::storage::encode_key;
use serde_json::{json, Value};

async fn app() -> App {
    common::app_without_http().await
}

fn message(key: &str, kind: &str, data: Value) -> String {
    CommandMessage {
        schema: MESSAGE_SCHEMA_VERSION,
        user_id: "auth0|projection".into(),
        idempotency_key: key.into(),
        command: json!({ "entityType": "task", "type": kind, "data": data }),
        claimed_name: None,
        claimed_email: None,
        received_at: "2026-12-04T10:00:00Z".into(),
    }
    .encode()
}

/// Takes every published events message off the domain-events queue.
async fn drain_events(app: &App) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        let batch = app
            .storage
            .domain_events
            .receive(32, Duration::from_secs(60))
            .await
            .expect("receive");
        if batch.is_empty() {
            return texts;
        }
        for message in batch {
            app.storage
                .domain_events
                .delete(&message)
                .await
                .expect("delete");
            texts.push(message.body.expect("base64 text"));
        }
    }
}

fn version_of(text: &str) -> u32 {
    EventsMessage::decode(text).expect("events message").events[0].version
}

#[tokio::test]
async fn out_of_order_and_duplicate_events_converge() {
    let app = app().await;
    let id = uuid::Uuid::new_v4().to_string();
    let commands = [
        message("k1", "create-task", json!({ "id": id, "title": "First" })),
        message("k2", "update-task", json!({ "id": id, "title": "Second" })),
        message("k3", "complete-task", json!({ "id": id })),
    ];
    for text in &commands {
        app.functions
            .process_command(text)
            .await
            .expect("processed");
    }
    let mut events = drain_events(&app).await;
    assert_eq!(events.len(), 3);
    events.sort_by_key(|text| std::cmp::Reverse(version_of(text)));

    // Newest first: the projection fills the gap from the event store.
    for text in &events {
        app.functions.project_events(text).await.expect("projected");
    }
    // Every message again: duplicates change nothing.
    for text in &events {
        app.functions
            .project_events(text)
            .await
            .expect("duplicate acknowledged");
    }
    let partition = encode_key("auth0|projection");
    let row = app
        .storage
        .read_models
        .tasks
        .get(&partition, &id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(row.int("Version"), Some(3));
    assert_eq!(row.string("Title"), Some("Second"));
    assert_eq!(row.bool("Done"), Some(true));
}

#[tokio::test]
async fn redelivered_command_republishes_without_new_events() {
    let app = app().await;
    let id = uuid::Uuid::new_v4().to_string();
    let create = message("once", "create-task", json!({ "id": id, "title": "Once" }));
    app.functions
        .process_command(&create)
        .await
        .expect("first delivery");
    app.functions
        .process_command(&create)
        .await
        .expect("second delivery");
    let events = drain_events(&app).await;
    assert_eq!(
        events.len(),
        2,
        "the redelivery publishes the recorded events again"
    );
    assert_eq!(
        events[0], events[1],
        "both publications carry the same recorded event"
    );
    let partition = encode_key("auth0|projection");
    let filter = format!("PartitionKey eq '{partition}'");
    let rows = app
        .storage
        .task_events
        .query_all(&filter)
        .await
        .expect("query");
    let event_rows = rows
        .iter()
        .filter(|row| row.row_key.ends_with("0000000001"))
        .count();
    let later_rows = rows
        .iter()
        .filter(|row| row.row_key.ends_with("0000000002"))
        .count();
    assert_eq!(event_rows, 1);
    assert_eq!(later_rows, 0);
}

#[tokio::test]
async fn rejected_command_is_recorded_and_acknowledged() {
    let app = app().await;
    let id = uuid::Uuid::new_v4().to_string();
    let complete = message("lonely", "complete-task", json!({ "id": id }));
    app.functions
        .process_command(&complete)
        .await
        .expect("a rejection is not a failure");
    assert!(drain_events(&app).await.is_empty());
    let partition = encode_key("auth0|projection");
    let row = app
        .storage
        .task_events
        .get(&partition, "c|lonely")
        .await
        .expect("get")
        .expect("row");
    assert_eq!(row.string("Status"), Some("rejected"));
    assert_eq!(row.string("Code"), Some("task-not-found"));
}

#[tokio::test]
async fn invalid_queued_command_is_rejected() {
    let app = app().await;
    // A message written around the API: the domain parses it again.
    let sneaky = message("sneaky", "create-task", json!({ "title": "" }));
    app.functions
        .process_command(&sneaky)
        .await
        .expect("recorded as rejected");
    let partition = encode_key("auth0|projection");
    let row = app
        .storage
        .task_events
        .get(&partition, "c|sneaky")
        .await
        .expect("get")
        .expect("row");
    assert_eq!(row.string("Code"), Some("invalid-command"));
}
