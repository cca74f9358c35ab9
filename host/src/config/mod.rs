//! The config file (`switchyard.toml`) into one validated [`Config`].
//!
//! Every mistake a user can make in the file is caught here, before the
//! server binds a socket or compiles a component, and reported as a
//! [`ConfigError`] that names the file, the route and what is wrong. The rest
//! of the host only ever sees a `Config` that is known to be consistent.
//!
//! ```toml
//! listen = "127.0.0.1:8080"          # optional; --listen and SWITCHYARD_LISTEN win
//!
//! [[route]]
//! path = "/hello"                    # exact path, or a trailing wildcard "/api/..."
//! component = "build/handlers/hello.wasm"  # relative to this file
//! name = "hello"                     # optional; defaults to the file stem
//! env = { GREETING = "hi" }          # optional; the only environment the guest sees
//! timeout_ms = 2000                  # optional; any key of [defaults] may be set per route
//!
//! [[middleware]]                     # components that may run in front of a route
//! name = "auth"
//! component = "build/handlers/auth.wasm"
//!
//! [[route]]
//! path = "/private/..."
//! middleware = ["auth"]              # a chain in front of a component or an upstream
//! upstream = "http://127.0.0.1:9000" # instead of `component`: reverse-proxied
//!
//! [defaults]                         # limits for every route (see Limits for all keys)
//! memory_mb = 128
//!
//! [server]                           # connection-level limits (see ServerLimits)
//! max_concurrent_requests = 1000
//!
//! [cache]                            # compiled components on disk (see CacheSettings)
//! dir = "/var/cache/switchyard"      # default $XDG_CACHE_HOME or ~/.cache + /switchyard/compiled
//! [admin]                            # the admin API (see AdminConfig)
//! token_file = "admin.token"         # relative to this file
//!
//! [telemetry]                        # traces (OTEL_EXPORTER_OTLP_* win over it)
//! otlp_endpoint = "http://127.0.0.1:4318"
//!
//! [key_value_store.default]          # wasi:keyvalue stores (see key_value.rs)
//! type = "sqlite"                    # routes grant them: key_value_stores = ["default"]
//! ```

mod admin;
mod build;
mod cache;
mod key_value;
mod limits;
mod memory;
mod middleware;
mod names;
mod outbound;
pub(crate) mod pattern;
mod route;
mod telemetry;
#[cfg(test)]
mod tests;
mod variables;

pub use admin::AdminConfig;
use admin::RawAdmin;
pub use build::BuildConfig;
use cache::RawCache;
pub use cache::{default_dir, CacheSettings};
pub use key_value::{Backend, KeyValueStoreConfig, DEFAULT_STORE};
pub use limits::{Limits, ServerLimits, ADMIN_MAX_CONNECTIONS, MAX_INSTANCES};
use limits::{RawLimits, RawServer};
pub use memory::{
    MemoryUse, FIELD_BYTES, HOST_BYTES_PER_INSTANCE, RESIDENT_PER_POOL_SLOT, TABLE_ENTRIES,
};
pub use names::validate_name;
pub use outbound::{AllowedHosts, Grant};
pub use pattern::{Pattern, PatternError};
pub use route::RouteConfig;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
pub use variables::Value;

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The config file this was read from.
    pub file: PathBuf,
    /// The listen address from the file, if it sets one.
    pub listen: Option<SocketAddr>,
    /// Routes in file order.
    pub routes: Vec<RouteConfig>,
    /// Connection- and server-wide limits.
    pub server: ServerLimits,
    /// The compile cache (`[cache]`), read at start-up only.
    pub cache: CacheSettings,
    /// The admin API's settings.
    pub admin: AdminConfig,
    /// `[server] data_dir`: where embedded stores keep their files.
    pub data_dir: PathBuf,
    /// `[telemetry]`: where traces go, read at start-up only.
    pub telemetry: crate::telemetry::trace::export::Settings,
    /// Every wasi:keyvalue store, `default` always among them.
    pub key_value_stores: BTreeMap<String, KeyValueStoreConfig>,
}

/// Everything that can be wrong with a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: route #{index} (path \"{path}\"): {source}")]
    Pattern {
        file: PathBuf,
        index: usize,
        path: String,
        source: PatternError,
    },
    #[error("{file}: route #{second} repeats path \"{pattern}\" of route #{first}; each path may be routed once")]
    DuplicatePath {
        file: PathBuf,
        pattern: String,
        first: usize,
        second: usize,
    },
    #[error("{file}: route #{second} ({second_path}) and route #{first} ({first_path}) are both named '{name}'; give one of them a distinct `name`")]
    DuplicateName {
        file: PathBuf,
        name: String,
        first: usize,
        first_path: String,
        second: usize,
        second_path: String,
    },
    #[error("{file}: route #{index} ({path}): {message}")]
    Route {
        file: PathBuf,
        index: usize,
        path: String,
        message: String,
    },
    #[error("{file}: [{section}]: {message}")]
    Section {
        file: PathBuf,
        section: String,
        message: String,
    },
    #[error("{file}: {message}")]
    Middleware { file: PathBuf, message: String },
    #[error("{file}: invalid listen address \"{value}\": expected IP:PORT such as 127.0.0.1:8080")]
    Listen { file: PathBuf, value: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    #[serde(default, rename = "route")]
    routes: Vec<route::RawRoute>,
    #[serde(default, rename = "middleware")]
    middleware: Vec<middleware::RawMiddleware>,
    #[serde(default)]
    defaults: RawLimits,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    cache: RawCache,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    telemetry: telemetry::RawTelemetry,
    #[serde(default, rename = "key_value_store")]
    key_value_stores: BTreeMap<String, key_value::RawStore>,
}

impl Config {
    /// Read and validate a config file.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        // Absolute, so reloads and file watching do not depend on the cwd.
        let file = &std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Config::parse(file, &text)
    }

    /// Validate config text as if read from `file` (relative component paths
    /// resolve against `file`'s folder).
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " | "),
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        let listen = match raw.listen {
            None => None,
            Some(value) => Some(value.parse().map_err(|_| ConfigError::Listen {
                file: file.to_path_buf(),
                value,
            })?),
        };

        let section = |name: &str| {
            let file = file.to_path_buf();
            let name = name.to_string();
            move |message: String| ConfigError::Section {
                file,
                section: name,
                message,
            }
        };
        let defaults = raw
            .defaults
            .apply(&Limits::default())
            .map_err(|message| match message.as_str() {
                "unknown key `instance_reuse`" => "`instance_reuse` is a per-route key: set it \
                    in the [[route]] of each handler written to be reused"
                    .to_string(),
                "unknown key `instance_concurrency`" => "`instance_concurrency` is a per-route \
                    key: set it in the [[route]] of each wasi:http 0.3 handler written to serve \
                    several requests at once"
                    .to_string(),
                _ => message,
            })
            .map_err(section("defaults"))?;
        let data_dir = match raw.server.data_dir.take() {
            Some(dir) if dir.as_os_str().is_empty() => {
                return Err(section("server")("`data_dir` is empty".into()))
            }
            Some(dir) => base.join(dir),
            None => key_value::default_data_dir(base),
        };
        let server = raw.server.resolve().map_err(section("server"))?;
        let key_value_stores = key_value::resolve(raw.key_value_stores, &data_dir, base)
            .map_err(|(table, message)| section(&table)(message))?;
        let declared =
            middleware::declare(raw.middleware, base, &key_value_stores).map_err(|message| {
                ConfigError::Middleware {
                    file: file.to_path_buf(),
                    message,
                }
            })?;
        let cache = raw.cache.resolve(base).map_err(section("cache"))?;
        let admin = raw.admin.resolve(base).map_err(section("admin"))?;
        let telemetry = raw.telemetry.resolve().map_err(section("telemetry"))?;

        let shared = route::Shared {
            base,
            defaults: &defaults,
            stores: &key_value_stores,
            declared: &declared,
        };
        let mut routes = Vec::with_capacity(raw.routes.len());
        let mut by_pattern: HashMap<Pattern, usize> = HashMap::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (i, mut raw) in raw.routes.into_iter().enumerate() {
            let index = i + 1;
            let path = raw.path.clone();
            let route_error = |message: String| ConfigError::Route {
                file: file.to_path_buf(),
                index,
                path: path.clone(),
                message,
            };
            let pattern = Pattern::parse(&raw.path).map_err(|source| ConfigError::Pattern {
                file: file.to_path_buf(),
                index,
                path: raw.path.clone(),
                source,
            })?;
            if let Some(&first) = by_pattern.get(&pattern) {
                return Err(ConfigError::DuplicatePath {
                    file: file.to_path_buf(),
                    pattern: pattern.to_string(),
                    first,
                    second: index,
                });
            }
            by_pattern.insert(pattern.clone(), index);

            let (component, upstream) = match (raw.component.take(), raw.upstream.take()) {
                (Some(_), Some(_)) => {
                    return Err(route_error(
                        "set either `component` or `upstream`, not both".into(),
                    ))
                }
                (None, None) => {
                    return Err(route_error(
                        "set `component` (a .wasm file) or `upstream` (an http:// URL)".into(),
                    ))
                }
                (Some(component), None) if component.as_os_str().is_empty() => {
                    return Err(route_error("`component` is empty".into()))
                }
                (Some(component), None) => (component, None),
                (None, Some(url)) => (
                    PathBuf::new(),
                    Some(middleware::upstream(&url).map_err(&route_error)?),
                ),
            };
            let name = match raw.name.take() {
                Some(name) => name,
                None if upstream.is_some() => {
                    return Err(route_error("a route with `upstream` needs a `name`".into()))
                }
                None => component
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        route_error("cannot derive a name from `component`; set `name`".into())
                    })?,
            };
            validate_name(&name).map_err(route_error)?;
            if let Some(&first) = by_name.get(&name) {
                let first_route: &RouteConfig = &routes[first - 1];
                return Err(ConfigError::DuplicateName {
                    file: file.to_path_buf(),
                    name,
                    first,
                    first_path: first_route.pattern.to_string(),
                    second: index,
                    second_path: path,
                });
            }
            by_name.insert(name.clone(), index);

            let identity = route::Identity {
                name,
                pattern,
                component,
                upstream,
            };
            routes.push(raw.resolve(identity, &shared).map_err(route_error)?);
        }
        memory::check(file, &routes, &server)?;
        Ok(Config {
            file: file.to_path_buf(),
            listen,
            routes,
            server,
            cache,
            admin,
            data_dir,
            telemetry,
            key_value_stores,
        })
    }
}
