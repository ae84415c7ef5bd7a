//! Table-driven test of invalid requests to `POST /api/commands`: each gets a
//! 400, 413 or 415 problem body naming what is wrong, and nothing is enqueued.

mod common;

use common::TestApp;
use serde_json::{json, Value};

/// One invalid request and the response the API must return.
struct Case {
    name: &'static str,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    status: u16,
    code: &'static str,
    /// `(index, field, rule)` that must appear among the problem's errors.
    error: Option<(usize, &'static str, &'static str)>,
}

fn json_case(name: &'static str, body: Value, error: (usize, &'static str, &'static str)) -> Case {
    Case {
        name,
        body: serde_json::to_vec(&body).expect("JSON"),
        content_type: Some("application/json"),
        status: 400,
        code: "invalid-commands",
        error: Some(error),
    }
}

fn raw_case(name: &'static str, body: &str, status: u16, code: &'static str) -> Case {
    Case {
        name,
        body: body.as_bytes().to_vec(),
        content_type: Some("application/json"),
        status,
        code,
        error: None,
    }
}

fn task(kind: &str, data: Value) -> Value {
    json!({ "entityType": "task", "type": kind, "data": data })
}

fn create(data: Value) -> Value {
    json!([task("create-task", data)])
}

const TASK_ID: &str = "6f1c2a3e-8d4b-4c5a-9e7f-0a1b2c3d4e5f";

fn cases() -> Vec<Case> {
    let long_title = "t".repeat(201);
    let long_notes = "n".repeat(5001);
    let many: Vec<Value> = (0..101)
        .map(|i| task("create-task", json!({ "title": format!("t{i}") })))
        .collect();
    let big_title = "x".repeat(66 * 1024);
    vec![
        raw_case("body is not JSON", "{", 400, "invalid-json"),
        raw_case(
            "body is an object",
            r#"{"entityType":"task"}"#,
            400,
            "invalid-batch",
        ),
        raw_case("body is an empty array", "[]", 400, "invalid-batch"),
        raw_case("body is a string", r#""create-task""#, 400, "invalid-batch"),
        Case {
            name: "101 commands",
            body: serde_json::to_vec(&many).expect("JSON"),
            content_type: Some("application/json"),
            status: 400,
            code: "invalid-batch",
            error: None,
        },
        Case {
            name: "65 KiB body",
            body: serde_json::to_vec(&create(json!({ "title": big_title }))).expect("JSON"),
            content_type: Some("application/json"),
            status: 413,
            code: "body-too-large",
            error: None,
        },
        Case {
            name: "text/plain content type",
            body: serde_json::to_vec(&create(json!({ "title": "x" }))).expect("JSON"),
            content_type: Some("text/plain"),
            status: 415,
            code: "unsupported-media-type",
            error: None,
        },
        Case {
            name: "no content type",
            body: serde_json::to_vec(&create(json!({ "title": "x" }))).expect("JSON"),
            content_type: None,
            status: 415,
            code: "unsupported-media-type",
            error: None,
        },
        Case {
            name: "form content type",
            body: b"title=x".to_vec(),
            content_type: Some("application/x-www-form-urlencoded"),
            status: 415,
            code: "unsupported-media-type",
            error: None,
        },
        json_case("command is a number", json!([1]), (0, "*", "invalid-type")),
        json_case("command is null", json!([null]), (0, "*", "invalid-type")),
        json_case(
            "entityType missing",
            json!([{ "type": "create-task", "data": { "title": "x" } }]),
            (0, "entityType", "required"),
        ),
        json_case(
            "type missing",
            json!([{ "entityType": "task", "data": { "title": "x" } }]),
            (0, "type", "required"),
        ),
        json_case(
            "unknown entityType",
            json!([{ "entityType": "project", "type": "create-task", "data": {} }]),
            (0, "entityType", "unknown-entity-type"),
        ),
        json_case(
            "unknown command type",
            json!([task("archive-task", json!({ "id": TASK_ID }))]),
            (0, "type", "unknown-command-type"),
        ),
        json_case(
            "type of another entity",
            json!([{ "entityType": "user", "type": "create-task", "data": { "title": "x" } }]),
            (0, "type", "unknown-command-type"),
        ),
        json_case(
            "entityType is a number",
            json!([{ "entityType": 7, "type": "create-task", "data": { "title": "x" } }]),
            (0, "entityType", "invalid-type"),
        ),
        json_case(
            "unknown top-level field",
            json!([{ "entityType": "task", "type": "create-task", "data": { "title": "x" }, "userId": "auth0|other" }]),
            (0, "userId", "unknown-field"),
        ),
        json_case(
            "create-task without data",
            json!([{ "entityType": "task", "type": "create-task" }]),
            (0, "data.title", "required"),
        ),
        json_case(
            "data is a string",
            json!([{ "entityType": "task", "type": "create-task", "data": "x" }]),
            (0, "data", "invalid-type"),
        ),
        json_case(
            "title missing",
            create(json!({ "notes": "n" })),
            (0, "data.title", "required"),
        ),
        json_case(
            "title is a number",
            create(json!({ "title": 5 })),
            (0, "data.title", "invalid-type"),
        ),
        json_case(
            "title is empty",
            create(json!({ "title": "" })),
            (0, "data.title", "too-short"),
        ),
        json_case(
            "title is blank",
            create(json!({ "title": "   " })),
            (0, "data.title", "too-short"),
        ),
        json_case(
            "title has 201 characters",
            create(json!({ "title": long_title })),
            (0, "data.title", "too-long"),
        ),
        json_case(
            "title has a control character",
            create(json!({ "title": "bell\u{7}" })),
            (0, "data.title", "invalid-characters"),
        ),
        json_case(
            "notes have 5001 characters",
            create(json!({ "title": "x", "notes": long_notes })),
            (0, "data.notes", "too-long"),
        ),
        json_case(
            "notes are a number",
            create(json!({ "title": "x", "notes": 3 })),
            (0, "data.notes", "invalid-type"),
        ),
        json_case(
            "unknown category",
            create(json!({ "title": "x", "category": "urgent" })),
            (0, "data.category", "invalid-category"),
        ),
        json_case(
            "category is a number",
            create(json!({ "title": "x", "category": 1 })),
            (0, "data.category", "invalid-type"),
        ),
        json_case(
            "negative order",
            create(json!({ "title": "x", "order": -1 })),
            (0, "data.order", "out-of-range"),
        ),
        json_case(
            "fractional order",
            create(json!({ "title": "x", "order": 1.5 })),
            (0, "data.order", "not-integer"),
        ),
        json_case(
            "order is a string",
            create(json!({ "title": "x", "order": "3" })),
            (0, "data.order", "invalid-type"),
        ),
        json_case(
            "order too large",
            create(json!({ "title": "x", "order": 1_000_000_001_u64 })),
            (0, "data.order", "out-of-range"),
        ),
        json_case(
            "id is not a UUID",
            create(json!({ "title": "x", "id": "not-a-uuid" })),
            (0, "data.id", "invalid-uuid"),
        ),
        json_case(
            "unknown data field",
            create(json!({ "title": "x", "priority": 1 })),
            (0, "data.priority", "unknown-field"),
        ),
        json_case(
            "update-task without id",
            json!([task("update-task", json!({ "title": "y" }))]),
            (0, "data.id", "required"),
        ),
        json_case(
            "update-task with nothing to change",
            json!([task("update-task", json!({ "id": TASK_ID }))]),
            (0, "data", "empty-update"),
        ),
        json_case(
            "update-task done is a string",
            json!([task("update-task", json!({ "id": TASK_ID, "done": "yes" }))]),
            (0, "data.done", "invalid-type"),
        ),
        json_case(
            "complete-task without id",
            json!([task("complete-task", json!({}))]),
            (0, "data.id", "required"),
        ),
        json_case(
            "complete-task id is a number",
            json!([task("complete-task", json!({ "id": 42 }))]),
            (0, "data.id", "invalid-type"),
        ),
        json_case(
            "delete-task with an extra field",
            json!([task("delete-task", json!({ "id": TASK_ID, "force": true }))]),
            (0, "data.force", "unknown-field"),
        ),
        json_case(
            "empty idempotency key",
            json!([{ "idempotencyKey": "", "entityType": "task", "type": "create-task", "data": { "title": "x" } }]),
            (0, "idempotencyKey", "too-short"),
        ),
        json_case(
            "idempotency key with a slash",
            json!([{ "idempotencyKey": "a/b", "entityType": "task", "type": "create-task", "data": { "title": "x" } }]),
            (0, "idempotencyKey", "invalid-characters"),
        ),
        json_case(
            "idempotency key of 129 characters",
            json!([{ "idempotencyKey": "k".repeat(129), "entityType": "task", "type": "create-task", "data": { "title": "x" } }]),
            (0, "idempotencyKey", "too-long"),
        ),
        json_case(
            "idempotency key is a number",
            json!([{ "idempotencyKey": 7, "entityType": "task", "type": "create-task", "data": { "title": "x" } }]),
            (0, "idempotencyKey", "invalid-type"),
        ),
        json_case(
            "duplicate idempotency keys",
            json!([
                { "idempotencyKey": "dup", "entityType": "task", "type": "create-task", "data": { "title": "a" } },
                { "idempotencyKey": "dup", "entityType": "task", "type": "create-task", "data": { "title": "b" } }
            ]),
            (1, "idempotencyKey", "duplicate-key"),
        ),
        json_case(
            "login email without @",
            json!([{ "entityType": "user", "type": "login-user", "data": { "email": "nope" } }]),
            (0, "data.email", "invalid-email"),
        ),
        json_case(
            "login name of 201 characters",
            json!([{ "entityType": "user", "type": "login-user", "data": { "name": "n".repeat(201) } }]),
            (0, "data.name", "too-long"),
        ),
        json_case(
            "logout with data",
            json!([{ "entityType": "user", "type": "logout-user", "data": { "everywhere": true } }]),
            (0, "data.everywhere", "unknown-field"),
        ),
        json_case(
            "tasksPerCategory 0",
            json!([{ "entityType": "user-settings", "type": "update-user-settings", "data": { "tasksPerCategory": 0 } }]),
            (0, "data.tasksPerCategory", "out-of-range"),
        ),
        json_case(
            "tasksPerCategory 101",
            json!([{ "entityType": "user-settings", "type": "update-user-settings", "data": { "tasksPerCategory": 101 } }]),
            (0, "data.tasksPerCategory", "out-of-range"),
        ),
        json_case(
            "showDoneTasks is a string",
            json!([{ "entityType": "user-settings", "type": "update-user-settings", "data": { "showDoneTasks": "true" } }]),
            (0, "data.showDoneTasks", "invalid-type"),
        ),
        json_case(
            "settings update with no field",
            json!([{ "entityType": "user-settings", "type": "update-user-settings", "data": {} }]),
            (0, "data", "empty-update"),
        ),
        json_case(
            "one valid and one invalid command",
            json!([
                task("create-task", json!({ "title": "fine" })),
                task("create-task", json!({ "title": "" }))
            ]),
            (1, "data.title", "too-short"),
        ),
    ]
}

#[tokio::test]
async fn invalid_requests_get_problems_and_enqueue_nothing() {
    // Without listeners every enqueued message would stay on the queue, so
    // an empty queue at the end proves nothing was enqueued.
    let app = TestApp::spawn_without_listeners().await;
    let token = app.token("auth0|validator").await;
    let cases = cases();
    assert!(cases.len() >= 40, "the table must hold at least 40 cases");
    for case in &cases {
        let mut request = app
            .client
            .post(app.url("/api/commands"))
            .bearer_auth(&token)
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("header")
            .to_owned();
        let body: Value = response.json().await.expect("problem JSON");
        assert_eq!(status, case.status, "{}: {body}", case.name);
        assert_eq!(content_type, "application/problem+json", "{}", case.name);
        assert_eq!(body["code"], case.code, "{}: {body}", case.name);
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|detail| !detail.is_empty()),
            "{}",
            case.name
        );
        if let Some((index, field, rule)) = case.error {
            let errors = body["errors"].as_array().cloned().unwrap_or_default();
            let found = errors.iter().any(|error| {
                error["index"] == json!(index)
                    && (field == "*" || error["field"] == field)
                    && error["rule"] == rule
            });
            assert!(
                found,
                "{}: expected ({index}, {field:?}, {rule:?}) in {body}",
                case.name
            );
            assert!(
                errors
                    .iter()
                    .all(|error| error["message"].as_str().is_some_and(|m| !m.is_empty())),
                "{}: every error needs a message",
                case.name
            );
        }
    }
    let storage = common::storage_for(&app.environment);
    let queued = storage
        .commands
        .approximate_message_count()
        .await
        .expect("count");
    assert_eq!(queued, 0, "an invalid request enqueued a command");
    app.stop().await;
}
