//! HTTP API tests for every command, query and error, on a real Azurite.

mod common;

use common::TestApp;
use serde_json::{json, Value};

fn command(key: &str, entity_type: &str, kind: &str, data: Value) -> Value {
    json!({ "idempotencyKey": key, "entityType": entity_type, "type": kind, "data": data })
}

/// Posts one command and waits until it settles; returns its status body.
async fn run(app: &TestApp, token: &str, command: Value) -> Value {
    let key = command["idempotencyKey"].as_str().expect("key").to_owned();
    app.accept(token, json!([command])).await;
    app.settled(token, &key).await
}

async fn task_by_id(app: &TestApp, token: &str, id: &str) -> Option<Value> {
    app.all_tasks(token)
        .await
        .into_iter()
        .find(|task| task["id"] == id)
}

#[tokio::test]
async fn task_lifecycle_through_every_task_command() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|lifecycle").await;
    let created = run(
        &app,
        &token,
        command(
            "c1",
            "task",
            "create-task",
            json!({ "title": "Draft", "category": "normal" }),
        ),
    )
    .await;
    assert_eq!(created["status"], "applied");
    let id = created["entityId"].as_str().expect("entity id").to_owned();

    let updated = run(
        &app,
        &token,
        command(
            "u1",
            "task",
            "update-task",
            json!({ "id": id, "title": "Final", "notes": "by Friday", "order": 4 }),
        ),
    )
    .await;
    assert_eq!(updated["status"], "applied");
    let task = task_by_id(&app, &token, &id).await.expect("task listed");
    assert_eq!(task["title"], "Final");
    assert_eq!(task["notes"], "by Friday");
    assert_eq!(task["order"], 4);

    run(
        &app,
        &token,
        command("k1", "task", "complete-task", json!({ "id": id })),
    )
    .await;
    assert_eq!(
        task_by_id(&app, &token, &id).await.expect("task")["done"],
        true
    );

    let again = run(
        &app,
        &token,
        command("k2", "task", "complete-task", json!({ "id": id })),
    )
    .await;
    assert_eq!(again["status"], "rejected");
    assert_eq!(again["code"], "task-already-completed");
    assert!(again["reason"]
        .as_str()
        .is_some_and(|reason| !reason.is_empty()));

    run(
        &app,
        &token,
        command("r1", "task", "reopen-task", json!({ "id": id })),
    )
    .await;
    assert_eq!(
        task_by_id(&app, &token, &id).await.expect("task")["done"],
        false
    );
    let reopen_again = run(
        &app,
        &token,
        command("r2", "task", "reopen-task", json!({ "id": id })),
    )
    .await;
    assert_eq!(reopen_again["code"], "task-not-completed");

    run(
        &app,
        &token,
        command("k3", "task", "complete-task", json!({ "id": id })),
    )
    .await;
    run(
        &app,
        &token,
        command(
            "m1",
            "task",
            "update-task",
            json!({ "id": id, "category": "critical" }),
        ),
    )
    .await;
    let moved = task_by_id(&app, &token, &id).await.expect("task");
    assert_eq!(moved["category"], "critical");
    assert_eq!(
        moved["done"], false,
        "moving a done task to another category reopens it"
    );

    run(
        &app,
        &token,
        command("d1", "task", "delete-task", json!({ "id": id })),
    )
    .await;
    assert!(task_by_id(&app, &token, &id).await.is_none());
    let after_delete = run(
        &app,
        &token,
        command(
            "u2",
            "task",
            "update-task",
            json!({ "id": id, "title": "Ghost" }),
        ),
    )
    .await;
    assert_eq!(after_delete["code"], "task-deleted");

    let (status, history) = app
        .get_json(&token, &format!("/api/tasks/{id}/history"))
        .await;
    assert_eq!(status, 200, "{history}");
    let types: Vec<&str> = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "task-created",
            "task-updated",
            "task-completed",
            "task-reopened",
            "task-completed",
            "task-updated",
            "task-deleted"
        ]
    );
    let versions: Vec<u64> = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(versions, (1..=7).collect::<Vec<u64>>());
    assert_eq!(
        history["events"][5]["data"],
        json!({ "category": "critical", "done": false })
    );
    app.stop().await;
}

#[tokio::test]
async fn commands_on_unknown_task_are_rejected() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|unknown").await;
    let id = uuid::Uuid::new_v4().to_string();
    for (key, kind) in [
        ("x1", "complete-task"),
        ("x2", "reopen-task"),
        ("x3", "delete-task"),
    ] {
        let status = run(
            &app,
            &token,
            command(key, "task", kind, json!({ "id": id })),
        )
        .await;
        assert_eq!(status["status"], "rejected", "{kind}");
        assert_eq!(status["code"], "task-not-found", "{kind}");
    }
    app.stop().await;
}

#[tokio::test]
async fn another_users_task_is_invisible_and_untouchable() {
    let app = TestApp::spawn().await;
    let alice = app.token("auth0|alice").await;
    let bob = app.token("auth0|bob").await;
    let created = run(
        &app,
        &alice,
        command("a1", "task", "create-task", json!({ "title": "Private" })),
    )
    .await;
    let id = created["entityId"].as_str().expect("id").to_owned();

    let (status, body) = app
        .get_json(&bob, &format!("/api/tasks/{id}/history"))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not-found");
    let attack = run(
        &app,
        &bob,
        command("b1", "task", "delete-task", json!({ "id": id })),
    )
    .await;
    assert_eq!(attack["code"], "task-not-found");
    assert!(
        task_by_id(&app, &alice, &id).await.is_some(),
        "Bob's delete must not touch Alice's task"
    );
    let (status, _) = app
        .get_json(&alice, &format!("/api/tasks/{id}/history"))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.get_json(&alice, "/api/tasks/not-a-uuid/history").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn login_settings_and_logout() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|settings").await;
    let (status, defaults) = app.get_json(&token, "/api/settings").await;
    assert_eq!(status, 200);
    assert_eq!(
        defaults,
        json!({ "tasksPerCategory": 3, "showDoneTasks": false })
    );

    let logout_first = run(
        &app,
        &token,
        command("o0", "user", "logout-user", json!({})),
    )
    .await;
    assert_eq!(logout_first["code"], "user-not-found");

    let login = run(&app, &token, command("l1", "user", "login-user", json!({}))).await;
    assert_eq!(login["status"], "applied");
    assert_eq!(login["entityId"], "auth0|settings");
    let (_, settings) = app.get_json(&token, "/api/settings").await;
    assert_eq!(
        settings,
        json!({ "tasksPerCategory": 3, "showDoneTasks": false })
    );

    let second = run(
        &app,
        &token,
        command("l2", "user", "login-user", json!({ "name": "Renamed" })),
    )
    .await;
    assert_eq!(second["status"], "applied");
    let changed = run(
        &app,
        &token,
        command(
            "s1",
            "user-settings",
            "update-user-settings",
            json!({ "tasksPerCategory": 5, "showDoneTasks": true }),
        ),
    )
    .await;
    assert_eq!(changed["status"], "applied");
    let (_, settings) = app.get_json(&token, "/api/settings").await;
    assert_eq!(
        settings,
        json!({ "tasksPerCategory": 5, "showDoneTasks": true })
    );
    let logout = run(
        &app,
        &token,
        command("o1", "user", "logout-user", json!(null)),
    )
    .await;
    assert_eq!(logout["status"], "applied");
    app.stop().await;
}

#[tokio::test]
async fn settings_update_before_login_starts_from_defaults() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|early").await;
    run(
        &app,
        &token,
        command(
            "s1",
            "user-settings",
            "update-user-settings",
            json!({ "showDoneTasks": true }),
        ),
    )
    .await;
    let (_, settings) = app.get_json(&token, "/api/settings").await;
    assert_eq!(
        settings,
        json!({ "tasksPerCategory": 3, "showDoneTasks": true })
    );
    app.stop().await;
}

#[tokio::test]
async fn client_id_kept_and_reuse_rejected() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|ids").await;
    let id = uuid::Uuid::new_v4().to_string();
    let accepted = app
        .accept(
            &token,
            json!([command(
                "i1",
                "task",
                "create-task",
                json!({ "id": id, "title": "Mine" })
            )]),
        )
        .await;
    assert_eq!(accepted["commands"][0]["entityId"], json!(id));
    app.settled(&token, "i1").await;
    let reuse = run(
        &app,
        &token,
        command(
            "i2",
            "task",
            "create-task",
            json!({ "id": id, "title": "Again" }),
        ),
    )
    .await;
    assert_eq!(reuse["code"], "task-already-exists");
    assert_eq!(
        task_by_id(&app, &token, &id).await.expect("task")["title"],
        "Mine"
    );
    app.stop().await;
}

#[tokio::test]
async fn accepted_body_lists_keys_in_request_order() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|order").await;
    let accepted = app
        .accept(
            &token,
            json!([
                command("zeta", "task", "create-task", json!({ "title": "z" })),
                command("alpha", "task", "create-task", json!({ "title": "a" })),
                { "entityType": "task", "type": "create-task", "data": { "title": "no key" } },
                command("mid", "user", "login-user", json!({}))
            ]),
        )
        .await;
    let keys = accepted["idempotencyKeys"].as_array().expect("keys");
    assert_eq!(keys.len(), 4);
    assert_eq!(keys[0], "zeta");
    assert_eq!(keys[1], "alpha");
    assert!(uuid::Uuid::parse_str(keys[2].as_str().expect("generated key")).is_ok());
    assert_eq!(keys[3], "mid");
    assert_eq!(accepted["commands"][3]["entityType"], "user");
    assert_eq!(accepted["commands"][3]["entityId"], "auth0|order");
    let generated = keys[2].as_str().expect("key").to_owned();
    assert_eq!(app.settled(&token, &generated).await["status"], "applied");
    app.stop().await;
}

#[tokio::test]
async fn command_status_of_unknown_key_is_pending() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|status").await;
    let (status, body) = app.get_json(&token, "/api/commands/never-sent").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "pending");
    let (status, body) = app.get_json(&token, "/api/commands/bad%2Fkey").await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn task_list_pages_and_etag() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|pages").await;
    let batch: Vec<Value> = (0..5)
        .map(|i| {
            command(
                &format!("p{i}"),
                "task",
                "create-task",
                json!({ "title": format!("Task {i}") }),
            )
        })
        .collect();
    app.accept(&token, Value::Array(batch)).await;
    for i in 0..5 {
        app.settled(&token, &format!("p{i}")).await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/tasks?pageSize=2".to_owned();
    loop {
        let (status, page) = app.get_json(&token, &path).await;
        assert_eq!(status, 200, "{page}");
        let tasks = page["tasks"].as_array().expect("tasks");
        assert!(tasks.len() <= 2);
        seen.extend(
            tasks
                .iter()
                .map(|task| task["id"].as_str().expect("id").to_owned()),
        );
        match page["nextPageToken"].as_str() {
            Some(next) => path = format!("/api/tasks?pageSize=2&pageToken={next}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "{seen:?}");
    assert_eq!(seen.len(), 5, "no task may appear twice: {seen:?}");

    let first = app
        .client
        .get(app.url("/api/tasks"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    let etag = first.headers()["etag"].to_str().expect("etag").to_owned();
    let cached = app
        .client
        .get(app.url("/api/tasks"))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(cached.status(), 304);
    run(
        &app,
        &token,
        command("p9", "task", "create-task", json!({ "title": "One more" })),
    )
    .await;
    let changed = app
        .client
        .get(app.url("/api/tasks"))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().expect("etag"), etag);
    app.stop().await;
}

#[tokio::test]
async fn invalid_page_parameters_get_400() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|params").await;
    let other = app.token("auth0|other").await;
    for query in [
        "pageSize=0",
        "pageSize=1001",
        "pageSize=abc",
        "pageSize=-1",
        "pageToken=%21%21",
        "pageToken=e30",
        "color=red",
    ] {
        let (status, body) = app.get_json(&token, &format!("/api/tasks?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["code"].is_string(), "{query}: {body}");
    }
    // A page token names the partition it continues; another user's token is refused.
    let batch: Vec<Value> = (0..3)
        .map(|i| {
            command(
                &format!("o{i}"),
                "task",
                "create-task",
                json!({ "title": format!("o{i}") }),
            )
        })
        .collect();
    app.accept(&other, Value::Array(batch)).await;
    for i in 0..3 {
        app.settled(&other, &format!("o{i}")).await;
    }
    let (_, page) = app.get_json(&other, "/api/tasks?pageSize=1").await;
    let foreign = page["nextPageToken"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (status, _) = app
        .get_json(&token, &format!("/api/tasks?pageToken={foreign}"))
        .await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problems() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|routes").await;
    let cases = [
        ("GET", "/api/nothing-here", 404, "not-found"),
        ("DELETE", "/api/tasks", 405, "method-not-allowed"),
        ("PUT", "/api/commands", 405, "method-not-allowed"),
        ("POST", "/api/settings", 405, "method-not-allowed"),
        ("GET", "/dev/token", 405, "method-not-allowed"),
        ("POST", "/dev/jwks.json", 405, "method-not-allowed"),
    ];
    for (method, path, expected, code) in cases {
        let response = app
            .client
            .request(method.parse().expect("method"), app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), expected, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["code"], code, "{method} {path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|openapi").await;
    let document: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("GET openapi")
        .json()
        .await
        .expect("JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    for (path, operations) in paths {
        let concrete = path
            .replace("{idempotencyKey}", "some-key")
            .replace("{id}", &uuid::Uuid::new_v4().to_string());
        for method in operations.as_object().expect("operations").keys() {
            let mut request = app
                .client
                .request(
                    method.to_uppercase().parse().expect("method"),
                    app.url(&concrete),
                )
                .bearer_auth(&token);
            if method == "post" {
                request = request.json(&json!([command("doc", "user", "login-user", json!({}))]));
            }
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let route_missing = status == 405
                || (status == 404 && body["code"] == "not-found" && !path.contains("history"));
            assert!(
                !route_missing,
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn concurrent_updates_keep_stream_gap_free() {
    let app = TestApp::spawn().await;
    let token = app.token("auth0|racer").await;
    let created = run(
        &app,
        &token,
        command(
            "base",
            "task",
            "create-task",
            json!({ "title": "Contended" }),
        ),
    )
    .await;
    let id = created["entityId"].as_str().expect("id").to_owned();
    // One batch lands on the queue together, so the listener processes the
    // updates in parallel and they race for the same stream version.
    let updates: Vec<Value> = (1..=20)
        .map(|order| {
            command(
                &format!("race-{order}"),
                "task",
                "update-task",
                json!({ "id": id, "order": order }),
            )
        })
        .collect();
    app.accept(&token, Value::Array(updates)).await;
    for order in 1..=20 {
        let status = app.settled(&token, &format!("race-{order}")).await;
        assert_eq!(status["status"], "applied", "race-{order}: {status}");
    }
    let (status, history) = app
        .get_json(&token, &format!("/api/tasks/{id}/history"))
        .await;
    assert_eq!(status, 200);
    let events = history["events"].as_array().expect("events");
    let versions: Vec<u64> = events
        .iter()
        .map(|event| event["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(versions, (1..=21).collect::<Vec<u64>>());
    let last_order = events.last().expect("last event")["data"]["order"].clone();
    let task = task_by_id(&app, &token, &id).await.expect("task");
    assert_eq!(task["version"], 21);
    assert_eq!(
        task["order"], last_order,
        "the read model equals the fold of the stream"
    );
    app.stop().await;
}
