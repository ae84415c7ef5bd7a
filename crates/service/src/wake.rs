//! Wake-up signals from the code that enqueues a message to the listener of
//! that queue, so the local host reacts at once instead of at the next poll.

use std::sync::Arc;

use tokio::sync::Notify;

/// A cheap, cloneable signal for one queue. Waking with no listener is a no-op.
#[derive(Clone, Default)]
pub struct Waker {
    notify: Arc<Notify>,
}

impl Waker {
    /// Creates a signal with no listener yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Signals that a message was just enqueued.
    pub fn wake(&self) {
        // `notify_one` stores a permit when nobody waits, so a wake that
        // races with the listener going to sleep is not lost.
        self.notify.notify_one();
    }

    /// Waits until [`Waker::wake`] is called.
    pub async fn woken(&self) {
        self.notify.notified().await;
    }
}
