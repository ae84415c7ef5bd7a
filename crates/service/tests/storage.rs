//! Queue and table adapters and the Azurite launcher, against real Azurite instances.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use azure_storage::{prelude::StorageCredentials, CloudLocation};
use azure_storage_queues::{QueueClient, QueueServiceClientBuilder};
use base64::Engine as _;
use prism_service::azurite::{Azurite, AzuriteError, AzuriteOptions};
use prism_service::storage::{
    decode_key, encode_key, odata_string, Entity, Queue, StorageAccount, StorageError, Table,
    TableOperation,
};

fn account() -> &'static StorageAccount {
    support::azurite().account()
}

async fn new_queue() -> Queue {
    let name = format!("test-{}", uuid::Uuid::new_v4().simple());
    let queue = Queue::new(account(), &name).expect("queue name should be valid");
    queue
        .create_if_missing()
        .await
        .expect("queue should be created");
    queue
}

async fn new_table() -> Table {
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    let table = Table::new(account(), &name).expect("table name should be valid");
    table
        .create_if_missing()
        .await
        .expect("table should be created");
    table
}

/// Returns an SDK client for `queue`, to read and write message texts without our encoding.
fn raw_queue_client(queue: &Queue) -> QueueClient {
    let account = account();
    let location = CloudLocation::Custom {
        account: account.account_name().to_owned(),
        uri: account.queue_endpoint().to_owned(),
    };
    QueueServiceClientBuilder::with_location(location, StorageCredentials::emulator())
        .build()
        .queue_client(queue.name())
}

fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn queue_body_is_base64_on_the_wire() {
    let queue = new_queue().await;
    let text = r#"{"kind":"task.created","title":"Grüße ✓"}"#;
    queue.send(text).await.expect("send should succeed");

    let raw = raw_queue_client(&queue)
        .peek_messages()
        .await
        .expect("raw peek should succeed");
    assert_eq!(raw.messages.len(), 1);
    assert_eq!(raw.messages[0].message_text, base64(text));

    let received = queue
        .receive(1, Duration::from_secs(30))
        .await
        .expect("receive should succeed");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, Ok(text.to_owned()));
    assert_eq!(received[0].dequeue_count, 1);
    assert!(received[0].next_visible_at > received[0].inserted_at);
    assert!(received[0].expires_at > received[0].inserted_at);

    queue
        .delete(&received[0])
        .await
        .expect("delete should succeed");
    let peeked = queue.peek(32).await.expect("peek should succeed");
    assert!(peeked.is_empty(), "{peeked:?}");
}

#[tokio::test]
async fn hidden_message_returns_after_timeout() {
    let queue = new_queue().await;
    queue.send("retry me").await.expect("send should succeed");

    let first = queue
        .receive(1, Duration::from_secs(1))
        .await
        .expect("first receive should succeed");
    assert_eq!(first.len(), 1);
    let hidden = queue
        .receive(1, Duration::from_secs(1))
        .await
        .expect("second receive should succeed");
    assert!(hidden.is_empty(), "message should be hidden: {hidden:?}");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let again = queue
        .receive(1, Duration::from_secs(30))
        .await
        .expect("third receive should succeed");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].dequeue_count, 2);
    assert_eq!(again[0].body, Ok("retry me".to_owned()));
}

#[tokio::test]
async fn released_message_is_visible_at_once() {
    let queue = new_queue().await;
    queue.send("release me").await.expect("send should succeed");
    let first = queue
        .receive(1, Duration::from_secs(300))
        .await
        .expect("receive should succeed");
    assert_eq!(first.len(), 1);

    queue
        .release(&first[0], Duration::ZERO)
        .await
        .expect("release should succeed");
    let again = queue
        .receive(1, Duration::from_secs(300))
        .await
        .expect("receive after release should succeed");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].dequeue_count, 2);
    assert_eq!(again[0].body, Ok("release me".to_owned()));
}

#[tokio::test]
async fn renewed_message_needs_new_pop_receipt() {
    let queue = new_queue().await;
    queue.send("long job").await.expect("send should succeed");
    let received = queue
        .receive(1, Duration::from_secs(5))
        .await
        .expect("receive should succeed");
    assert_eq!(received.len(), 1);

    let renewed = queue
        .renew(&received[0], Duration::from_secs(300))
        .await
        .expect("renew should succeed");
    assert_ne!(renewed.pop_receipt, received[0].pop_receipt);
    assert!(renewed.next_visible_at > received[0].next_visible_at);
    assert_eq!(renewed.body, received[0].body);

    let error = queue
        .delete(&received[0])
        .await
        .expect_err("the old pop receipt should be rejected");
    assert!(
        matches!(&error, StorageError::Service { status: 400, code, .. } if code == "PopReceiptMismatch"),
        "{error:?}"
    );
    queue
        .delete(&renewed)
        .await
        .expect("delete with the new pop receipt should succeed");
    let peeked = queue.peek(1).await.expect("peek should succeed");
    assert!(peeked.is_empty(), "{peeked:?}");
}

#[tokio::test]
async fn non_base64_body_is_returned_raw() {
    let queue = new_queue().await;
    raw_queue_client(&queue)
        .put_message("not base64 <&>")
        .await
        .expect("raw send should succeed");

    let peeked = queue.peek(1).await.expect("peek should succeed");
    assert_eq!(peeked.len(), 1);
    assert_eq!(peeked[0].body, Err("not base64 <&>".to_owned()));

    let received = queue
        .receive(1, Duration::from_secs(1))
        .await
        .expect("receive should succeed");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, Err("not base64 <&>".to_owned()));

    // Releasing rewrites the message text, which must stay exactly as it was.
    queue
        .release(&received[0], Duration::ZERO)
        .await
        .expect("release should succeed");
    let raw = raw_queue_client(&queue)
        .peek_messages()
        .await
        .expect("raw peek should succeed");
    assert_eq!(raw.messages[0].message_text, "not base64 <&>");
}

#[tokio::test]
async fn oversized_message_is_rejected_before_sending() {
    let queue = new_queue().await;
    // 49152 bytes encode to exactly 65536 base64 characters, and three more bytes add four.
    let at_limit = "a".repeat(49_152);
    let over_limit = "a".repeat(49_155);

    queue
        .send(&at_limit)
        .await
        .expect("a message at the limit should be sent");
    let error = queue
        .send(&over_limit)
        .await
        .expect_err("a message over the limit should be rejected");
    assert!(
        matches!(error, StorageError::MessageTooLarge { bytes: 65_540 }),
        "{error:?}"
    );
    let count = queue
        .approximate_message_count()
        .await
        .expect("count should succeed");
    assert_eq!(count, 1);
}

#[tokio::test]
async fn count_and_clear_cover_all_messages() {
    let queue = new_queue().await;
    for index in 0..3 {
        queue
            .send(&format!("message {index}"))
            .await
            .expect("send should succeed");
    }
    let count = queue
        .approximate_message_count()
        .await
        .expect("count should succeed");
    assert_eq!(count, 3);

    queue.clear().await.expect("clear should succeed");
    let count = queue
        .approximate_message_count()
        .await
        .expect("count after clear should succeed");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn create_if_missing_is_idempotent() {
    let queue = new_queue().await;
    let table = new_table().await;
    queue
        .create_if_missing()
        .await
        .expect("second queue creation should succeed");
    table
        .create_if_missing()
        .await
        .expect("second table creation should succeed");
}

#[tokio::test]
async fn inserting_twice_conflicts() {
    let table = new_table().await;
    let entity = Entity::new("user", "task-1").with("Title", "first");
    table.insert(&entity).await.expect("insert should succeed");

    let error = table
        .insert(&entity.clone().with("Title", "second"))
        .await
        .expect_err("second insert should fail");
    assert!(matches!(error, StorageError::Conflict), "{error:?}");
    let stored = table
        .get("user", "task-1")
        .await
        .expect("get should succeed")
        .expect("entity should exist");
    assert_eq!(stored.string("Title"), Some("first"));
}

#[tokio::test]
async fn stale_etag_fails_replace_and_delete() {
    let table = new_table().await;
    let entity = Entity::new("user", "task-1").with("Title", "v1");
    let first_etag = table.insert(&entity).await.expect("insert should succeed");
    let read = table
        .get("user", "task-1")
        .await
        .expect("get should succeed")
        .expect("entity should exist");
    assert_eq!(read.etag.as_deref(), Some(first_etag.as_str()));

    let second_etag = table
        .replace(&entity.clone().with("Title", "v2"), &first_etag)
        .await
        .expect("replace with the current ETag should succeed");
    let error = table
        .replace(&entity.clone().with("Title", "v3"), &first_etag)
        .await
        .expect_err("replace with a stale ETag should fail");
    assert!(
        matches!(error, StorageError::PreconditionFailed),
        "{error:?}"
    );

    let error = table
        .delete("user", "task-1", Some(&first_etag))
        .await
        .expect_err("delete with a stale ETag should fail");
    assert!(
        matches!(error, StorageError::PreconditionFailed),
        "{error:?}"
    );
    let stored = table
        .get("user", "task-1")
        .await
        .expect("get should succeed")
        .expect("entity should still exist");
    assert_eq!(stored.string("Title"), Some("v2"));

    table
        .delete("user", "task-1", Some(&second_etag))
        .await
        .expect("delete with the current ETag should succeed");
    let deleted = table
        .get("user", "task-1")
        .await
        .expect("get should succeed");
    assert_eq!(deleted, None);
    let error = table
        .delete("user", "task-1", None)
        .await
        .expect_err("deleting a missing row should fail");
    assert!(matches!(error, StorageError::NotFound), "{error:?}");
}

#[tokio::test]
async fn upsert_inserts_then_replaces() {
    let table = new_table().await;
    let entity = Entity::new("user", "settings").with("Theme", "dark");
    table.upsert(&entity).await.expect("upsert should insert");
    table
        .upsert(&Entity::new("user", "settings").with("Zoom", 2_i64))
        .await
        .expect("upsert should replace");
    let stored = table
        .get("user", "settings")
        .await
        .expect("get should succeed")
        .expect("entity should exist");
    assert_eq!(stored.string("Theme"), None);
    assert_eq!(stored.int("Zoom"), Some(2));
}

#[tokio::test]
async fn missing_table_is_a_service_error() {
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    let table = Table::new(account(), &name).expect("table name should be valid");
    let error = table
        .get("p", "r")
        .await
        .expect_err("reading a missing table should fail");
    assert!(
        matches!(&error, StorageError::Service { status: 404, code, .. } if code == "TableNotFound"),
        "{error:?}"
    );
}

#[tokio::test]
async fn transaction_applies_every_operation() {
    let table = new_table().await;
    let old_etag = table
        .insert(&Entity::new("p", "replace-me").with("Value", 1_i64))
        .await
        .expect("insert should succeed");
    table
        .insert(&Entity::new("p", "delete-me"))
        .await
        .expect("insert should succeed");

    let etags = table
        .transact(
            "p",
            vec![
                TableOperation::Insert(Entity::new("p", "new").with("Value", 10_i64)),
                TableOperation::Upsert(Entity::new("p", "upserted").with("Value", 20_i64)),
                TableOperation::Replace {
                    entity: Entity::new("p", "replace-me").with("Value", 2_i64),
                    etag: old_etag,
                },
                TableOperation::Delete {
                    row_key: "delete-me".to_owned(),
                    etag: None,
                },
            ],
        )
        .await
        .expect("transaction should succeed");
    assert_eq!(etags.len(), 4);
    assert!(etags[0].is_some(), "insert should return an ETag");

    let rows = table
        .query_all("PartitionKey eq 'p'")
        .await
        .expect("query should succeed");
    let values: Vec<(String, Option<i64>)> = rows
        .iter()
        .map(|entity| (entity.row_key.clone(), entity.int("Value")))
        .collect();
    assert_eq!(
        values,
        vec![
            ("new".to_owned(), Some(10)),
            ("replace-me".to_owned(), Some(2)),
            ("upserted".to_owned(), Some(20)),
        ]
    );
}

#[tokio::test]
async fn transaction_with_stale_etag_rolls_back() {
    let table = new_table().await;
    let entity = Entity::new("p", "head").with("Version", 1_i64);
    let stale_etag = table.insert(&entity).await.expect("insert should succeed");
    table
        .replace(&entity.clone().with("Version", 2_i64), &stale_etag)
        .await
        .expect("replace should succeed");

    let error = table
        .transact(
            "p",
            vec![
                TableOperation::Insert(Entity::new("p", "event-1")),
                TableOperation::Insert(Entity::new("p", "event-2")),
                TableOperation::Replace {
                    entity: entity.clone().with("Version", 3_i64),
                    etag: stale_etag,
                },
            ],
        )
        .await
        .expect_err("transaction with a stale ETag should fail");
    assert!(
        matches!(error, StorageError::PreconditionFailed),
        "{error:?}"
    );

    for row_key in ["event-1", "event-2"] {
        let row = table.get("p", row_key).await.expect("get should succeed");
        assert_eq!(row, None, "{row_key} should have been rolled back");
    }
    let head = table
        .get("p", "head")
        .await
        .expect("get should succeed")
        .expect("head should exist");
    assert_eq!(head.int("Version"), Some(2));
}

#[tokio::test]
async fn transaction_insert_on_existing_row_conflicts() {
    let table = new_table().await;
    table
        .insert(&Entity::new("p", "event-2").with("Original", true))
        .await
        .expect("insert should succeed");

    let error = table
        .transact(
            "p",
            vec![
                TableOperation::Insert(Entity::new("p", "event-1")),
                TableOperation::Insert(Entity::new("p", "event-2").with("Original", false)),
            ],
        )
        .await
        .expect_err("transaction inserting an existing row should fail");
    assert!(matches!(error, StorageError::Conflict), "{error:?}");

    let first = table.get("p", "event-1").await.expect("get should succeed");
    assert_eq!(first, None, "event-1 should have been rolled back");
    let existing = table
        .get("p", "event-2")
        .await
        .expect("get should succeed")
        .expect("event-2 should exist");
    assert_eq!(existing.bool("Original"), Some(true));
}

#[tokio::test]
async fn transaction_rules_are_checked_before_sending() {
    // The table is never created, so a request that reached Azurite would fail with
    // TableNotFound instead of InvalidBatch.
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    let table = Table::new(account(), &name).expect("table name should be valid");
    let too_many: Vec<_> = (0..101)
        .map(|index| TableOperation::Insert(Entity::new("p", format!("row-{index}"))))
        .collect();
    let mixed = vec![
        TableOperation::Insert(Entity::new("p", "a")),
        TableOperation::Insert(Entity::new("q", "b")),
    ];
    let duplicate = vec![
        TableOperation::Insert(Entity::new("p", "a")),
        TableOperation::Upsert(Entity::new("p", "a")),
    ];

    for (case, operations) in [
        ("101 operations", too_many),
        ("mixed", mixed),
        ("duplicate", duplicate),
    ] {
        let error = table
            .transact("p", operations)
            .await
            .expect_err("invalid transaction should be rejected");
        assert!(
            matches!(error, StorageError::InvalidBatch(_)),
            "{case}: {error:?}"
        );
    }
}

#[tokio::test]
async fn query_pages_return_every_row_once() {
    let table = new_table().await;
    let operations: Vec<_> = (0..25)
        .map(|index| TableOperation::Insert(Entity::new("p", format!("row-{index:02}"))))
        .collect();
    table
        .transact("p", operations)
        .await
        .expect("transaction should succeed");
    table
        .insert(&Entity::new("other", "row-00"))
        .await
        .expect("insert should succeed");

    let filter = format!("PartitionKey eq {}", odata_string("p"));
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut continuation = None;
    loop {
        let page = table
            .query(&filter, Some(7), continuation.as_ref())
            .await
            .expect("query should succeed");
        pages += 1;
        assert!(
            page.entities.len() <= 7,
            "page has {} rows",
            page.entities.len()
        );
        assert!(page.entities.iter().all(|entity| entity.etag.is_some()));
        seen.extend(page.entities.into_iter().map(|entity| entity.row_key));
        match page.continuation {
            Some(next) => {
                // Page tokens carry the continuation through JSON.
                let token = serde_json::to_string(&next).expect("continuation should serialize");
                continuation =
                    Some(serde_json::from_str(&token).expect("continuation should deserialize"));
            }
            None => break,
        }
        assert!(pages < 20, "query did not finish");
    }

    assert!(
        pages >= 4,
        "25 rows in pages of 7 need at least 4 pages, got {pages}"
    );
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 25);
    assert_eq!(unique.len(), 25);

    let all = table
        .query_all(&filter)
        .await
        .expect("query_all should succeed");
    assert_eq!(all.len(), 25);
}

#[tokio::test]
async fn int64_values_round_trip() {
    let table = new_table().await;
    let big = 5_000_000_000_i64;
    let entity = Entity::new("p", "numbers")
        .with("Big", big)
        .with("Min", i64::MIN)
        .with("Max", i64::MAX)
        .with("Negative", -3_i64);
    table.insert(&entity).await.expect("insert should succeed");

    let stored = table
        .get("p", "numbers")
        .await
        .expect("get should succeed")
        .expect("entity should exist");
    assert_eq!(stored.int("Big"), Some(big));
    assert_eq!(stored.int("Min"), Some(i64::MIN));
    assert_eq!(stored.int("Max"), Some(i64::MAX));
    assert_eq!(stored.int("Negative"), Some(-3));

    let filter = format!("PartitionKey eq 'p' and Big eq {big}L");
    let rows = table
        .query_all(&filter)
        .await
        .expect("query should succeed");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].int("Big"), Some(big));
}

#[tokio::test]
async fn encoded_keys_work_in_point_reads_and_filters() {
    let table = new_table().await;
    let user = "auth0|x/y#z?O'Brien%~";
    let partition_key = encode_key(user);
    let row_key = encode_key("task/1'ü");
    let entity = Entity::new(&partition_key, &row_key).with("Owner", "O'Brien");
    table.insert(&entity).await.expect("insert should succeed");

    let stored = table
        .get(&partition_key, &row_key)
        .await
        .expect("get should succeed")
        .expect("entity should exist");
    assert_eq!(stored.string("Owner"), Some("O'Brien"));
    assert_eq!(
        decode_key(&stored.partition_key).expect("key should decode"),
        user
    );

    let filter = format!(
        "PartitionKey eq {} and Owner eq {}",
        odata_string(&partition_key),
        odata_string("O'Brien")
    );
    let rows = table
        .query_all(&filter)
        .await
        .expect("query should succeed");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].row_key, row_key);

    let etag = stored
        .etag
        .clone()
        .expect("read entity should have an ETag");
    table
        .replace(&entity.clone().with("Owner", "someone"), &etag)
        .await
        .expect("replace with quoted keys should succeed");
    table
        .delete(&partition_key, &row_key, None)
        .await
        .expect("delete with quoted keys should succeed");
}

#[tokio::test]
async fn unencoded_forbidden_key_is_rejected() {
    let table = new_table().await;
    let error = table
        .insert(&Entity::new("a/b", "r"))
        .await
        .expect_err("a key with a slash should be rejected");
    assert!(matches!(error, StorageError::InvalidEntity(_)), "{error:?}");
    let error = table
        .get("p", "r#1")
        .await
        .expect_err("a key with a number sign should be rejected");
    assert!(matches!(error, StorageError::InvalidEntity(_)), "{error:?}");
}

#[tokio::test]
async fn connection_string_reaches_the_same_azurite() {
    let connection_string = support::azurite().connection_string();
    let parsed = StorageAccount::parse(&connection_string).expect("connection string should parse");
    assert_eq!(&parsed, account());

    let table = Table::new(&parsed, &format!("t{}", uuid::Uuid::new_v4().simple()))
        .expect("table name should be valid");
    table
        .create_if_missing()
        .await
        .expect("table should be created through the parsed account");
}

#[test]
fn launcher_reports_missing_npm_install() {
    let empty_root = std::env::temp_dir().join(format!("prism-empty-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&empty_root).expect("temporary directory should be created");

    let error = Azurite::start(AzuriteOptions {
        project_root: empty_root.clone(),
        data_dir: None,
    })
    .expect_err("start without node_modules should fail");
    std::fs::remove_dir_all(&empty_root).expect("temporary directory should be removed");

    assert!(
        matches!(error, AzuriteError::NotInstalled { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("npm ci"), "{error}");
}

#[tokio::test]
async fn launcher_stops_azurite_and_keeps_data() {
    let data_dir = std::env::temp_dir().join(format!("prism-azurite-{}", uuid::Uuid::new_v4()));
    let options = AzuriteOptions {
        project_root: support::project_root(),
        data_dir: Some(data_dir.clone()),
    };
    let first = Azurite::start(options.clone()).expect("first start should succeed");
    let table = Table::new(first.account(), "persisted").expect("table name should be valid");
    table
        .create_if_missing()
        .await
        .expect("table should be created");
    table
        .insert(&Entity::new("p", "r").with("Kept", true))
        .await
        .expect("insert should succeed");
    let queue_address = endpoint_address(first.account().queue_endpoint());
    let status = first.stop().expect("stop should succeed");
    assert!(status.success(), "Azurite exited with {status}");
    assert!(
        std::net::TcpStream::connect(&queue_address).is_err(),
        "queue port {queue_address} should be closed after stop"
    );

    let second = Azurite::start(options).expect("second start should succeed");
    let table = Table::new(second.account(), "persisted").expect("table name should be valid");
    let stored = table
        .get("p", "r")
        .await
        .expect("get should succeed")
        .expect("entity should survive a restart");
    assert_eq!(stored.bool("Kept"), Some(true));
    second.stop().expect("stop should succeed");
    std::fs::remove_dir_all(&data_dir).expect("data directory should be removed");
}

/// Returns `host:port` of an `http://host:port/account` endpoint.
fn endpoint_address(endpoint: &str) -> String {
    let without_scheme = endpoint.trim_start_matches("http://");
    let authority = without_scheme.split('/').next().unwrap_or_default();
    authority.to_owned()
}
