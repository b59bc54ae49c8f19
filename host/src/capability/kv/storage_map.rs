//! `kv.<label>` in the operator's storage map: where a store lives when it is not
//! embedded, and [`open`], which creates this process's kv backends.
//!
//! ```toml
//! [kv.users]
//! dynamodb = { table = "plughost-data", prefix = "users" }
//! ```
//!
//! Several stores may share one table: the prefix is the store's namespace.

use super::{DynamoKv, KvBackend, KvQuota, SqliteKv};
use crate::capability::grants::Placement;
use crate::capability::labelled::{Backends, Bindings, Env, PlacedBackends};
use std::sync::Arc;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KvBinding {
    dynamodb: DynamoBinding,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DynamoBinding {
    table: String,
    /// Keeps this store's keys apart from other stores in the same table.
    prefix: String,
}

/// Embedded SQLite at `<data-dir>/kv.sqlite3` (every store a namespace of it), plus a
/// DynamoDB backend for each bound store.
pub fn open(env: &Env, bindings: &Bindings) -> anyhow::Result<Arc<dyn Backends>> {
    let path = env.data_dir.join("kv.sqlite3");
    let embedded =
        Arc::new(SqliteKv::open(&path).map_err(|e| anyhow::anyhow!("cannot open {}: {e:#}", path.display()))?);
    let mut placement = Placement::<dyn KvBackend>::new(embedded.clone());
    let bound = bindings.parse::<KvBinding>()?;
    if !bound.is_empty() {
        let client = crate::platform::aws::dynamodb(bindings.aws(env)?);
        for (label, binding) in bound {
            let DynamoBinding { table, prefix } = binding.dynamodb;
            if table.is_empty() || prefix.is_empty() || prefix.contains('#') {
                return Err(
                    bindings.error(&label, "`table` and `prefix` must be non-empty and `prefix` must not contain `#`")
                );
            }
            tracing::info!(store = label, table, prefix, "kv store bound to DynamoDB");
            placement.bind(label, Arc::new(DynamoKv::new(client.clone(), table.clone())), &table, &prefix);
        }
    }
    Ok(Arc::new(PlacedBackends {
        placement,
        quota: KvQuota::parse,
        writes: super::writes,
        local_routes: None,
        event_feed: Some(embedded),
    }))
}
