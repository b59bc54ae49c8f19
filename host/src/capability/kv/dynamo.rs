//! [`DynamoKv`]: the key-value backend on DynamoDB. The only file that talks to DynamoDB.
//!
//! Single-table layout (one table can hold many stores):
//!
//! | attribute | type | meaning                                                        |
//! |-----------|------|----------------------------------------------------------------|
//! | `pk`      | S    | partition key: `<namespace>#<key>` — one item per key          |
//! | `ns`, `k` | S    | namespace and key; the GSI `by_namespace` (`ns`, `k`) lists keys |
//! | `v`       | B    | the value (absent for counters)                                |
//! | `n`       | N    | a counter's value, kept numeric so `increment` is one `ADD`    |
//! | `ver`     | N    | version: random per write, so a stale compare-and-swap fails   |
//! | `ttl`     | N    | expiry in epoch seconds (the table's TTL attribute)            |
//!
//! DynamoDB deletes expired items only eventually, so every read and condition treats
//! `ttl <= now` as absent. Listing reads the GSI, which is eventually consistent: a key
//! written a moment ago may be missing from `list-keys` for a moment (reads by key are
//! strongly consistent). Throttling and transient errors are retried by the SDK (standard
//! retry mode); what is left becomes `unavailable`.

use super::backend::*;
use crate::bindings::plughost::plugin::kv::{Condition, Entry, Page, Write};
use crate::capability::clock::Clock;
use crate::capability::error::StorageError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem};
use std::collections::HashMap;
use std::time::Duration;

/// The GSI that lists a namespace's keys in order.
pub const NAMESPACE_INDEX: &str = "by_namespace";

type Item = HashMap<String, AttributeValue>;

pub struct DynamoKv {
    client: Client,
    table: String,
    /// "Now" for expiry (DynamoDB's own TTL deletes late; reads filter on it).
    clock: Clock,
}

impl DynamoKv {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), clock: Clock::system() }
    }

    /// The same store reading expiry against `clock` (a test's, moved forward at will).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

fn pk(namespace: &str, key: &str) -> AttributeValue {
    AttributeValue::S(format!("{namespace}#{key}"))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn new_version() -> u64 {
    // 63 random bits: unique per write with overwhelming probability, never reused.
    uuid::Uuid::new_v4().as_u64_pair().0 >> 1
}

fn number(item: &Item, name: &str) -> Option<i128> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn is_live(item: &Item, now: i64) -> bool {
    number(item, "ttl").is_none_or(|ttl| ttl > i128::from(now))
}

/// The entry an item holds, if it is live. Every item plughost writes carries `v` or
/// `n`; anything else (an empty map when DynamoDB returned no old item, or a half-written
/// item seen by a non-atomic emulator) is treated as absent — callers only act on that
/// through conditional writes, which fail safely if the item does exist.
fn entry(item: &Item, now: i64) -> Option<Entry> {
    if !item.contains_key("pk") || !is_live(item, now) {
        return None;
    }
    let value = match (item.get("v"), number(item, "n")) {
        (Some(AttributeValue::B(bytes)), _) => bytes.as_ref().to_vec(),
        (_, Some(counter)) => counter.to_string().into_bytes(),
        _ => return None,
    };
    let version = number(item, "ver").unwrap_or(0) as u64;
    Some(Entry { value, version })
}

/// The condition expression (and its values) under which a write may proceed.
fn condition_expression(condition: &Condition, now: i64) -> (Option<String>, HashMap<String, AttributeValue>) {
    let mut values = HashMap::new();
    let expression = match condition {
        Condition::Always => None,
        Condition::Absent => {
            values.insert(":now".to_owned(), n(now));
            Some("attribute_not_exists(pk) OR #ttl <= :now".to_owned())
        }
        Condition::Version(version) => {
            values.insert(":now".to_owned(), n(now));
            values.insert(":ver".to_owned(), n(version));
            Some("ver = :ver AND (attribute_not_exists(#ttl) OR #ttl > :now)".to_owned())
        }
    };
    (expression, values)
}

fn item(namespace: &str, key: &str, value: &[u8], version: u64, ttl: Option<Duration>, now: i64) -> Item {
    let mut item = HashMap::from([
        ("pk".to_owned(), pk(namespace, key)),
        ("ns".to_owned(), s(namespace)),
        ("k".to_owned(), s(key)),
        ("v".to_owned(), AttributeValue::B(Blob::new(value))),
        ("ver".to_owned(), n(version)),
    ]);
    if let Some(ttl) = ttl {
        item.insert("ttl".to_owned(), n(expires_at(now, ttl)));
    }
    item
}

/// Maps an SDK error by the operation's typed error: a failed condition is `Conflict`, a
/// transaction cancelled for another reason (a concurrent transaction on an item) and
/// everything else, after the SDK's retries, are `Unavailable`, with details in the log.
fn sdk_error<E: Refusal + ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    error: SdkError<E, R>,
) -> StorageError {
    match error.as_service_error().map(Refusal::refusal) {
        Some(Refused::ConditionFailed) => StorageError::Conflict,
        Some(Refused::Cancelled) => {
            tracing::warn!(?error, "dynamodb transaction cancelled");
            StorageError::Unavailable("the transaction was cancelled; retry".into())
        }
        Some(Refused::Other) | None => {
            tracing::error!(code = error.code(), message = error.message(), ?error, "dynamodb request failed");
            StorageError::Unavailable("dynamodb request failed".into())
        }
    }
}

/// Why DynamoDB refused a request, from an operation's typed error.
enum Refused {
    /// A condition expression failed: the guest's condition did not hold.
    ConditionFailed,
    /// A transaction was cancelled for a reason other than a failed condition.
    Cancelled,
    Other,
}

trait Refusal {
    fn refusal(&self) -> Refused;
}

macro_rules! conditional_operation {
    ($($error:ty),*) => {$(
        impl Refusal for $error {
            fn refusal(&self) -> Refused {
                if self.is_conditional_check_failed_exception() { Refused::ConditionFailed } else { Refused::Other }
            }
        }
    )*};
}

conditional_operation!(PutItemError, DeleteItemError, UpdateItemError);

macro_rules! unconditional_operation {
    ($($error:ty),*) => {$(
        impl Refusal for $error {
            fn refusal(&self) -> Refused {
                Refused::Other
            }
        }
    )*};
}

unconditional_operation!(GetItemError, BatchGetItemError, QueryError);

impl Refusal for TransactWriteItemsError {
    fn refusal(&self) -> Refused {
        match self {
            Self::TransactionCanceledException(cancelled)
                if cancelled.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed")) =>
            {
                Refused::ConditionFailed
            }
            Self::TransactionCanceledException(_) => Refused::Cancelled,
            _ => Refused::Other,
        }
    }
}

#[async_trait::async_trait]
impl KvBackend for DynamoKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>, StorageError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(namespace, key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.item().and_then(|item| entry(item, self.clock.unix_seconds() as i64)))
    }

    async fn get_many(&self, namespace: &str, keys: &[String]) -> Result<Vec<Option<Entry>>, StorageError> {
        let mut found: HashMap<String, Item> = HashMap::new();
        let mut unique: Vec<&String> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut pending: Vec<Item> =
            unique.iter().map(|k| HashMap::from([("pk".to_owned(), pk(namespace, k))])).collect();
        // BatchGetItem may return some keys unprocessed under load: ask again for those.
        for _attempt in 0..8 {
            if pending.is_empty() {
                break;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StorageError::Unavailable(format!("invalid batch request: {e}")))?;
            let output =
                self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(sdk_error)?;
            for item in output.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                if let Some(AttributeValue::S(k)) = item.get("k") {
                    found.insert(k.clone(), item.clone());
                }
            }
            pending = output
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if !pending.is_empty() {
            return Err(StorageError::Unavailable("dynamodb kept keys unprocessed; retry".into()));
        }
        let now = self.clock.unix_seconds() as i64;
        Ok(keys.iter().map(|k| found.get(k).and_then(|item| entry(item, now))).collect())
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        condition: Condition,
        ttl: Option<Duration>,
    ) -> Result<u64, StorageError> {
        let (now, version) = (self.clock.unix_seconds() as i64, new_version());
        let (expression, values) = condition_expression(&condition, now);
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(namespace, key, &value, version, ttl, now)));
        if let Some(expression) = expression {
            request = request
                .condition_expression(expression)
                .expression_attribute_names("#ttl", "ttl")
                .set_expression_attribute_values(Some(values));
        }
        request.send().await.map_err(sdk_error)?;
        Ok(version)
    }

    async fn delete(&self, namespace: &str, key: &str, condition: Condition) -> Result<bool, StorageError> {
        let now = self.clock.unix_seconds() as i64;
        let (expression, values) = condition_expression(&condition, now);
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", pk(namespace, key))
            .return_values(ReturnValue::AllOld);
        if let Some(expression) = expression {
            request = request
                .condition_expression(expression)
                .expression_attribute_names("#ttl", "ttl")
                .set_expression_attribute_values(Some(values));
        }
        let output = request.send().await.map_err(sdk_error)?;
        Ok(output.attributes().is_some_and(|old| is_live(old, now)))
    }

    async fn increment(&self, namespace: &str, key: &str, delta: i64) -> Result<i64, StorageError> {
        // Fast path: one atomic ADD on the numeric attribute, allowed when the item is
        // absent or a live counter and the result stays within i64.
        for _attempt in 0..16 {
            let now = self.clock.unix_seconds() as i64;
            let bound = if delta >= 0 { i64::MAX - delta } else { i64::MIN - delta };
            let range = if delta >= 0 { "n <= :bound" } else { "n >= :bound" };
            let output = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", pk(namespace, key))
                .update_expression("SET ns = :ns, k = :k, ver = :ver ADD n :delta")
                .condition_expression(format!(
                    "attribute_not_exists(pk) OR (attribute_not_exists(v) AND attribute_exists(n) AND {range} \
                     AND (attribute_not_exists(#ttl) OR #ttl > :now))"
                ))
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":ns", s(namespace))
                .expression_attribute_values(":k", s(key))
                .expression_attribute_values(":ver", n(new_version()))
                .expression_attribute_values(":delta", n(delta))
                .expression_attribute_values(":bound", n(bound))
                .expression_attribute_values(":now", n(now))
                .return_values(ReturnValue::UpdatedNew)
                .return_values_on_condition_check_failure(
                    aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let old = match output {
                Ok(output) => {
                    let value = output.attributes().and_then(|a| number(a, "n"));
                    return value
                        .and_then(|v| i64::try_from(v).ok())
                        .ok_or_else(|| StorageError::Unavailable("dynamodb returned no counter".into()));
                }
                Err(SdkError::ServiceError(failure)) if failure.err().is_conditional_check_failed_exception() => {
                    match failure.into_err() {
                        UpdateItemError::ConditionalCheckFailedException(e) => e.item.unwrap_or_default(),
                        _ => HashMap::new(),
                    }
                }
                Err(error) => return Err(sdk_error(error)),
            };
            // Slow path: the item holds bytes, is expired, or would overflow. Decide from
            // the old item, then replace it conditionally on its version.
            let current = entry(&old, now);
            let new = next_counter_value(key, current.as_ref().map(|e| e.value.as_slice()), delta)?;
            let mut counter = HashMap::from([
                ("pk".to_owned(), pk(namespace, key)),
                ("ns".to_owned(), s(namespace)),
                ("k".to_owned(), s(key)),
                ("n".to_owned(), n(new)),
                ("ver".to_owned(), n(new_version())),
            ]);
            if current.is_some()
                && let Some(ttl) = old.get("ttl")
            {
                counter.insert("ttl".to_owned(), ttl.clone());
            }
            let condition = match (&current, old.get("ver")) {
                (Some(_), Some(ver)) => Some(("ver = :old", ver.clone())),
                _ => None,
            };
            let mut put = self.client.put_item().table_name(&self.table).set_item(Some(counter));
            put = match condition {
                Some((expression, ver)) => {
                    put.condition_expression(expression).expression_attribute_values(":old", ver)
                }
                None => put
                    .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":now", n(now)),
            };
            match put.send().await.map_err(sdk_error) {
                Ok(_) => return Ok(new),
                Err(StorageError::Conflict) => continue, // raced with another writer: go again
                Err(other) => return Err(other),
            }
        }
        Err(StorageError::Unavailable("too much contention on this counter; retry".into()))
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page, StorageError> {
        let now = self.clock.unix_seconds() as i64;
        let mut keys: Vec<String> = Vec::new();
        let mut start: Option<Item> = cursor.map(|c| {
            HashMap::from([
                ("pk".to_owned(), pk(namespace, &c)),
                ("ns".to_owned(), s(namespace)),
                ("k".to_owned(), s(&c)),
            ])
        });
        // Expired items are filtered after DynamoDB's `Limit`, so a page may come back
        // short: keep reading until we have one more key than asked for, or no more.
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(NAMESPACE_INDEX)
                .expression_attribute_values(":ns", s(namespace))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_names("#ttl", "ttl")
                .filter_expression("attribute_not_exists(#ttl) OR #ttl > :now")
                .limit((limit + 1 - keys.len() as u32) as i32)
                .set_exclusive_start_key(start.take());
            query = if prefix.is_empty() {
                query.key_condition_expression("ns = :ns")
            } else {
                query
                    .key_condition_expression("ns = :ns AND begins_with(k, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix))
            };
            let output = query.send().await.map_err(sdk_error)?;
            keys.extend(output.items().iter().filter_map(|item| match item.get("k") {
                Some(AttributeValue::S(k)) => Some(k.clone()),
                _ => None,
            }));
            start = output.last_evaluated_key().cloned();
            if keys.len() > limit as usize || start.is_none() {
                break;
            }
        }
        let more = keys.len() > limit as usize;
        keys.truncate(limit as usize);
        let cursor = if more { keys.last().cloned() } else { None };
        Ok(Page { keys, cursor })
    }

    async fn transact(&self, namespace: &str, writes: Vec<Write>) -> Result<Vec<u64>, StorageError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.unix_seconds() as i64;
        let mut versions = Vec::with_capacity(writes.len());
        let mut items = Vec::with_capacity(writes.len());
        for write in &writes {
            let (condition, transact_item) = match write {
                Write::Set((key, value, options)) => {
                    let version = new_version();
                    versions.push(version);
                    let ttl = options.ttl_seconds.map(|s| Duration::from_secs(s.into()));
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item(namespace, key, value, version, ttl, now)));
                    (&options.condition, Either::Put(put))
                }
                Write::Delete((key, condition)) => {
                    versions.push(0);
                    let delete = Delete::builder().table_name(&self.table).key("pk", pk(namespace, key));
                    (condition, Either::Delete(delete))
                }
            };
            let (expression, values) = condition_expression(condition, now);
            let invalid =
                |e: aws_sdk_dynamodb::error::BuildError| StorageError::Unavailable(format!("invalid transaction: {e}"));
            let transact_item = match transact_item {
                Either::Put(mut put) => {
                    if let Some(expression) = expression {
                        put = put
                            .condition_expression(expression)
                            .expression_attribute_names("#ttl", "ttl")
                            .set_expression_attribute_values(Some(values));
                    }
                    TransactWriteItem::builder().put(put.build().map_err(invalid)?).build()
                }
                Either::Delete(mut delete) => {
                    if let Some(expression) = expression {
                        delete = delete
                            .condition_expression(expression)
                            .expression_attribute_names("#ttl", "ttl")
                            .set_expression_attribute_values(Some(values));
                    }
                    TransactWriteItem::builder().delete(delete.build().map_err(invalid)?).build()
                }
            };
            items.push(transact_item);
        }
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map_err(sdk_error)?;
        Ok(versions)
    }
}

enum Either {
    Put(aws_sdk_dynamodb::types::builders::PutBuilder),
    Delete(aws_sdk_dynamodb::types::builders::DeleteBuilder),
}

/// `increment`'s compare-and-swap loop under contention, deterministically: a stand-in
/// DynamoDB endpoint (the JSON protocol over HTTP, just the two operations `increment`
/// sends) answers from a script, so a lost race happens exactly where the test says. The
/// conformance suite covers the real semantics against moto, whose own conditional writes
/// are not atomic enough to stage a race on purpose.
#[cfg(test)]
mod contention_tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};

    /// What the stand-in answers: `(operation, request body) -> (status, body)`.
    type Script = Box<dyn Fn(&str, &Value) -> (StatusCode, Value) + Send + Sync>;
    /// The requests the stand-in saw: (operation, body).
    type Seen = Arc<Mutex<Vec<(String, Value)>>>;

    /// Serves `script` on a loopback port; returns a client for it and the requests seen.
    async fn dynamodb(script: Script) -> (Client, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = (Arc::new(script), seen.clone());
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::post(
                    |axum::extract::State((script, seen)): axum::extract::State<(Arc<Script>, Seen)>,
                     headers: HeaderMap,
                     body: String| async move {
                        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
                        let operation = target.rsplit('.').next().unwrap_or("").to_owned();
                        let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        let (status, answer) = script(&operation, &request);
                        seen.lock().unwrap().push((operation, request));
                        (status, [("content-type", "application/x-amz-json-1.0")], answer.to_string())
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(url)
            .build();
        (Client::from_conf(config), seen)
    }

    fn condition_failed(item: Option<Value>) -> (StatusCode, Value) {
        let mut body = json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
        });
        if let Some(item) = item {
            body["Item"] = item;
        }
        (StatusCode::BAD_REQUEST, body)
    }

    /// The stored item: the bytes `5` (not a counter, so `increment` takes the slow path).
    fn bytes_item() -> Value {
        use base64::Engine as _;
        json!({
            "pk": {"S": "ns#hits"}, "ns": {"S": "ns"}, "k": {"S": "hits"},
            "v": {"B": base64::engine::general_purpose::STANDARD.encode("5")}, "ver": {"N": "1"},
        })
    }

    #[tokio::test]
    async fn a_lost_compare_and_swap_goes_round_again_and_counts_once() {
        let puts = Arc::new(Mutex::new(0));
        let script: Script = Box::new({
            let puts = puts.clone();
            move |operation, _| match operation {
                // First pass: the item holds bytes, so the ADD's condition fails; a
                // concurrent writer then wins the version race for the replacing put.
                "UpdateItem" if *puts.lock().unwrap() == 0 => condition_failed(Some(bytes_item())),
                "PutItem" => {
                    *puts.lock().unwrap() += 1;
                    condition_failed(None)
                }
                // Second pass: that writer left a counter (10); the ADD now applies.
                "UpdateItem" => (StatusCode::OK, json!({"Attributes": {"n": {"N": "16"}}})),
                other => (StatusCode::BAD_REQUEST, json!({"__type": format!("Unexpected{other}")})),
            }
        });
        let (client, seen) = dynamodb(script).await;
        let kv = DynamoKv::new(client, "t");
        assert_eq!(kv.increment("ns", "hits", 6).await, Ok(16));

        let seen = seen.lock().unwrap();
        let operations: Vec<&str> = seen.iter().map(|(op, _)| op.as_str()).collect();
        assert_eq!(operations, ["UpdateItem", "PutItem", "UpdateItem"], "one retry after the lost race");
        let put = &seen[1].1;
        assert_eq!(put["Item"]["n"]["N"], "11", "the replacement counts from the bytes it read: 5 + 6");
        assert_eq!(put["ConditionExpression"], "ver = :old", "and only if nobody changed them since");
        assert_eq!(put["ExpressionAttributeValues"][":old"]["N"], "1");
    }

    #[tokio::test]
    async fn endless_contention_gives_up_with_unavailable_after_sixteen_rounds() {
        let script: Script = Box::new(|operation, _| match operation {
            "UpdateItem" => condition_failed(Some(bytes_item())),
            _ => condition_failed(None),
        });
        let (client, seen) = dynamodb(script).await;
        let kv = DynamoKv::new(client, "t");
        assert_eq!(
            kv.increment("ns", "hits", 1).await,
            Err(StorageError::Unavailable("too much contention on this counter; retry".into()))
        );
        let puts = seen.lock().unwrap().iter().filter(|(op, _)| op == "PutItem").count();
        assert_eq!(puts, 16);
    }
}
