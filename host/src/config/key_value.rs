//! `[key_value_store.NAME]` tables and `[server] data_dir`: where the
//! wasi:keyvalue stores routes may open keep their data (Spin's runtime-config
//! names, so a Spin user finds them where they expect).
//!
//! ```toml
//! [server]
//! data_dir = "data"                 # default $XDG_DATA_HOME/switchyard, else ~/.local/share/switchyard
//!
//! [key_value_store.default]         # optional: without it, `default` is SQLite in data_dir
//! type = "sqlite"
//! path = "state/kv.sqlite3"         # relative to the config file
//!
//! [key_value_store.shared]
//! type = "redis"
//! url = "redis://127.0.0.1:6379/0"  # or url = { env = "REDIS_URL" }
//! prefix = "app:"                   # optional; every key is stored under it
//! timeout_ms = 500                  # optional; each call's bound (also within the route's deadline)
//!
//! [key_value_store.scratch]
//! type = "memory"                   # this process only, gone at exit
//! max_key_bytes = 256               # optional, any store
//! max_value_bytes = 1048576         # optional, any store
//! ```
//!
//! A route grants the stores it may open with `key_value_stores = [...]`;
//! naming a store no table declares (other than `default`) is an error here.

use super::limits::bounded;
use super::variables::{read_value, Value};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The store every project has, with or without a table.
pub const DEFAULT_STORE: &str = "default";

/// One store, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValueStoreConfig {
    /// Where the data lives.
    pub backend: Backend,
    /// Longest key a guest may use, in bytes.
    pub max_key_bytes: usize,
    /// Largest value a guest may store, in bytes.
    pub max_value_bytes: usize,
    /// The bound on each call to the backend (the route's deadline may cut
    /// it shorter).
    pub timeout: Duration,
}

/// The engine behind a store.
#[derive(Clone, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite database file (WAL).
    Sqlite { path: PathBuf },
    /// A Redis server; every key is stored as `prefix` + key.
    Redis { url: Value, prefix: String },
    /// A map in this process, shared by every request, gone at exit.
    Memory,
}

/// The URL may carry a password: only its source is shown.
impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            Backend::Redis { url, prefix } => f
                .debug_struct("Redis")
                .field("url", url)
                .field("prefix", prefix)
                .finish(),
            Backend::Memory => f.write_str("Memory"),
        }
    }
}

impl Backend {
    /// `sqlite`, `redis` or `memory`, as the `type` key says.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Redis { .. } => "redis",
            Backend::Memory => "memory",
        }
    }
}

/// Key and value bounds unless a table sets its own.
pub const DEFAULT_MAX_KEY_BYTES: usize = 256;
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// `[key_value_store.NAME]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
    url: Option<toml::Value>,
    prefix: Option<String>,
    timeout_ms: Option<i64>,
    max_key_bytes: Option<i64>,
    max_value_bytes: Option<i64>,
}

/// Every store, `default` included (SQLite in `data_dir` unless a table
/// says otherwise). `base` is the config file's folder. Errors name the
/// table; secrets (a URL from the environment) never appear in them.
pub(super) fn resolve(
    raw: BTreeMap<String, RawStore>,
    data_dir: &Path,
    base: &Path,
) -> Result<BTreeMap<String, KeyValueStoreConfig>, (String, String)> {
    let mut stores = BTreeMap::new();
    for (name, raw) in raw {
        let table = format!("key_value_store.{name}");
        let store = raw
            .resolve(base)
            .map_err(|message| (table.clone(), message))?;
        super::names::validate_name(&name)
            .map_err(|e| (table, e.replace("route name", "store name")))?;
        stores.insert(name, store);
    }
    stores
        .entry(DEFAULT_STORE.to_string())
        .or_insert_with(|| KeyValueStoreConfig {
            backend: Backend::Sqlite {
                path: data_dir.join("kv-default.sqlite3"),
            },
            max_key_bytes: DEFAULT_MAX_KEY_BYTES,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            timeout: DEFAULT_TIMEOUT,
        });
    let mut paths: BTreeMap<&Path, &str> = BTreeMap::new();
    for (name, store) in &stores {
        if let Backend::Sqlite { path } = &store.backend {
            if let Some(first) = paths.insert(path, name) {
                return Err((
                    format!("key_value_store.{name}"),
                    format!(
                        "`path` {} is also store '{first}''s; two stores cannot share a database",
                        path.display()
                    ),
                ));
            }
        }
    }
    Ok(stores)
}

impl RawStore {
    fn resolve(self, base: &Path) -> Result<KeyValueStoreConfig, String> {
        let only = |allowed: &[&str]| -> Result<(), String> {
            let given = [
                ("path", self.path.is_some()),
                ("url", self.url.is_some()),
                ("prefix", self.prefix.is_some()),
            ];
            match given.iter().find(|(k, set)| *set && !allowed.contains(k)) {
                Some((key, _)) => Err(format!(
                    "`{key}` does not apply to a store of type \"{}\"",
                    self.kind
                )),
                None => Ok(()),
            }
        };
        let backend = match self.kind.as_str() {
            "sqlite" => {
                only(&["path"])?;
                let path = self.path.clone().ok_or(
                    "a store of type \"sqlite\" needs `path` (a database file, relative to this file)",
                )?;
                if path.as_os_str().is_empty() {
                    return Err("`path` is empty".into());
                }
                Backend::Sqlite {
                    path: base.join(path),
                }
            }
            "redis" => {
                only(&["url", "prefix"])?;
                let url = self.url.clone().ok_or(
                    "a store of type \"redis\" needs `url` (such as \"redis://127.0.0.1:6379/0\")",
                )?;
                let url = read_value(&url).map_err(|e| format!("`url`: {e}"))?;
                check_redis_url(url.value())?;
                Backend::Redis {
                    url,
                    prefix: self.prefix.clone().unwrap_or_default(),
                }
            }
            "memory" => {
                only(&[])?;
                Backend::Memory
            }
            other => {
                return Err(format!(
                    "unknown store type {other:?}: expected \"sqlite\", \"redis\" or \"memory\""
                ))
            }
        };
        Ok(KeyValueStoreConfig {
            backend,
            max_key_bytes: match self.max_key_bytes {
                Some(n) => bounded("max_key_bytes", n, 1, 64 << 10)? as usize,
                None => DEFAULT_MAX_KEY_BYTES,
            },
            max_value_bytes: match self.max_value_bytes {
                Some(n) => bounded("max_value_bytes", n, 1, 64 << 20)? as usize,
                None => DEFAULT_MAX_VALUE_BYTES,
            },
            timeout: match self.timeout_ms {
                Some(ms) => Duration::from_millis(bounded("timeout_ms", ms, 1, 60_000)?),
                None => DEFAULT_TIMEOUT,
            },
        })
    }
}

/// `redis://` or `rediss://` with a host; the message never repeats the
/// URL (it may hold a password).
fn check_redis_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "`url` is not a URL such as \"redis://127.0.0.1:6379/0\"".to_string())?;
    match uri.scheme_str() {
        Some("redis") => {}
        Some("rediss") => {
            return Err("`url`: rediss:// (TLS) is not supported; use redis://".into())
        }
        _ => return Err("`url` must start with redis://".into()),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err("`url` has no host".into()),
    }
}

/// `$XDG_DATA_HOME/switchyard`, else `$HOME/.local/share/switchyard`, else
/// `.switchyard` beside the config file.
pub(super) fn default_data_dir(base: &Path) -> PathBuf {
    let absolute = |name| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_DATA_HOME")
        .or_else(|| absolute("HOME").map(|h| h.join(".local").join("share")))
        .map(|dir| dir.join("switchyard"))
        .unwrap_or_else(|| base.join(".switchyard"))
}

/// A route's (or middleware's) `key_value_stores`: each a declared store,
/// none twice; `""` is `default`.
pub(super) fn grants(
    names: &[String],
    stores: &BTreeMap<String, KeyValueStoreConfig>,
) -> Result<Vec<String>, String> {
    let mut granted: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let name = if name.is_empty() { DEFAULT_STORE } else { name };
        if !stores.contains_key(name) {
            let known: Vec<&str> = stores.keys().map(String::as_str).collect();
            return Err(format!(
                "`key_value_stores` names '{name}', which no [key_value_store.{name}] table \
                 declares (declared: {})",
                known.join(", ")
            ));
        }
        if !granted.iter().any(|g| g == name) {
            granted.push(name.to_string());
        }
    }
    Ok(granted)
}
