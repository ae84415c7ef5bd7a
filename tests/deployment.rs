//! Consistency of the deployment files with the code: function folders,
//! bindings, routes, queue settings and app settings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use prism_service::functions::{PROCESS_COMMAND, PROJECT_EVENTS};
use prism_service::host::handler::QUEUE_TRIGGER_NAME;
use prism_service::host::host_json::read_queue_settings;
use prism_service::http::openapi::all_routes;
use serde_json::Value;

/// App settings that the Functions host passes to the handler.
const APP_SETTINGS: [&str; 9] = [
    "AzureWebJobsStorage",
    "COMMAND_QUEUE",
    "DOMAIN_EVENTS_QUEUE",
    "TASK_EVENTS_TABLE",
    "TASKS_TABLE",
    "SETTINGS_TABLE",
    "USERS_TABLE",
    "AUTH0_DOMAIN",
    "AUTH0_AUDIENCE",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn function_folders() -> Vec<(String, Value)> {
    let mut folders: Vec<(String, Value)> = std::fs::read_dir(root().join("functions"))
        .expect("functions/ exists")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.join("function.json").exists())
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, read_json(&path.join("function.json")))
        })
        .collect();
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    folders
}

/// Replaces every `{name}` in a route with `{}` so templates compare equal.
fn normalise(route: &str) -> String {
    let mut out = String::new();
    let mut in_parameter = false;
    for character in route.chars() {
        match character {
            '{' => {
                in_parameter = true;
                out.push_str("{}");
            }
            '}' => in_parameter = false,
            _ if !in_parameter => out.push(character),
            _ => {}
        }
    }
    out
}

#[test]
fn http_functions_match_the_api_routes() {
    let mut declared = BTreeSet::new();
    for (name, function) in function_folders() {
        let bindings = function["bindings"].as_array().expect("bindings");
        let Some(trigger) = bindings
            .iter()
            .find(|binding| binding["type"] == "httpTrigger")
        else {
            continue;
        };
        assert_eq!(
            bindings.len(),
            2,
            "{name}: forwarding needs exactly httpTrigger + http output"
        );
        assert!(
            bindings
                .iter()
                .any(|binding| binding["type"] == "http" && binding["direction"] == "out"),
            "{name}"
        );
        assert_eq!(
            trigger["authLevel"], "anonymous",
            "{name}: the handler verifies the bearer token itself"
        );
        let route = format!("/api/{}", trigger["route"].as_str().expect("route"));
        for method in trigger["methods"].as_array().expect("methods") {
            declared.insert((
                method.as_str().expect("method").to_owned(),
                normalise(&route),
            ));
        }
    }
    let served: BTreeSet<(String, String)> = all_routes()
        .into_iter()
        .map(|(method, path)| (method.to_owned(), normalise(path)))
        .collect();
    assert_eq!(declared, served);
}

#[test]
fn queue_functions_match_the_code() {
    let queue_functions: Vec<(String, Value)> = function_folders()
        .into_iter()
        .filter(|(_, function)| function["bindings"][0]["type"] == "queueTrigger")
        .collect();
    let names: Vec<&str> = queue_functions
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(names, [PROCESS_COMMAND, PROJECT_EVENTS]);
    let expected_queue = [
        ("ProcessCommand", "%COMMAND_QUEUE%"),
        ("ProjectEvents", "%DOMAIN_EVENTS_QUEUE%"),
    ];
    for ((name, function), (expected_name, queue)) in queue_functions.iter().zip(expected_queue) {
        assert_eq!(name, expected_name);
        let trigger = &function["bindings"][0];
        assert_eq!(trigger["name"], QUEUE_TRIGGER_NAME, "{name}");
        assert_eq!(trigger["queueName"], queue, "{name}");
        assert_eq!(trigger["connection"], "AzureWebJobsStorage", "{name}");
        assert!(
            trigger.get("dataType").is_none(),
            "{name}: the handler expects the JSON-quoted text form"
        );
    }
}

#[test]
fn host_json_configures_forwarding_handler() {
    let host = read_json(&root().join("host.json"));
    assert_eq!(host["version"], "2.0");
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"],
        "prism-plan"
    );
    assert_eq!(
        host["customHandler"]["description"]["arguments"],
        serde_json::json!(["handler"])
    );
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], true);
    assert_eq!(host["extensionBundle"]["version"], "[4.*, 5.0.0)");
    assert_eq!(host["extensions"]["http"]["routePrefix"], "api");
    let settings = read_queue_settings(&root().join("host.json")).expect("valid queue settings");
    // Every idle poll is a billed storage transaction: below 2 s the polling
    // of two queues alone costs a large share of a 10 EUR monthly budget.
    assert!(settings.max_polling_interval >= std::time::Duration::from_secs(2));
}

#[test]
fn local_settings_example_names_every_setting() {
    let example = read_json(&root().join("local.settings.json.example"));
    let values = example["Values"].as_object().expect("Values");
    assert_eq!(values["FUNCTIONS_WORKER_RUNTIME"], "custom");
    for name in APP_SETTINGS {
        assert!(
            values.contains_key(name),
            "local.settings.json.example lacks {name}"
        );
    }
}

#[test]
fn configuration_doc_lists_every_setting() {
    let doc = std::fs::read_to_string(root().join("docs/configuration.md"))
        .expect("docs/configuration.md");
    let others = [
        "CORS_ALLOWED_ORIGINS",
        "FUNCTIONS_CUSTOMHANDLER_PORT",
        "RUST_LOG",
        "LOG_FORMAT",
    ];
    for name in APP_SETTINGS.iter().chain(&others) {
        assert!(
            doc.contains(name),
            "docs/configuration.md does not document {name}"
        );
    }
}
