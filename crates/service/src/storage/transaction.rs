//! Entity-group transactions: up to 100 writes to one partition that succeed or fail together.

use std::collections::HashSet;

use azure_core::Etag;
use azure_data_tables::{operations::TransactionBuilder, IfMatchCondition};

use super::entity::validate_key;
use super::table::quote_key;
use super::{Entity, StorageError, Table};

/// Maximum number of operations in one entity-group transaction.
pub const MAX_TRANSACTION_OPERATIONS: usize = 100;

/// Maximum size of a transaction request body, 4 MiB, set by the Table service.
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// Allowance for the multipart framing of one operation: boundary lines, request line with
/// the entity URL, and headers. It is an upper-bound estimate for endpoints shorter than
/// about 1 KiB, so [`Table::transact`] may reject a batch slightly below the real limit but
/// never sends one above it.
const FRAMING_BYTES_PER_OPERATION: usize = 2048;

/// One write inside [`Table::transact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableOperation {
    /// Inserts a new entity. Fails the transaction with [`StorageError::Conflict`] if the row
    /// exists.
    Insert(Entity),
    /// Replaces an entity only if it still has `etag`. Fails the transaction with
    /// [`StorageError::PreconditionFailed`] otherwise.
    Replace {
        /// The new content, including both keys.
        entity: Entity,
        /// ETag the caller read the entity with.
        etag: String,
    },
    /// Inserts or replaces an entity unconditionally.
    Upsert(Entity),
    /// Deletes a row, only if it still has `etag` when one is given.
    Delete {
        /// RowKey of the row to delete, in the transaction's partition.
        row_key: String,
        /// ETag the row must still have, or `None` to delete any version.
        etag: Option<String>,
    },
}

impl TableOperation {
    fn row_key(&self) -> &str {
        match self {
            TableOperation::Insert(entity)
            | TableOperation::Replace { entity, .. }
            | TableOperation::Upsert(entity) => &entity.row_key,
            TableOperation::Delete { row_key, .. } => row_key,
        }
    }

    fn entity(&self) -> Option<&Entity> {
        match self {
            TableOperation::Insert(entity)
            | TableOperation::Replace { entity, .. }
            | TableOperation::Upsert(entity) => Some(entity),
            TableOperation::Delete { .. } => None,
        }
    }
}

impl Table {
    /// Applies all `operations` to `partition_key` as one entity-group transaction, so either
    /// all of them take effect or none does. Returns the new ETag of each operation in order,
    /// `None` for deletes and whenever the service sends none.
    ///
    /// # Errors
    /// Returns [`StorageError::InvalidBatch`] without sending when there are not 1 to 100
    /// operations, an entity is outside `partition_key`, two operations share a row key, or
    /// the body would reach 4 MiB. Returns [`StorageError::InvalidEntity`] when an entity
    /// fails [`Entity::validate`]. When the service rejects one operation, nothing is written
    /// and the error is [`StorageError::Conflict`] (row exists), [`StorageError::PreconditionFailed`]
    /// (stale ETag), [`StorageError::NotFound`] (row missing) or [`StorageError::Service`].
    pub async fn transact(
        &self,
        partition_key: &str,
        operations: Vec<TableOperation>,
    ) -> Result<Vec<Option<String>>, StorageError> {
        check_transaction(partition_key, &operations)?;
        let count = operations.len();
        let partition = self.client().partition_key_client(quote_key(partition_key));
        let mut builder = partition.transaction();
        for operation in operations {
            builder = add_operation(builder, operation)?;
        }

        let response = builder.await?;
        let results = response
            .operation_responses
            .into_iter()
            .map(|operation| {
                let status = u16::from(operation.status_code);
                (status, operation.etag.map(|etag| etag.to_string()))
            })
            .collect();
        transaction_outcome(partition_key, count, results)
    }
}

fn add_operation(
    builder: TransactionBuilder,
    operation: TableOperation,
) -> Result<TransactionBuilder, StorageError> {
    let builder = match operation {
        TableOperation::Insert(entity) => builder.insert(entity.to_json())?,
        TableOperation::Replace { entity, etag } => builder.update(
            quote_key(&entity.row_key),
            entity.to_json(),
            Some(IfMatchCondition::Etag(Etag::from(etag))),
        )?,
        TableOperation::Upsert(entity) => {
            builder.insert_or_replace(quote_key(&entity.row_key), entity.to_json())?
        }
        TableOperation::Delete { row_key, etag } => builder.delete(
            quote_key(&row_key),
            etag.map(|etag| IfMatchCondition::Etag(Etag::from(etag))),
        )?,
    };
    Ok(builder)
}

/// Turns the inner responses of a transaction, as status and ETag pairs, into its result.
///
/// The service answers a rejected transaction with HTTP 202 too, so the SDK returns `Ok`.
/// The failure shows only as the status of the single inner response that then replaces the
/// per-operation results.
fn transaction_outcome(
    partition_key: &str,
    count: usize,
    results: Vec<(u16, Option<String>)>,
) -> Result<Vec<Option<String>>, StorageError> {
    if let Some((status, _)) = results.iter().find(|(status, _)| *status >= 300) {
        // NOTE: the SDK drops the inner response body, so the service's error code and the
        // index of the failing operation are not available here.
        return Err(StorageError::from_status(
            *status,
            "",
            format!(
                "an operation of the transaction on partition `{partition_key}` failed with \
                 HTTP {status}, so none was applied"
            ),
        ));
    }
    if results.len() != count {
        return Err(StorageError::Service {
            status: 202,
            code: String::new(),
            message: format!(
                "the transaction response has {} results for {count} operations",
                results.len()
            ),
        });
    }
    Ok(results.into_iter().map(|(_, etag)| etag).collect())
}

/// Checks the rules of entity-group transactions before anything is sent.
fn check_transaction(
    partition_key: &str,
    operations: &[TableOperation],
) -> Result<(), StorageError> {
    let invalid = |message: String| Err(StorageError::InvalidBatch(message));
    if operations.is_empty() || operations.len() > MAX_TRANSACTION_OPERATIONS {
        return invalid(format!(
            "a transaction needs 1 to {MAX_TRANSACTION_OPERATIONS} operations but got {}; \
             split it into several transactions",
            operations.len()
        ));
    }
    validate_key("PartitionKey", partition_key)?;
    let mut row_keys = HashSet::new();
    let mut estimated_bytes = 0;
    for operation in operations {
        let row_key = operation.row_key();
        if !row_keys.insert(row_key) {
            return invalid(format!(
                "row key `{row_key}` appears in more than one operation; a transaction may \
                 touch each entity once"
            ));
        }
        validate_key("RowKey", row_key)?;
        estimated_bytes += FRAMING_BYTES_PER_OPERATION + 3 * (partition_key.len() + row_key.len());
        let Some(entity) = operation.entity() else {
            continue;
        };
        if entity.partition_key != partition_key {
            return invalid(format!(
                "entity with row key `{row_key}` has partition key `{}` but the transaction \
                 is for `{partition_key}`; all entities must share one partition",
                entity.partition_key
            ));
        }
        entity.validate()?;
        estimated_bytes += entity.to_json().to_string().len();
    }
    if estimated_bytes >= MAX_TRANSACTION_BYTES {
        return invalid(format!(
            "the transaction body would be about {estimated_bytes} bytes, at or above the \
             {MAX_TRANSACTION_BYTES}-byte limit; split it into several transactions"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(row_key: &str) -> TableOperation {
        TableOperation::Insert(Entity::new("p", row_key).with("Value", 1_i64))
    }

    #[test]
    fn failed_inner_response_maps_to_error() {
        let conflict = transaction_outcome("p", 3, vec![(409, None)]);
        let stale = transaction_outcome("p", 3, vec![(412, None)]);
        let missing = transaction_outcome("p", 3, vec![(404, None)]);
        let short = transaction_outcome("p", 3, vec![(204, None)]);
        assert!(
            matches!(conflict, Err(StorageError::Conflict)),
            "{conflict:?}"
        );
        assert!(
            matches!(stale, Err(StorageError::PreconditionFailed)),
            "{stale:?}"
        );
        assert!(
            matches!(missing, Err(StorageError::NotFound)),
            "{missing:?}"
        );
        assert!(
            matches!(short, Err(StorageError::Service { .. })),
            "{short:?}"
        );
    }

    #[test]
    fn successful_responses_return_etags_in_order() {
        let results = vec![(201, Some("a".to_owned())), (204, None)];
        let etags = transaction_outcome("p", 2, results).expect("transaction should succeed");
        assert_eq!(etags, vec![Some("a".to_owned()), None]);
    }

    #[test]
    fn operation_count_must_be_1_to_100() {
        let hundred: Vec<_> = (0..100).map(|index| insert(&index.to_string())).collect();
        let hundred_one: Vec<_> = (0..101).map(|index| insert(&index.to_string())).collect();
        assert!(check_transaction("p", &hundred).is_ok());
        assert!(matches!(
            check_transaction("p", &hundred_one),
            Err(StorageError::InvalidBatch(_))
        ));
        assert!(matches!(
            check_transaction("p", &[]),
            Err(StorageError::InvalidBatch(_))
        ));
    }

    #[test]
    fn mixed_partitions_are_rejected() {
        let operations = [
            insert("a"),
            TableOperation::Upsert(Entity::new("other", "b")),
        ];
        let result = check_transaction("p", &operations);
        assert!(
            matches!(result, Err(StorageError::InvalidBatch(_))),
            "{result:?}"
        );
    }

    #[test]
    fn duplicate_row_keys_are_rejected() {
        let operations = [
            insert("a"),
            TableOperation::Delete {
                row_key: "a".to_owned(),
                etag: None,
            },
        ];
        let result = check_transaction("p", &operations);
        assert!(
            matches!(result, Err(StorageError::InvalidBatch(_))),
            "{result:?}"
        );
    }

    #[test]
    fn oversized_body_is_rejected() {
        // 100 entities with 2 strings of 30000 ASCII characters each are about 6 MB.
        let text = "x".repeat(30_000);
        let operations: Vec<_> = (0..100)
            .map(|index| {
                TableOperation::Upsert(
                    Entity::new("p", index.to_string())
                        .with("A", text.as_str())
                        .with("B", text.as_str()),
                )
            })
            .collect();
        let result = check_transaction("p", &operations);
        assert!(
            matches!(result, Err(StorageError::InvalidBatch(_))),
            "{result:?}"
        );
    }
}
