//! The error type shared by the queue and table adapters.

use azure_core::error::ErrorKind;

/// A failed storage operation.
///
/// Messages never contain account keys or SAS tokens: service errors carry only the status,
/// the service's error code and its message text.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The entity or message does not exist (HTTP 404). A missing table or queue is reported as
    /// [`StorageError::Service`] with code `TableNotFound` or `QueueNotFound` instead, because
    /// that means the resource was never created rather than that a row is absent.
    #[error("the entity or message was not found")]
    NotFound,

    /// The entity already exists (HTTP 409).
    #[error("the entity already exists")]
    Conflict,

    /// The entity changed since the given ETag was read (HTTP 412), so the write was not applied.
    #[error("the entity was changed by another writer; read it again and retry")]
    PreconditionFailed,

    /// The transaction broke a rule of entity-group transactions and was not sent.
    #[error("invalid table transaction: {0}")]
    InvalidBatch(String),

    /// The entity breaks a rule of the Table service and was not sent, or an entity read
    /// from storage has a shape these adapters cannot represent.
    #[error("invalid entity: {0}")]
    InvalidEntity(String),

    /// An argument such as a queue name, a message count or a visibility timeout is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The base64-encoded queue message exceeds the 64 KiB limit of Azure Queue Storage.
    #[error(
        "queue message is {bytes} bytes after base64 encoding, above the 65536-byte limit; \
         send a reference to the data instead"
    )]
    MessageTooLarge {
        /// Length of the base64-encoded message text, in bytes.
        bytes: usize,
    },

    /// The service rejected the request with a status not covered by the variants above.
    #[error("storage service returned HTTP {status} ({code}): {message}")]
    Service {
        /// HTTP status code of the response.
        status: u16,
        /// Error code from the `x-ms-error-code` header or the response body, such as
        /// `TableNotFound`, or an empty string when the service sent none.
        code: String,
        /// Error message text from the response body, or an empty string.
        message: String,
    },

    /// The request did not produce an HTTP response: connection, I/O or decoding failure.
    #[error("storage request failed: {0}")]
    Transport(String),
}

impl StorageError {
    /// Returns whether retrying the same request later may succeed: transport failures and
    /// HTTP 408, 429, 500, 502, 503 and 504.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Transport(_) => true,
            StorageError::Service { status, .. } => {
                matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
            }
            _ => false,
        }
    }

    /// Maps an HTTP status and the service's error code to a variant.
    pub(crate) fn from_status(status: u16, code: &str, message: String) -> Self {
        match status {
            404 if code != "TableNotFound" && code != "QueueNotFound" => StorageError::NotFound,
            409 => StorageError::Conflict,
            412 => StorageError::PreconditionFailed,
            _ => StorageError::Service {
                status,
                code: code.to_owned(),
                message,
            },
        }
    }
}

impl From<azure_core::Error> for StorageError {
    fn from(error: azure_core::Error) -> Self {
        if let ErrorKind::HttpResponse { status, error_code } = error.kind() {
            let status = u16::from(*status);
            let http_error = error.as_http_error();
            let code = error_code
                .as_deref()
                .or_else(|| http_error.and_then(|http| http.error_code()))
                .unwrap_or_default()
                .to_owned();
            let message = http_error
                .and_then(|http| http.error_message())
                .unwrap_or_default()
                .to_owned();
            return StorageError::from_status(status, &code, message);
        }
        // The SDK's own Display for non-HTTP errors names the failing step (I/O, JSON or XML
        // decoding) and contains no credentials, because these adapters sign with a shared key
        // and never put a SAS token in a URL.
        StorageError::Transport(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_variants() {
        assert!(matches!(
            StorageError::from_status(404, "ResourceNotFound", String::new()),
            StorageError::NotFound
        ));
        assert!(matches!(
            StorageError::from_status(404, "TableNotFound", String::new()),
            StorageError::Service { status: 404, .. }
        ));
        assert!(matches!(
            StorageError::from_status(409, "EntityAlreadyExists", String::new()),
            StorageError::Conflict
        ));
        assert!(matches!(
            StorageError::from_status(412, "UpdateConditionNotSatisfied", String::new()),
            StorageError::PreconditionFailed
        ));
    }

    #[test]
    fn transient_errors_are_recognized() {
        let busy = StorageError::from_status(503, "ServerBusy", String::new());
        let bad_request = StorageError::from_status(400, "InvalidInput", String::new());
        assert!(busy.is_transient());
        assert!(StorageError::Transport("connection reset".to_owned()).is_transient());
        assert!(!bad_request.is_transient());
        assert!(!StorageError::Conflict.is_transient());
    }
}
