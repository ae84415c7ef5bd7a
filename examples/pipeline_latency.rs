//! Measures how long a command takes from `POST /api/commands` until the read
//! model shows it, against a running local host.
//!
//! Usage: `cargo run --release --example pipeline_latency -- [BASE_URL] [COMMANDS] [CONCURRENCY]`
//! with defaults `http://127.0.0.1:7071`, 200 and 1. Only loopback URLs are
//! accepted. Each worker posts one `create-task` at a time and polls
//! `GET /api/commands/{key}` every 5 ms until `projected` is true.

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let base = arguments
        .first()
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:7071".into());
    let commands: usize = arguments.get(1).map_or(Ok(200), |text| text.parse())?;
    let concurrency: usize = arguments.get(2).map_or(Ok(1), |text| text.parse())?;
    if !(base.starts_with("http://127.0.0.1:") || base.starts_with("http://localhost:")) {
        return Err(
            format!("{base} is not a loopback URL; point this tool at a local host only").into(),
        );
    }
    let client = reqwest::Client::new();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let workers = (0..concurrency.max(1)).map(|worker| {
        let client = client.clone();
        let base = base.clone();
        let run = run.clone();
        let share = commands / concurrency.max(1);
        tokio::spawn(async move { measure(&client, &base, &run, worker, share).await })
    });
    let mut latencies = Vec::new();
    for worker in futures::future::join_all(workers).await {
        latencies.extend(worker??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "commands={} concurrency={} elapsed_s={:.2} commands_per_s={:.1}",
        latencies.len(),
        concurrency,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    )?;
    for (label, quantile) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)] {
        writeln!(
            stdout,
            "{label}_ms={:.1}",
            percentile(&latencies, quantile).as_secs_f64() * 1000.0
        )?;
    }
    Ok(())
}

async fn measure(
    client: &reqwest::Client,
    base: &str,
    run: &str,
    worker: usize,
    count: usize,
) -> Result<Vec<Duration>, String> {
    let token = token(client, base, &format!("bench|{run}-{worker}")).await?;
    let mut latencies = Vec::with_capacity(count);
    for index in 0..count {
        let key = format!("bench-{worker}-{index}");
        let body = json!([{ "idempotencyKey": key, "entityType": "task", "type": "create-task",
                            "data": { "title": format!("Bench task {index}") } }]);
        let start = Instant::now();
        let response = client
            .post(format!("{base}/api/commands"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if response.status() != 202 {
            return Err(format!("POST /api/commands answered {}", response.status()));
        }
        loop {
            let status: Value = client
                .get(format!("{base}/api/commands/{key}"))
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|error| error.to_string())?
                .json()
                .await
                .map_err(|error| error.to_string())?;
            if status["projected"] == json!(true) {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "command {key} was not projected within 30 s: {status}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(start.elapsed());
    }
    Ok(latencies)
}

async fn token(client: &reqwest::Client, base: &str, sub: &str) -> Result<String, String> {
    let body: Value = client
        .post(format!("{base}/dev/token"))
        .json(&json!({ "sub": sub }))
        .send()
        .await
        .map_err(|error| error.to_string())?
        .json()
        .await
        .map_err(|error| error.to_string())?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no access_token in {body}"))
}

fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * quantile).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}
