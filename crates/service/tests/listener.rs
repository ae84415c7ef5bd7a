//! The local queue listener against Azurite: delete on success, retry then
//! poison on failure, poison at once for hopeless messages, and wake-up on
//! an enqueue by the same process.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prism_service::host::host_json::QueueSettings;
use prism_service::host::listener::{InvocationFailure, MessageFunction, QueueListener};
use prism_service::storage::Queue;
use prism_service::wake::Waker;
use tokio_util::sync::CancellationToken;

async fn queues(name: &str) -> (Queue, Queue) {
    let account = support::azurite().account();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let queue = Queue::new(account, &format!("{name}-{suffix}")).expect("queue");
    let poison = Queue::new(account, &format!("{name}-{suffix}-poison")).expect("poison");
    queue.create_if_missing().await.expect("create");
    poison.create_if_missing().await.expect("create poison");
    (queue, poison)
}

fn settings(max_polling_interval: Duration) -> QueueSettings {
    QueueSettings {
        batch_size: 4,
        new_batch_threshold: 2,
        max_polling_interval,
        visibility_timeout: Duration::ZERO,
        max_dequeue_count: 3,
    }
}

/// Builds a function that counts its calls and returns `outcome`.
fn counting(
    calls: Arc<AtomicU32>,
    outcome: fn() -> Result<(), InvocationFailure>,
) -> MessageFunction {
    Arc::new(move |_text: String| {
        let calls = Arc::clone(&calls);
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            outcome()
        })
    })
}

async fn wait_until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start(
    queue: &Queue,
    poison: &Queue,
    settings: QueueSettings,
    waker: &Waker,
    function: MessageFunction,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let listener = QueueListener::new(
        "TestFunction",
        queue.clone(),
        poison.clone(),
        settings,
        waker.clone(),
        function,
    );
    let handle = tokio::spawn(listener.run(shutdown.clone()));
    (shutdown, handle)
}

#[tokio::test]
async fn successful_message_is_deleted() {
    let (queue, poison) = queues("ok").await;
    let calls = Arc::new(AtomicU32::new(0));
    let waker = Waker::new();
    let (shutdown, handle) = start(
        &queue,
        &poison,
        settings(Duration::from_secs(1)),
        &waker,
        counting(calls.clone(), || Ok(())),
    );
    queue.send("hello").await.expect("send");
    wait_until("the message is processed", async || {
        calls.load(Ordering::SeqCst) == 1
    })
    .await;
    wait_until("the queue is empty", async || {
        queue.approximate_message_count().await.expect("count") == 0
    })
    .await;
    assert_eq!(poison.approximate_message_count().await.expect("count"), 0);
    shutdown.cancel();
    handle.await.expect("listener stops");
}

#[tokio::test]
async fn failing_message_is_retried_then_poisoned() {
    let (queue, poison) = queues("retry").await;
    let calls = Arc::new(AtomicU32::new(0));
    let waker = Waker::new();
    let function = counting(calls.clone(), || {
        Err(InvocationFailure::Retry("storage down".into()))
    });
    let (shutdown, handle) = start(
        &queue,
        &poison,
        settings(Duration::from_millis(200)),
        &waker,
        function,
    );
    queue.send("doomed").await.expect("send");
    wait_until("the message is poisoned", async || {
        !poison.peek(1).await.expect("peek").is_empty()
    })
    .await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "invoked exactly maxDequeueCount times"
    );
    let poisoned = poison.peek(1).await.expect("peek");
    assert_eq!(poisoned[0].body.as_deref(), Ok("doomed"));
    assert_eq!(queue.approximate_message_count().await.expect("count"), 0);
    shutdown.cancel();
    handle.await.expect("listener stops");
}

#[tokio::test]
async fn hopeless_message_is_poisoned_on_first_failure() {
    let (queue, poison) = queues("hopeless").await;
    let calls = Arc::new(AtomicU32::new(0));
    let waker = Waker::new();
    let function = counting(calls.clone(), || {
        Err(InvocationFailure::Poison("not a command".into()))
    });
    let (shutdown, handle) = start(
        &queue,
        &poison,
        settings(Duration::from_millis(200)),
        &waker,
        function,
    );
    queue.send("garbage").await.expect("send");
    wait_until("the message is poisoned", async || {
        !poison.peek(1).await.expect("peek").is_empty()
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    shutdown.cancel();
    handle.await.expect("listener stops");
}

#[tokio::test]
async fn wake_skips_the_idle_polling_wait() {
    let (queue, poison) = queues("wake").await;
    let calls = Arc::new(AtomicU32::new(0));
    let waker = Waker::new();
    // The back-off after the n-th empty poll is 100 ms + f x 2^(n-1) x 100 ms
    // with f in 0.8..1.2, so an idle listener sleeps through its seventh wait
    // at least from 8.04 s to 10.8 s after it starts. A message sent at 8.5 s
    // is therefore processed by 10.5 s only if the wake-up cuts that sleep.
    let started = Instant::now();
    let (shutdown, handle) = start(
        &queue,
        &poison,
        settings(Duration::from_secs(3600)),
        &waker,
        counting(calls.clone(), || Ok(())),
    );
    tokio::time::sleep_until((started + Duration::from_millis(8500)).into()).await;
    queue.send("wake up").await.expect("send");
    waker.wake();
    let deadline = started + Duration::from_millis(10_500);
    while calls.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the woken listener did not process the message before its idle poll"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    handle.await.expect("listener stops");
}

#[tokio::test]
async fn shutdown_finishes_in_flight_messages() {
    let (queue, poison) = queues("drain").await;
    let started = Arc::new(AtomicU32::new(0));
    let finished = Arc::new(AtomicU32::new(0));
    let (started_counter, finished_counter) = (Arc::clone(&started), Arc::clone(&finished));
    let slow: MessageFunction = Arc::new(move |_text: String| {
        let started = Arc::clone(&started_counter);
        let finished = Arc::clone(&finished_counter);
        Box::pin(async move {
            started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(1500)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    });
    let waker = Waker::new();
    let (shutdown, handle) = start(
        &queue,
        &poison,
        settings(Duration::from_millis(200)),
        &waker,
        slow,
    );
    queue.send("slow").await.expect("send");
    waker.wake();
    wait_until("the message is taken", async || {
        started.load(Ordering::SeqCst) == 1
    })
    .await;
    shutdown.cancel();
    handle.await.expect("listener stops");
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the in-flight message finished before the listener stopped"
    );
    wait_until("the finished message is deleted", async || {
        queue.approximate_message_count().await.expect("count") == 0
    })
    .await;
}
