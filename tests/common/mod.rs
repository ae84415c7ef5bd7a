//! Test harness: one Azurite per test binary on free loopback ports, and a
//! `TestApp` per test that runs the real local host in-process against it,
//! with queue and table names of its own so tests never share data.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use prism_service::azurite::{Azurite, AzuriteOptions};
use prism_service::config::Config;
use prism_service::host::local::{LocalHost, LocalOptions};
use serde_json::{json, Value};

/// How long a test waits for a command to show in a read model.
pub const PROJECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Root of the repository (where `node_modules` and `host.json` live).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Connection string of the Azurite shared by every test of this binary.
///
/// The static is never dropped; the guard script stops Azurite when the test
/// process exits and its stdin pipe closes.
pub fn azurite_connection() -> String {
    static AZURITE: OnceLock<Azurite> = OnceLock::new();
    AZURITE
        .get_or_init(|| {
            Azurite::start(AzuriteOptions {
                project_root: project_root(),
                data_dir: None,
            })
            .expect("Azurite starts; run `npm ci` in the project root first")
        })
        .connection_string()
}

/// Environment for one test: the shared Azurite and names unique to the test.
pub fn test_environment() -> HashMap<String, String> {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..10];
    HashMap::from([
        ("AzureWebJobsStorage".to_owned(), azurite_connection()),
        ("COMMAND_QUEUE".to_owned(), format!("commands-{suffix}")),
        ("DOMAIN_EVENTS_QUEUE".to_owned(), format!("events-{suffix}")),
        (
            "TASK_EVENTS_TABLE".to_owned(),
            format!("TaskEvents{suffix}"),
        ),
        ("TASKS_TABLE".to_owned(), format!("Tasks{suffix}")),
        ("SETTINGS_TABLE".to_owned(), format!("Settings{suffix}")),
        ("USERS_TABLE".to_owned(), format!("Users{suffix}")),
        (
            "FUNCTIONS_APP_ROOT_PATH".to_owned(),
            project_root().display().to_string(),
        ),
    ])
}

/// A running local host for one test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// HTTP client for the test.
    pub client: reqwest::Client,
    /// The environment the host was configured from.
    pub environment: HashMap<String, String>,
    host: Option<LocalHost>,
}

impl TestApp {
    /// Starts a local host on a free port against the shared Azurite.
    pub async fn spawn() -> Self {
        Self::spawn_with(test_environment()).await
    }

    /// Starts a local host that runs no queue listeners, so messages stay
    /// on their queues for the test to inspect.
    pub async fn spawn_without_listeners() -> Self {
        Self::start(test_environment(), false).await
    }

    /// Starts a local host configured from `environment`.
    pub async fn spawn_with(environment: HashMap<String, String>) -> Self {
        Self::start(environment, true).await
    }

    async fn start(environment: HashMap<String, String>, listeners: bool) -> Self {
        let lookup = environment.clone();
        let config = Config::from_lookup(|name| lookup.get(name).cloned())
            .expect("the test configuration is valid");
        let host = LocalHost::start(
            config,
            LocalOptions {
                port: 0,
                project_root: project_root(),
                in_memory_storage: true,
                listeners,
            },
        )
        .await
        .expect("the local host starts");
        Self {
            base_url: format!("http://{}", host.address),
            client: reqwest::Client::new(),
            environment,
            host: Some(host),
        }
    }

    /// Stops the host, finishing in-flight messages.
    pub async fn stop(mut self) {
        if let Some(host) = self.host.take() {
            host.stop().await;
        }
    }

    /// Full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Mints a development token for `sub`.
    pub async fn token(&self, sub: &str) -> String {
        let response = self
            .client
            .post(self.url("/dev/token"))
            .json(&json!({ "sub": sub, "name": "Test User", "email": "test@example.com" }))
            .send()
            .await
            .expect("POST /dev/token");
        assert_eq!(response.status(), 200, "minting a token failed");
        let body: Value = response.json().await.expect("token JSON");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Posts a JSON body to `/api/commands`.
    pub async fn post_commands(&self, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/commands"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST /api/commands")
    }

    /// Posts commands and asserts 202; returns the response body.
    pub async fn accept(&self, token: &str, body: Value) -> Value {
        let response = self.post_commands(token, &body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, 202, "commands were not accepted: {text}");
        serde_json::from_str(&text).expect("202 body is JSON")
    }

    /// GETs `path` with the token and returns status and JSON body.
    pub async fn get_json(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Lists every task of the user, following page tokens.
    pub async fn all_tasks(&self, token: &str) -> Vec<Value> {
        let mut tasks = Vec::new();
        let mut path = "/api/tasks?pageSize=1000".to_owned();
        loop {
            let (status, body) = self.get_json(token, &path).await;
            assert_eq!(status, 200, "GET {path}: {body}");
            tasks.extend(body["tasks"].as_array().cloned().unwrap_or_default());
            match body["nextPageToken"].as_str() {
                Some(token) => path = format!("/api/tasks?pageSize=1000&pageToken={token}"),
                None => return tasks,
            }
        }
    }

    /// Waits until the command with `key` is applied or rejected and its
    /// effect is visible in the read model; returns the status body.
    pub async fn settled(&self, token: &str, key: &str) -> Value {
        let deadline = Instant::now() + PROJECTION_TIMEOUT;
        loop {
            let (status, body) = self.get_json(token, &format!("/api/commands/{key}")).await;
            assert_eq!(status, 200, "command status: {body}");
            let done = match body["status"].as_str() {
                Some("applied") => body["projected"] == json!(true),
                Some("rejected") => true,
                _ => false,
            };
            if done {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "command {key} did not settle: {body}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until `predicate` holds for the user's task list.
    pub async fn wait_for_tasks(
        &self,
        token: &str,
        predicate: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + PROJECTION_TIMEOUT;
        loop {
            let tasks = self.all_tasks(token).await;
            if predicate(&tasks) {
                return tasks;
            }
            assert!(Instant::now() < deadline, "tasks never matched: {tasks:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Storage clients for the queues and tables named in `environment`.
pub fn storage_for(environment: &HashMap<String, String>) -> prism_service::app::Storage {
    let config = Config::from_lookup(|name| environment.get(name).cloned()).expect("config");
    let account =
        prism_service::storage::StorageAccount::parse(&environment["AzureWebJobsStorage"])
            .expect("the test connection string is valid");
    prism_service::app::Storage::connect(&account, &config.names).expect("storage clients")
}

/// Builds the app over fresh queues and tables, for tests that call the
/// functions directly. Its verifier points at a closed port, because these
/// tests never verify a token.
pub async fn app_without_http() -> prism_service::app::App {
    use prism_service::auth::{AuthSettings, TokenVerifier};
    let storage = storage_for(&test_environment());
    storage
        .create_all()
        .await
        .expect("create queues and tables");
    let verifier = TokenVerifier::new(
        AuthSettings {
            issuer: "https://issuer.invalid/".into(),
            audience: "prism-plan".into(),
            jwks_url: "http://127.0.0.1:9/jwks.json".parse().expect("URL"),
            leeway: Duration::from_secs(30),
            min_refresh_interval: Duration::from_secs(60),
        },
        reqwest::Client::new(),
    );
    prism_service::app::App::new(storage, verifier)
}
