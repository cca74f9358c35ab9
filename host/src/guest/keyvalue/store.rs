//! One open store's call path ([`Store`]): limits checked before the
//! backend is touched, every call bounded in time, counted and timed by
//! store, operation and outcome, then handed to its backend.

use super::counter::COUNTER;
use super::memory::Memory;
use super::redis::Redis;
use super::sqlite::Sqlite;
use super::{KvError, MAX_BATCH, MAX_BATCH_BYTES};
use crate::config::{Backend as BackendConfig, KeyValueStoreConfig};
use crate::telemetry;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A store that could not be opened: names it and what it is.
#[derive(Debug, thiserror::Error)]
#[error("key_value_store '{name}' ({what}): {reason:#}")]
pub struct OpenError {
    pub name: String,
    pub what: String,
    pub reason: anyhow::Error,
}

/// One open store.
pub struct Store {
    name: Arc<str>,
    config: KeyValueStoreConfig,
    backend: Backend,
}

enum Backend {
    Sqlite(Arc<Sqlite>),
    Redis(Box<Redis>),
    Memory(Memory),
}

impl Store {
    /// Open (or create) the store: a SQLite file is created with its folder
    /// and schema now; a Redis connection is made on first use.
    pub fn open(name: &str, config: &KeyValueStoreConfig) -> Result<Store, OpenError> {
        let failed = |what: String| {
            move |reason| OpenError {
                name: name.to_string(),
                what,
                reason,
            }
        };
        let backend = match &config.backend {
            BackendConfig::Sqlite { path } => Backend::Sqlite(Arc::new(
                Sqlite::open(path).map_err(failed(format!("sqlite {}", path.display())))?,
            )),
            BackendConfig::Redis { url, prefix } => Backend::Redis(Box::new(
                Redis::new(url.value(), prefix, config.timeout)
                    .map_err(failed("redis".to_string()))?,
            )),
            BackendConfig::Memory => Backend::Memory(Memory::default()),
        };
        Ok(Store {
            name: name.into(),
            config: config.clone(),
            backend,
        })
    }

    /// The settings it was opened with.
    pub(super) fn settings(&self) -> &KeyValueStoreConfig {
        &self.config
    }

    /// Its name in the config.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn timeout(&self) -> Duration {
        self.config.timeout
    }

    fn kind(&self) -> &'static str {
        self.config.backend.kind()
    }

    /// Run `call` on the backend within `budget`, counting it.
    async fn timed<T>(
        &self,
        op: &'static str,
        budget: Duration,
        call: impl Future<Output = Result<T, String>>,
    ) -> Result<T, KvError> {
        let started = Instant::now();
        let result = match tokio::time::timeout(budget, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(self.failed(message)),
            Err(_) => Err(KvError::Timeout {
                store: self.name.clone(),
                took: budget,
            }),
        };
        let outcome = result.as_ref().map_or_else(KvError::outcome, |_| "ok");
        telemetry::kv_call(&self.name, op, outcome, started.elapsed());
        result
    }

    fn failed(&self, message: String) -> KvError {
        match message.strip_prefix(COUNTER) {
            Some(message) => KvError::Counter(message.to_string()),
            None => KvError::Backend {
                store: self.name.clone(),
                kind: self.kind(),
                message,
            },
        }
    }

    /// A refusal before the backend is asked, counted like a call.
    fn refuse<T>(&self, op: &'static str, message: String) -> Result<T, KvError> {
        telemetry::kv_call(&self.name, op, "refused", Duration::ZERO);
        Err(KvError::Refused(message))
    }

    fn check_key(&self, op: &'static str, key: &str) -> Result<(), KvError> {
        let max = self.config.max_key_bytes;
        if key.len() > max {
            return self.refuse(
                op,
                format!(
                    "key of {} bytes is over store '{}''s limit of {max} bytes (max_key_bytes)",
                    key.len(),
                    self.name
                ),
            );
        }
        Ok(())
    }

    fn check_value(&self, op: &'static str, key: &str, value: &[u8]) -> Result<(), KvError> {
        let max = self.config.max_value_bytes;
        if value.len() > max {
            return self.refuse(
                op,
                format!(
                    "value of {} bytes for key '{}' is over store '{}''s limit of {max} bytes (max_value_bytes)",
                    value.len(),
                    key.escape_debug(),
                    self.name
                ),
            );
        }
        Ok(())
    }

    fn check_batch(&self, op: &'static str, keys: usize, bytes: usize) -> Result<(), KvError> {
        if keys > MAX_BATCH {
            return self.refuse(
                op,
                format!("{op} of {keys} keys is over the limit of {MAX_BATCH} keys per call"),
            );
        }
        if bytes > MAX_BATCH_BYTES {
            return self.refuse(
                op,
                format!(
                    "{op} of {bytes} bytes is over the limit of {} MiB per call",
                    MAX_BATCH_BYTES >> 20
                ),
            );
        }
        Ok(())
    }

    pub async fn get(&self, key: String, budget: Duration) -> Result<Option<Vec<u8>>, KvError> {
        self.check_key("get", &key)?;
        let call = async {
            match &self.backend {
                Backend::Sqlite(db) => db.get(key).await,
                Backend::Redis(redis) => redis.get(&key).await,
                Backend::Memory(map) => Ok(map.get(&key)),
            }
        };
        self.timed("get", budget, call).await
    }

    pub async fn set(&self, key: String, value: Vec<u8>, budget: Duration) -> Result<(), KvError> {
        self.check_key("set", &key)?;
        self.check_value("set", &key, &value)?;
        let call = async {
            match &self.backend {
                Backend::Sqlite(db) => db.set_many(vec![(key, value)]).await,
                Backend::Redis(redis) => redis.set(&key, value).await,
                Backend::Memory(map) => map.set_many(vec![(key, value)]),
            }
        };
        self.timed("set", budget, call).await
    }

    pub async fn delete(&self, key: String, budget: Duration) -> Result<(), KvError> {
        self.check_key("delete", &key)?;
        let call = async {
            match &self.backend {
                Backend::Sqlite(db) => db.delete_many(vec![key]).await,
                Backend::Redis(redis) => redis.delete_many(&[key]).await,
                Backend::Memory(map) => map.delete_many(&[key]),
            }
        };
        self.timed("delete", budget, call).await
    }

    pub async fn exists(&self, key: String, budget: Duration) -> Result<bool, KvError> {
        self.check_key("exists", &key)?;
        let call = async {
            match &self.backend {
                Backend::Sqlite(db) => db.exists(key).await,
                Backend::Redis(redis) => redis.exists(&key).await,
                Backend::Memory(map) => Ok(map.exists(&key)),
            }
        };
        self.timed("exists", budget, call).await
    }

    /// One page of keys after `cursor`, and the cursor of the next page.
    pub async fn list_keys(
        &self,
        cursor: Option<u64>,
        budget: Duration,
    ) -> Result<(Vec<String>, Option<u64>), KvError> {
        let call = async {
            match &self.backend {
                Backend::Sqlite(db) => db.list(cursor).await,
                Backend::Redis(redis) => redis.list(cursor).await,
                Backend::Memory(map) => Ok(map.list(cursor)),
            }
        };
        self.timed("list-keys", budget, call).await
    }

    /// Add `delta` to the decimal integer at `key` (0 when absent), in one
    /// atomic step of the backend.
    pub async fn increment(
        &self,
        key: String,
        delta: u64,
        budget: Duration,
    ) -> Result<u64, KvError> {
        self.check_key("increment", &key)?;
        let Ok(delta) = i64::try_from(delta) else {
            return self.refuse(
                "increment",
                format!("delta {delta} is over the largest counter, {}", i64::MAX),
            );
        };
        let call = async {
            match &self.backend {
                Backend::Sqlite(db) => db.increment(key, delta).await,
                Backend::Redis(redis) => redis.increment(&key, delta).await,
                Backend::Memory(map) => map.increment(&key, delta),
            }
        };
        self.timed("increment", budget, call).await
    }

    pub async fn get_many(
        &self,
        keys: Vec<String>,
        budget: Duration,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvError> {
        self.check_batch("get-many", keys.len(), 0)?;
        for key in &keys {
            self.check_key("get-many", key)?;
        }
        let call = async {
            let values = match &self.backend {
                Backend::Sqlite(db) => db.get_many(keys.clone()).await?,
                Backend::Redis(redis) => redis.get_many(&keys).await?,
                Backend::Memory(map) => map.get_many(&keys),
            };
            let bytes: usize = values.iter().flatten().map(Vec::len).sum();
            if bytes > MAX_BATCH_BYTES {
                return Err(format!(
                    "get-many would return {bytes} bytes, over the limit of {} MiB per call",
                    MAX_BATCH_BYTES >> 20
                ));
            }
            Ok(keys
                .into_iter()
                .zip(values)
                .map(|(key, value)| value.map(|value| (key, value)))
                .collect())
        };
        self.timed("get-many", budget, call).await
    }

    pub async fn set_many(
        &self,
        pairs: Vec<(String, Vec<u8>)>,
        budget: Duration,
    ) -> Result<(), KvError> {
        let bytes = pairs.iter().map(|(_, v)| v.len()).sum();
        self.check_batch("set-many", pairs.len(), bytes)?;
        for (key, value) in &pairs {
            self.check_key("set-many", key)?;
            self.check_value("set-many", key, value)?;
        }
        let call = async {
            match &self.backend {
                Backend::Sqlite(db) => db.set_many(pairs).await,
                Backend::Redis(redis) => redis.set_many(pairs).await,
                Backend::Memory(map) => map.set_many(pairs),
            }
        };
        self.timed("set-many", budget, call).await
    }

    pub async fn delete_many(&self, keys: Vec<String>, budget: Duration) -> Result<(), KvError> {
        self.check_batch("delete-many", keys.len(), 0)?;
        for key in &keys {
            self.check_key("delete-many", key)?;
        }
        let call = async {
            match &self.backend {
                Backend::Sqlite(db) => db.delete_many(keys).await,
                Backend::Redis(redis) => redis.delete_many(&keys).await,
                Backend::Memory(map) => map.delete_many(&keys),
            }
        };
        self.timed("delete-many", budget, call).await
    }
}
