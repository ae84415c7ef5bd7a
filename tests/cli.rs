//! Runs the real `prism-plan local` binary the way a new user does: with no
//! storage configured, so it starts Azurite itself, then signs in, creates a
//! task, lists it and stops on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

async fn wait_until_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{base}/api/health")).send().await {
            if response.status() == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "prism-plan local never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn local_command_starts_azurite_and_serves_the_pipeline() {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_prism-plan"));
    // A process group of its own lets the test send Ctrl-C the way a
    // terminal does: to every process of the group.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command
        .args(["local", "--port", &port.to_string(), "--in-memory"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AzureWebJobsStorage")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .expect("prism-plan starts");
    let mut child = KillOnDrop(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_healthy(&client, &base).await;

    let token: Value = client
        .post(format!("{base}/dev/token"))
        .json(&json!({ "sub": "auth0|cli-user" }))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    assert_eq!(token["token_type"], "Bearer");
    let token = token["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();

    let accepted = client
        .post(format!("{base}/api/commands"))
        .bearer_auth(&token)
        .json(&json!([{ "entityType": "task", "type": "create-task", "data": { "title": "From the CLI" } }]))
        .send()
        .await
        .expect("commands");
    assert_eq!(accepted.status(), 202);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body: Value = client
            .get(format!("{base}/api/tasks"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("tasks")
            .json()
            .await
            .expect("tasks JSON");
        if body["tasks"]
            .as_array()
            .is_some_and(|tasks| tasks.len() == 1)
        {
            assert_eq!(body["tasks"][0]["title"], "From the CLI");
            break;
        }
        assert!(Instant::now() < deadline, "the task never appeared: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let descendants = descendants_of(child.0.id());
    assert!(
        !descendants.is_empty(),
        "prism-plan should have started Azurite"
    );
    let group = format!("-{}", child.0.id());
    let signalled = Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "prism-plan did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "prism-plan exited with {status}");
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in &descendants {
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                Instant::now() < deadline,
                "process {pid} (Azurite or its guard) outlived prism-plan"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Lists the children of `pid`, then their children, and so on.
fn descendants_of(pid: u32) -> Vec<u32> {
    let output = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .expect("pgrep runs");
    let children: Vec<u32> = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|text| text.parse().ok())
        .collect();
    let mut all = children.clone();
    for child in children {
        all.extend(descendants_of(child));
    }
    all
}

mod common;

#[tokio::test]
async fn handler_listens_on_host_port() {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_prism-plan"))
        .arg("handler")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("AzureWebJobsStorage", common::azurite_connection())
        .env("AUTH0_DOMAIN", "tenant.example.com")
        .env("AUTH0_AUDIENCE", "https://prism-plan/api")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .expect("prism-plan handler starts");
    let _child = KillOnDrop(child);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        if let Ok(response) = client.get(format!("{base}/")).send().await {
            break response;
        }
        assert!(
            Instant::now() < deadline,
            "the handler never answered GET /"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(ready.status(), 200);
    let unauthenticated = client
        .get(format!("{base}/api/tasks"))
        .send()
        .await
        .expect("GET");
    assert_eq!(unauthenticated.status(), 401);
    let dev_token = client
        .post(format!("{base}/dev/token"))
        .json(&json!({ "sub": "x" }))
        .send()
        .await
        .expect("POST");
    assert_ne!(
        dev_token.status(),
        200,
        "the development identity provider must not run in the handler"
    );
}

#[test]
fn handler_without_issuer_fails_clearly() {
    let output = Command::new(env!("CARGO_BIN_EXE_prism-plan"))
        .arg("handler")
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", free_port().to_string())
        .env("AzureWebJobsStorage", "UseDevelopmentStorage=true")
        .env_remove("AUTH0_DOMAIN")
        .env_remove("AUTH0_AUDIENCE")
        .output()
        .expect("prism-plan runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AUTH0_DOMAIN"), "{stderr}");
}

#[test]
fn invalid_configuration_names_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_prism-plan"))
        .args(["storage", "init"])
        .env("COMMAND_QUEUE", "Not_A_Queue")
        .output()
        .expect("prism-plan runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("COMMAND_QUEUE"), "{stderr}");
    assert!(stderr.contains("Not_A_Queue"), "{stderr}");
}
