//! A queue listener that follows the Functions queue-trigger rules: batches,
//! a 10-minute receive visibility renewed while a message runs, delete on
//! success, release or poison on failure, and randomized exponential polling
//! back-off capped by `maxPollingInterval`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use super::host_json::QueueSettings;
use crate::storage::{Queue, ReceivedMessage};
use crate::wake::Waker;

/// How long a received message stays invisible while its function runs.
pub const RECEIVE_VISIBILITY: Duration = Duration::from_secs(600);

/// How often the visibility of a running message is renewed.
const RENEW_INTERVAL: Duration = Duration::from_secs(300);

/// Shortest wait between polls, and the step of the back-off.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Reason an invocation failed.
#[derive(Debug)]
pub enum InvocationFailure {
    /// A failure worth a retry (storage, network); poisoned after `maxDequeueCount`.
    Retry(String),
    /// The message can never succeed; it moves to the poison queue at once.
    Poison(String),
}

/// The function a listener invokes for each message text.
pub type MessageFunction = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<(), InvocationFailure>> + Send>>
        + Send
        + Sync,
>;

/// A queue listener bound to one function.
pub struct QueueListener {
    function_name: &'static str,
    queue: Queue,
    poison: Queue,
    settings: QueueSettings,
    waker: Waker,
    function: MessageFunction,
}

impl QueueListener {
    /// Binds `function` to `queue`; failures past the dequeue limit go to `poison`.
    pub fn new(
        function_name: &'static str,
        queue: Queue,
        poison: Queue,
        settings: QueueSettings,
        waker: Waker,
        function: MessageFunction,
    ) -> Self {
        Self {
            function_name,
            queue,
            poison,
            settings,
            waker,
            function,
        }
    }

    /// Polls until `shutdown` is cancelled, then waits for in-flight messages.
    pub async fn run(self, shutdown: CancellationToken) {
        let listener = Arc::new(self);
        let mut in_flight = JoinSet::new();
        let mut empty_polls: u32 = 0;
        info!(
            function = listener.function_name,
            queue = listener.queue.name(),
            "queue listener started"
        );
        while !shutdown.is_cancelled() {
            while in_flight.len() > listener.settings.new_batch_threshold {
                in_flight.join_next().await;
            }
            while in_flight.try_join_next().is_some() {}
            let received = listener
                .queue
                .receive(listener.settings.batch_size, RECEIVE_VISIBILITY)
                .await;
            let messages = match received {
                Ok(messages) => messages,
                Err(error) => {
                    warn!(queue = listener.queue.name(), error = %error, "receiving messages failed; backing off");
                    Vec::new()
                }
            };
            if messages.is_empty() {
                empty_polls = empty_polls.saturating_add(1);
                let delay = backoff_delay(empty_polls, listener.settings.max_polling_interval);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = listener.waker.woken() => { empty_polls = 0; }
                    () = shutdown.cancelled() => {}
                }
                continue;
            }
            empty_polls = 0;
            for message in messages {
                let listener = Arc::clone(&listener);
                in_flight.spawn(async move { listener.handle(message).await });
            }
        }
        let remaining = in_flight.len();
        if remaining > 0 {
            info!(
                queue = listener.queue.name(),
                messages = remaining,
                "finishing in-flight messages before shutdown"
            );
        }
        while in_flight.join_next().await.is_some() {}
        info!(queue = listener.queue.name(), "queue listener stopped");
    }

    async fn handle(&self, message: ReceivedMessage) {
        let span = tracing::info_span!(
            "queue_message",
            function = self.function_name,
            message.id = %message.id,
            message.dequeue_count = message.dequeue_count,
        );
        self.handle_in_span(message).instrument(span).await;
    }

    async fn handle_in_span(&self, message: ReceivedMessage) {
        let text = match &message.body {
            Ok(text) => text.clone(),
            Err(raw) => {
                let raw = raw.clone();
                self.poison(&message, &raw, "the message is not valid base64 text")
                    .await;
                return;
            }
        };
        if message.dequeue_count > self.settings.max_dequeue_count {
            self.poison(
                &message,
                &text,
                "the message was delivered more often than maxDequeueCount",
            )
            .await;
            return;
        }
        let (result, message) = self.invoke_with_renewal(message, text.clone()).await;
        match result {
            Ok(()) => {
                if let Err(error) = self.queue.delete(&message).await {
                    warn!(error = %error, "deleting a processed message failed; it will be delivered again");
                }
            }
            Err(InvocationFailure::Poison(reason)) => self.poison(&message, &text, &reason).await,
            Err(InvocationFailure::Retry(reason)) => {
                if message.dequeue_count >= self.settings.max_dequeue_count {
                    self.poison(&message, &text, &reason).await;
                } else {
                    warn!(error = %reason, "invocation failed; the message will be retried");
                    if let Err(error) = self
                        .queue
                        .release(&message, self.settings.visibility_timeout)
                        .await
                    {
                        warn!(error = %error, "releasing a failed message failed; it reappears after its visibility timeout");
                    }
                }
            }
        }
    }

    /// Runs the function while renewing the message's visibility every
    /// [`RENEW_INTERVAL`]; returns the message with its latest pop receipt.
    async fn invoke_with_renewal(
        &self,
        mut message: ReceivedMessage,
        text: String,
    ) -> (Result<(), InvocationFailure>, ReceivedMessage) {
        let invocation = (self.function)(text);
        tokio::pin!(invocation);
        let mut renew =
            tokio::time::interval_at(tokio::time::Instant::now() + RENEW_INTERVAL, RENEW_INTERVAL);
        loop {
            tokio::select! {
                result = &mut invocation => return (result, message),
                _ = renew.tick() => {
                    match self.queue.renew(&message, RECEIVE_VISIBILITY).await {
                        Ok(renewed) => message = renewed,
                        Err(error) => warn!(error = %error, "renewing message visibility failed"),
                    }
                }
            }
        }
    }

    async fn poison(&self, message: &ReceivedMessage, text: &str, reason: &str) {
        error!(
            poison.queue = self.poison.name(),
            error = %reason,
            "moving message to the poison queue"
        );
        if let Err(error) = self.poison.send(text).await {
            error!(error = %error, "writing to the poison queue failed; the message stays on its queue");
            return;
        }
        if let Err(error) = self.queue.delete(message).await {
            warn!(error = %error, "deleting a poisoned message failed; it may be delivered again");
        }
    }
}

/// The Functions host's randomized exponential back-off: about
/// 100 ms + rand(0.8–1.2) × 2^(n-1) × 100 ms after the n-th empty poll.
pub fn backoff_delay(empty_polls: u32, max: Duration) -> Duration {
    if empty_polls <= 1 {
        return MIN_POLL_INTERVAL.min(max);
    }
    let exponent = (empty_polls - 1).min(20);
    let factor: f64 = rand::thread_rng().gen_range(0.8..1.2);
    let step = MIN_POLL_INTERVAL.as_secs_f64() * f64::from(1u32 << exponent) * factor;
    (MIN_POLL_INTERVAL + Duration::from_secs_f64(step)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_empty_poll_waits_the_minimum() {
        assert_eq!(backoff_delay(1, Duration::from_secs(60)), MIN_POLL_INTERVAL);
    }

    #[test]
    fn backoff_grows_then_caps() {
        let max = Duration::from_secs(2);
        let third = backoff_delay(3, Duration::from_secs(60));
        assert!(
            third >= Duration::from_millis(420) && third <= Duration::from_millis(580),
            "{third:?}"
        );
        assert_eq!(backoff_delay(30, max), max);
    }
}
