//! `type = "redis"`: a Redis server, for stores several Switchyard replicas
//! share.
//!
//! One multiplexed connection per store (`ConnectionManager`), made on the
//! first call (so a Redis that is down at start-up fails calls, not the
//! server) and remade after a failure. Every key is stored as
//! `prefix` + key; `increment` is `INCRBY` (atomic in Redis), the batches
//! are `MGET` / `MSET` (atomic) / `DEL`, and `list-keys` is `SCAN` over
//! the prefix, whose cursor is Redis's own (it may repeat a key, as the
//! wasi:keyvalue spec allows, and a page may be empty while the cursor
//! goes on).

use super::counter::{add, COUNTER};
use super::LIST_PAGE;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands as _;
use std::time::Duration;
use tokio::sync::OnceCell;

pub struct Redis {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    connection: OnceCell<ConnectionManager>,
}

impl Redis {
    /// Check the URL; connect later.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<Redis> {
        // The error names what is wrong, never the URL (it may hold a password).
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("invalid url: {}", e.category()))?;
        Ok(Redis {
            client,
            prefix: prefix.to_string(),
            timeout,
            connection: OnceCell::new(),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        let manager = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    // Fail the call rather than retry past its time bound;
                    // the next call reconnects.
                    .set_number_of_retries(1);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .map_err(describe)?;
        Ok(manager.clone())
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let mut redis = self.connection().await?;
        redis.get(self.key(key)).await.map_err(describe)
    }

    pub async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), String> {
        let mut redis = self.connection().await?;
        redis.set(self.key(key), value).await.map_err(describe)
    }

    pub async fn exists(&self, key: &str) -> Result<bool, String> {
        let mut redis = self.connection().await?;
        redis.exists(self.key(key)).await.map_err(describe)
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<(), String> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut redis = self.connection().await?;
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        redis.del::<_, ()>(keys).await.map_err(describe)
    }

    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, String> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut redis = self.connection().await?;
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        // MGET of one key is still an array reply.
        redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut redis)
            .await
            .map_err(describe)
    }

    pub async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        if pairs.is_empty() {
            return Ok(());
        }
        let mut redis = self.connection().await?;
        let pairs: Vec<(String, Vec<u8>)> =
            pairs.into_iter().map(|(k, v)| (self.key(&k), v)).collect();
        redis.mset::<_, _, ()>(&pairs).await.map_err(describe)
    }

    pub async fn increment(&self, key: &str, delta: i64) -> Result<u64, String> {
        let mut redis = self.connection().await?;
        let new: i64 = redis
            .incr(self.key(key), delta)
            .await
            .map_err(|e| match e.kind() {
                // Redis refuses a value that is not an integer, or a sum
                // past i64::MAX.
                redis::ErrorKind::Server(_) => format!(
                    "{COUNTER}the value at '{}' is not a decimal integer, or adding {delta} \
                     would overflow {}",
                    key.escape_debug(),
                    i64::MAX
                ),
                _ => describe(e),
            })?;
        add(key, Some(new.to_string().as_bytes()), 0)
    }

    pub async fn list(&self, cursor: Option<u64>) -> Result<(Vec<String>, Option<u64>), String> {
        let mut redis = self.connection().await?;
        let pattern = format!("{}*", escape_glob(&self.prefix));
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor.unwrap_or(0))
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            // A hint of buckets to visit, not a bound on keys: half a page
            // keeps a reply within LIST_PAGE (Redis holds about one key per
            // bucket).
            .arg(LIST_PAGE / 2)
            .query_async(&mut redis)
            .await
            .map_err(describe)?;
        let keys = keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_string))
            .collect();
        Ok((keys, (next != 0).then_some(next)))
    }
}

/// A Redis error as the guest and the log see it: what failed, without the
/// server's address.
fn describe(error: redis::RedisError) -> String {
    if error.is_timeout() {
        return "Redis did not answer in time".into();
    }
    if error.is_connection_refusal() || error.is_connection_dropped() || error.is_io_error() {
        return format!("cannot reach Redis: {}", error.category());
    }
    match error.detail() {
        Some(detail) => format!("Redis refused the command: {detail}"),
        None => format!("Redis failed: {}", error.category()),
    }
}

/// `prefix` with Redis glob characters escaped, for `SCAN MATCH`.
fn escape_glob(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
