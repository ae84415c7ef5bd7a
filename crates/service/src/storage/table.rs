//! Azure Storage table adapter: point reads and writes, paged queries and ETag checks.

use azure_core::{prelude::Continuable, Etag};
use azure_data_tables::{
    clients::{EntityClient, TableClient, TableServiceClientBuilder},
    operations::QueryEntityBuilder,
    IfMatchCondition,
};
use azure_storage::{prelude::StorageCredentials, CloudLocation};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Entity, StorageAccount, StorageError};

/// Maximum page size of a table query, set by the Table service.
pub const MAX_QUERY_PAGE: u32 = 1000;

/// A handle to one table. Cloning is cheap and clones share the HTTP connection pool.
#[derive(Debug, Clone)]
pub struct Table {
    client: TableClient,
}

/// Position from which a query continues, taken from the service's continuation headers.
///
/// It is serializable so that callers can hand it to clients inside a page token. It names
/// the next row but grants no access by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    /// Value of `x-ms-continuation-NextPartitionKey`.
    pub next_partition_key: String,
    /// Value of `x-ms-continuation-NextRowKey`, absent when the service sends none.
    pub next_row_key: Option<String>,
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPage {
    /// Entities of this page with their ETags. The page can be empty even when more rows
    /// follow, because the service also ends pages at partition boundaries and time limits.
    pub entities: Vec<Entity>,
    /// Start of the next page, or `None` when the query is complete.
    pub continuation: Option<Continuation>,
}

impl Table {
    /// Creates a handle to the table `name` in `account`. No request is sent.
    ///
    /// # Errors
    /// Returns [`StorageError::InvalidArgument`] when `name` is not 3 to 63 letters and digits
    /// starting with a letter, or is the reserved name `tables`.
    pub fn new(account: &StorageAccount, name: &str) -> Result<Self, StorageError> {
        validate_table_name(name)?;
        let location = CloudLocation::Custom {
            account: account.account_name().to_owned(),
            uri: account.table_endpoint().to_owned(),
        };
        let credentials = StorageCredentials::access_key(
            account.account_name().to_owned(),
            account.account_key().to_owned(),
        );
        let service = TableServiceClientBuilder::with_location(location, credentials)
            .retry(super::retry_options())
            .build();
        Ok(Self {
            client: service.table_client(name),
        })
    }

    /// Returns the table name.
    pub fn name(&self) -> &str {
        self.client.table_name()
    }

    /// Creates the table unless it exists. Calling it again is harmless.
    ///
    /// # Errors
    /// Returns [`StorageError`] when the service rejects the request or cannot be reached.
    pub async fn create_if_missing(&self) -> Result<(), StorageError> {
        match self.client.create().await.map_err(StorageError::from) {
            Ok(_) | Err(StorageError::Conflict) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Reads one entity with its ETag, or `None` when no entity has these keys.
    ///
    /// # Errors
    /// Returns [`StorageError::InvalidEntity`] for a key with a forbidden character or an
    /// entity with unsupported property types, [`StorageError::Service`] with code
    /// `TableNotFound` when the table does not exist, and other [`StorageError`]s.
    pub async fn get(
        &self,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<Entity>, StorageError> {
        let response = self
            .entity_client(partition_key, row_key)?
            .get::<Value>()
            .await;
        match response.map_err(StorageError::from) {
            Ok(response) => {
                let etag = Some(response.etag.to_string());
                Entity::from_json(response.entity, etag).map(Some)
            }
            Err(StorageError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Inserts a new entity and returns its ETag.
    ///
    /// # Errors
    /// Returns [`StorageError::Conflict`] when an entity with these keys exists,
    /// [`StorageError::InvalidEntity`] when [`Entity::validate`] fails, and other
    /// [`StorageError`]s from the service.
    pub async fn insert(&self, entity: &Entity) -> Result<String, StorageError> {
        entity.validate()?;
        let response = self
            .client
            .insert::<_, Value>(entity.to_json())?
            .return_entity(false)
            .await?;
        Ok(response.etag.to_string())
    }

    /// Replaces an entity only if it still has `etag`, and returns the new ETag.
    ///
    /// # Errors
    /// Returns [`StorageError::PreconditionFailed`] when the entity changed since `etag` was
    /// read, [`StorageError::NotFound`] when it was deleted, [`StorageError::InvalidEntity`]
    /// when [`Entity::validate`] fails, and other [`StorageError`]s from the service.
    pub async fn replace(&self, entity: &Entity, etag: &str) -> Result<String, StorageError> {
        entity.validate()?;
        let condition = IfMatchCondition::Etag(Etag::from(etag.to_owned()));
        let response = self
            .entity_client(&entity.partition_key, &entity.row_key)?
            .update(entity.to_json(), condition)?
            .await?;
        Ok(response.etag.to_string())
    }

    /// Inserts the entity or replaces any entity with the same keys, and returns the new ETag.
    ///
    /// # Errors
    /// Returns [`StorageError::InvalidEntity`] when [`Entity::validate`] fails, and other
    /// [`StorageError`]s from the service.
    pub async fn upsert(&self, entity: &Entity) -> Result<String, StorageError> {
        entity.validate()?;
        let response = self
            .entity_client(&entity.partition_key, &entity.row_key)?
            .insert_or_replace(entity.to_json())?
            .await?;
        Ok(response.etag.to_string())
    }

    /// Deletes an entity, only if it still has `etag` when one is given.
    ///
    /// # Errors
    /// Returns [`StorageError::NotFound`] when no entity has these keys,
    /// [`StorageError::PreconditionFailed`] when `etag` is stale, and other [`StorageError`]s.
    pub async fn delete(
        &self,
        partition_key: &str,
        row_key: &str,
        etag: Option<&str>,
    ) -> Result<(), StorageError> {
        let condition = match etag {
            Some(etag) => IfMatchCondition::Etag(Etag::from(etag.to_owned())),
            None => IfMatchCondition::Any,
        };
        self.entity_client(partition_key, row_key)?
            .delete()
            .if_match(condition)
            .await?;
        Ok(())
    }

    /// Runs one request of an OData query and returns its page.
    ///
    /// `filter` is an OData `$filter` expression, empty for all rows. Quote values with
    /// [`odata_string`](super::odata_string). `top` caps the page size; the service may
    /// return fewer rows, even none, together with a continuation.
    ///
    /// # Errors
    /// Returns [`StorageError::InvalidArgument`] when `top` is not 1 to 1000,
    /// [`StorageError::Service`] with status 400 for a malformed filter, and other
    /// [`StorageError`]s.
    pub async fn query(
        &self,
        filter: &str,
        top: Option<u32>,
        continuation: Option<&Continuation>,
    ) -> Result<QueryPage, StorageError> {
        let builder = self.query_builder(filter, top, continuation)?;

        // The SDK stream fetches further pages only when polled again, so taking its first
        // item sends exactly one request.
        let mut pages = builder.into_stream::<Value>();
        let Some(page) = pages.next().await else {
            return Ok(QueryPage {
                entities: Vec::new(),
                continuation: None,
            });
        };
        let page = page?;

        let continuation = page
            .continuation()
            .map(|(next_partition_key, next_row_key)| Continuation {
                next_partition_key,
                next_row_key,
            });
        let entities = page
            .entities
            .into_iter()
            .map(|value| Entity::from_json(value, None))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(QueryPage {
            entities,
            continuation,
        })
    }

    /// Returns every entity matching `filter`, following continuations until the service
    /// sends none.
    ///
    /// # Errors
    /// As for [`Table::query`].
    pub async fn query_all(&self, filter: &str) -> Result<Vec<Entity>, StorageError> {
        let mut entities = Vec::new();
        let mut continuation = None;
        loop {
            let page = self.query(filter, None, continuation.as_ref()).await?;
            entities.extend(page.entities);
            match page.continuation {
                Some(next) => continuation = Some(next),
                None => return Ok(entities),
            }
        }
    }

    /// Returns the SDK client, for the transaction module.
    pub(crate) fn client(&self) -> &TableClient {
        &self.client
    }

    fn query_builder(
        &self,
        filter: &str,
        top: Option<u32>,
        continuation: Option<&Continuation>,
    ) -> Result<QueryEntityBuilder, StorageError> {
        let mut builder = self.client.query();
        if !filter.is_empty() {
            builder = builder.filter(filter.to_owned());
        }
        if let Some(top) = top {
            if !(1..=MAX_QUERY_PAGE).contains(&top) {
                return Err(StorageError::InvalidArgument(format!(
                    "query page size {top} must be 1 to {MAX_QUERY_PAGE}"
                )));
            }
            builder = builder.top(top);
        }
        if let Some(continuation) = continuation {
            builder = builder.initial_partition_key(continuation.next_partition_key.clone());
            if let Some(row_key) = &continuation.next_row_key {
                builder = builder.initial_row_key(row_key.clone());
            }
        }
        Ok(builder)
    }

    fn entity_client(
        &self,
        partition_key: &str,
        row_key: &str,
    ) -> Result<EntityClient, StorageError> {
        super::entity::validate_key("PartitionKey", partition_key)?;
        super::entity::validate_key("RowKey", row_key)?;
        Ok(self
            .client
            .partition_key_client(quote_key(partition_key))
            .entity_client(quote_key(row_key)))
    }
}

/// Doubles `'` in a key that goes into a URL path of the form
/// `Table(PartitionKey='…',RowKey='…')`, which the SDK builds without escaping quotes.
pub(crate) fn quote_key(key: &str) -> String {
    key.replace('\'', "''")
}

fn validate_table_name(name: &str) -> Result<(), StorageError> {
    let bytes = name.as_bytes();
    let valid = (3..=63).contains(&bytes.len())
        && bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes.iter().all(u8::is_ascii_alphanumeric)
        && !name.eq_ignore_ascii_case("tables");
    if valid {
        Ok(())
    } else {
        Err(StorageError::InvalidArgument(format!(
            "table name `{name}` must be 3 to 63 letters and digits starting with a letter, \
             and not `tables`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_follow_azure_rules() {
        for valid in ["events", "Projections2024", &"t".repeat(63)] {
            assert!(validate_table_name(valid).is_ok(), "{valid}");
        }
        for invalid in ["ab", "1events", "with-hyphen", "Tables", &"t".repeat(64)] {
            assert!(validate_table_name(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn quotes_in_keys_are_doubled() {
        assert_eq!(quote_key("O'Brien"), "O''Brien");
        assert_eq!(quote_key("plain"), "plain");
    }
}
