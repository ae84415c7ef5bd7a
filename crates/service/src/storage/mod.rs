//! Narrow adapters over Azure Storage queues and tables.
//!
//! No Azure SDK type appears in this module's public API, so callers depend only on
//! [`Queue`], [`Table`], [`Entity`] and [`StorageError`].

mod connection;
mod entity;
mod error;
mod keys;
mod queue;
mod table;
mod transaction;

pub use connection::{ConnectionStringError, StorageAccount};
pub use entity::{Entity, Property, MAX_CUSTOM_PROPERTIES, MAX_STRING_UTF16_UNITS};
pub use error::StorageError;
pub use keys::{decode_key, encode_key, odata_string};
pub use queue::{
    PeekedMessage, Queue, ReceivedMessage, MAX_MESSAGES_PER_CALL, MAX_MESSAGE_BYTES, MAX_VISIBILITY,
};
pub use table::{Continuation, QueryPage, Table, MAX_QUERY_PAGE};
pub use transaction::{TableOperation, MAX_TRANSACTION_BYTES, MAX_TRANSACTION_OPERATIONS};

use std::time::Duration;

/// Retry policy of every storage call: three quick retries within five
/// seconds. The SDK default keeps retrying for a minute, which would hold
/// an HTTP request or a health check that long while storage is down; the
/// queues retry failed messages themselves, so a short policy loses nothing.
fn retry_options() -> azure_core::RetryOptions {
    azure_core::RetryOptions::exponential(
        azure_core::ExponentialRetryOptions::default()
            .max_retries(3u32)
            .initial_delay(Duration::from_millis(200))
            .max_total_elapsed(Duration::from_secs(5)),
    )
}
