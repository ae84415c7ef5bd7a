//! Azure Storage queue adapter with base64 message bodies, as the Functions host expects.

use std::time::Duration;

use azure_storage::{prelude::StorageCredentials, CloudLocation};
use azure_storage_queues::{QueueClient, QueueServiceClientBuilder};
use base64::Engine as _;
use time::OffsetDateTime;

use super::{StorageAccount, StorageError};

/// Maximum size of a message text in Azure Queue Storage, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Maximum visibility timeout that Azure Queue Storage accepts: 7 days.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Maximum number of messages per receive or peek call.
pub const MAX_MESSAGES_PER_CALL: u8 = 32;

/// A handle to one queue. Cloning is cheap and clones share the HTTP connection pool.
#[derive(Debug, Clone)]
pub struct Queue {
    client: QueueClient,
}

/// A message taken from the queue. It stays invisible to other receivers until
/// `next_visible_at`, and it returns to the queue then unless it is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Message id, stable across deliveries.
    pub id: String,
    /// Pop receipt of this delivery, required to delete, release or renew the message.
    pub pop_receipt: String,
    /// Number of times the message has been received, including this time.
    pub dequeue_count: u32,
    /// Time the message was first sent.
    pub inserted_at: OffsetDateTime,
    /// Time the message expires and is removed by the service.
    pub expires_at: OffsetDateTime,
    /// Time the message becomes visible to receivers again.
    pub next_visible_at: OffsetDateTime,
    /// The decoded text, or `Err` with the raw message text when it is not base64 of UTF-8.
    /// The Functions host moves such messages to the poison queue without running a function.
    pub body: Result<String, String>,
    /// Message text exactly as stored. Updating visibility rewrites the text, so it is sent
    /// back unchanged.
    text_on_wire: String,
}

/// A message seen by [`Queue::peek`], which neither hides it nor counts a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeekedMessage {
    /// Message id.
    pub id: String,
    /// Number of times the message has been received so far.
    pub dequeue_count: u32,
    /// Time the message was first sent.
    pub inserted_at: OffsetDateTime,
    /// The decoded text, or `Err` with the raw message text when it is not base64 of UTF-8.
    pub body: Result<String, String>,
}

impl Queue {
    /// Creates a handle to the queue `name` in `account`. No request is sent.
    ///
    /// # Errors
    /// Returns [`StorageError::InvalidArgument`] when `name` is not 3 to 63 lowercase
    /// letters, digits and single hyphens starting and ending with a letter or digit.
    pub fn new(account: &StorageAccount, name: &str) -> Result<Self, StorageError> {
        validate_queue_name(name)?;
        let location = CloudLocation::Custom {
            account: account.account_name().to_owned(),
            uri: account.queue_endpoint().to_owned(),
        };
        let credentials = StorageCredentials::access_key(
            account.account_name().to_owned(),
            account.account_key().to_owned(),
        );
        let service = QueueServiceClientBuilder::with_location(location, credentials)
            .retry(super::retry_options())
            .build();
        Ok(Self {
            client: service.queue_client(name),
        })
    }

    /// Returns the queue name.
    pub fn name(&self) -> &str {
        self.client.queue_name()
    }

    /// Creates the queue unless it exists. Calling it again is harmless.
    ///
    /// # Errors
    /// Returns [`StorageError`] when the service rejects the request or cannot be reached.
    pub async fn create_if_missing(&self) -> Result<(), StorageError> {
        match self.client.create().await.map_err(StorageError::from) {
            // 409 QueueAlreadyExists comes back only when the existing queue has other
            // metadata, which still means the queue exists.
            Ok(_) | Err(StorageError::Conflict) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Sends `text` as a message whose body is the base64 of its UTF-8 bytes.
    ///
    /// # Errors
    /// Returns [`StorageError::MessageTooLarge`] without sending when the base64 text is
    /// longer than [`MAX_MESSAGE_BYTES`], and other [`StorageError`]s from the service.
    pub async fn send(&self, text: &str) -> Result<(), StorageError> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        if encoded.len() > MAX_MESSAGE_BYTES {
            return Err(StorageError::MessageTooLarge {
                bytes: encoded.len(),
            });
        }
        self.client.put_message(encoded).await?;
        Ok(())
    }

    /// Receives up to `max_messages` messages and hides them for `visibility`.
    ///
    /// Fractions of a second in `visibility` are dropped.
    ///
    /// # Errors
    /// Returns [`StorageError::InvalidArgument`] when `max_messages` is not 1 to 32 or
    /// `visibility` is not 1 second to 7 days, and other [`StorageError`]s from the service.
    pub async fn receive(
        &self,
        max_messages: u8,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, StorageError> {
        validate_message_count(max_messages)?;
        validate_visibility(visibility, Duration::from_secs(1))?;
        let response = self
            .client
            .get_messages()
            .number_of_messages(max_messages)
            .visibility_timeout(visibility)
            .await?;
        let messages = response
            .messages
            .into_iter()
            .map(|message| ReceivedMessage {
                body: decode_body(&message.message_text),
                id: message.message_id,
                pop_receipt: message.pop_receipt,
                dequeue_count: saturate(message.dequeue_count),
                inserted_at: message.insertion_time,
                expires_at: message.expiration_time,
                next_visible_at: message.time_next_visible,
                text_on_wire: message.message_text,
            })
            .collect();
        Ok(messages)
    }

    /// Deletes a received message for good.
    ///
    /// # Errors
    /// Returns [`StorageError::NotFound`] when the message is gone, and
    /// [`StorageError::Service`] with status 400 and code `PopReceiptMismatch` when it was
    /// received again or renewed since, which replaces its pop receipt.
    pub async fn delete(&self, message: &ReceivedMessage) -> Result<(), StorageError> {
        self.client
            .pop_receipt_client(pop_receipt(message))
            .delete()
            .await?;
        Ok(())
    }

    /// Returns a received message to the queue, visible again after `visibility`
    /// (zero makes it visible at once). The dequeue count is unchanged until the next receive.
    ///
    /// # Errors
    /// As for [`Queue::renew`].
    pub async fn release(
        &self,
        message: &ReceivedMessage,
        visibility: Duration,
    ) -> Result<(), StorageError> {
        self.renew(message, visibility).await.map(|_| ())
    }

    /// Keeps a received message hidden for `visibility` from now, for work that outlasts the
    /// first timeout. Returns the message with its new pop receipt, which replaces the old one.
    ///
    /// # Errors
    /// Returns [`StorageError::InvalidArgument`] when `visibility` is above 7 days, and the
    /// same errors as [`Queue::delete`] when the message is gone or its pop receipt is stale.
    pub async fn renew(
        &self,
        message: &ReceivedMessage,
        visibility: Duration,
    ) -> Result<ReceivedMessage, StorageError> {
        validate_visibility(visibility, Duration::ZERO)?;
        let response = self
            .client
            .pop_receipt_client(pop_receipt(message))
            .update(message.text_on_wire.clone(), visibility)
            .await?;
        Ok(ReceivedMessage {
            pop_receipt: response.pop_receipt,
            next_visible_at: response.time_next_visible,
            ..message.clone()
        })
    }

    /// Returns the approximate number of messages, counting hidden ones. The service updates
    /// the count lazily, so it can lag behind recent sends and deletes.
    ///
    /// # Errors
    /// Returns [`StorageError`] when the service rejects the request or cannot be reached.
    pub async fn approximate_message_count(&self) -> Result<u64, StorageError> {
        let response = self.client.get_metadata().await?;
        Ok(u64::try_from(response.approximate_messages_count).unwrap_or(u64::MAX))
    }

    /// Returns up to `max_messages` visible messages from the front of the queue without
    /// hiding them or changing their dequeue count.
    ///
    /// # Errors
    /// Returns [`StorageError::InvalidArgument`] when `max_messages` is not 1 to 32, and other
    /// [`StorageError`]s from the service.
    pub async fn peek(&self, max_messages: u8) -> Result<Vec<PeekedMessage>, StorageError> {
        validate_message_count(max_messages)?;
        let response = self
            .client
            .peek_messages()
            .number_of_messages(max_messages)
            .await?;
        let messages = response
            .messages
            .into_iter()
            .map(|message| PeekedMessage {
                body: decode_body(&message.message_text),
                id: message.message_id,
                dequeue_count: saturate(message.dequeue_count),
                inserted_at: message.insertion_time,
            })
            .collect();
        Ok(messages)
    }

    /// Deletes every message in the queue.
    ///
    /// # Errors
    /// Returns [`StorageError`] when the service rejects the request or cannot be reached.
    pub async fn clear(&self) -> Result<(), StorageError> {
        self.client.clear_messages().await?;
        Ok(())
    }
}

fn pop_receipt(message: &ReceivedMessage) -> azure_storage_queues::PopReceipt {
    azure_storage_queues::PopReceipt::new(message.id.clone(), message.pop_receipt.clone())
}

/// Decodes a message text as base64 of UTF-8, keeping the raw text when it is not.
fn decode_body(text: &str) -> Result<String, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| text.to_owned())
}

fn saturate(count: u64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

fn validate_queue_name(name: &str) -> Result<(), StorageError> {
    let bytes = name.as_bytes();
    let allowed = |byte: &u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    let valid = (3..=63).contains(&bytes.len())
        && bytes.iter().all(|byte| allowed(byte) || *byte == b'-')
        && bytes.first().is_some_and(allowed)
        && bytes.last().is_some_and(allowed)
        && !name.contains("--");
    if valid {
        Ok(())
    } else {
        Err(StorageError::InvalidArgument(format!(
            "queue name `{name}` must be 3 to 63 lowercase letters, digits and single \
             hyphens, starting and ending with a letter or digit"
        )))
    }
}

fn validate_message_count(count: u8) -> Result<(), StorageError> {
    if (1..=MAX_MESSAGES_PER_CALL).contains(&count) {
        Ok(())
    } else {
        Err(StorageError::InvalidArgument(format!(
            "message count {count} must be 1 to {MAX_MESSAGES_PER_CALL}"
        )))
    }
}

fn validate_visibility(visibility: Duration, minimum: Duration) -> Result<(), StorageError> {
    if visibility >= minimum && visibility <= MAX_VISIBILITY {
        Ok(())
    } else {
        Err(StorageError::InvalidArgument(format!(
            "visibility timeout {visibility:?} must be {minimum:?} to 7 days"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_only_from_base64_utf8() {
        assert_eq!(decode_body("aGVsbG8="), Ok("hello".to_owned()));
        assert_eq!(decode_body(""), Ok(String::new()));
        assert_eq!(decode_body("not base64!"), Err("not base64!".to_owned()));
        // "/w==" is the single byte 0xFF, which is not UTF-8.
        assert_eq!(decode_body("/w=="), Err("/w==".to_owned()));
    }

    #[test]
    fn queue_names_follow_azure_rules() {
        for valid in ["abc", "prism-commands", "a1-b2", &"q".repeat(63)] {
            assert!(validate_queue_name(valid).is_ok(), "{valid}");
        }
        for invalid in [
            "ab",
            "Upper",
            "-start",
            "end-",
            "double--hyphen",
            "under_score",
        ] {
            assert!(validate_queue_name(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn visibility_and_count_ranges_are_checked() {
        assert!(validate_message_count(0).is_err());
        assert!(validate_message_count(33).is_err());
        assert!(validate_message_count(32).is_ok());
        assert!(validate_visibility(Duration::ZERO, Duration::from_secs(1)).is_err());
        assert!(validate_visibility(Duration::ZERO, Duration::ZERO).is_ok());
        assert!(
            validate_visibility(MAX_VISIBILITY + Duration::from_secs(1), Duration::ZERO).is_err()
        );
    }
}
