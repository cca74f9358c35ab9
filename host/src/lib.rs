//! Switchyard: serve HTTP from WebAssembly components.
//!
//! A handler is any component that implements the `wasi:http/proxy` world.
//! Switchyard compiles each routed component once, pre-instantiates it, and
//! runs every request in a fresh, isolated instance, streaming the response
//! back as the guest writes it.
//!
//! # Layers
//!
//! Read bottom to top, the folders are a request's journey. Each imports
//! only from the layers below it (`host/tests/all/layers.rs` fails the
//! build's tests on an upward import); inside a layer, files import each
//! other without a circle.
//!
//! | layer | module | job |
//! |---|---|---|
//! | 0 base | [`request`], [`body`], [`telemetry`] | a request's tag and origin, body types and adapters, metric names, trace spans and their export |
//! | 1 config | [`config`] | `switchyard.toml` into one validated [`Config`]: routes, limits, path and outbound-host patterns, key-value stores and variables, cache and admin settings |
//! | 2 guest | [`guest`] | what one instance may see and do: store data, guest log, outbound hooks, the `next` hop a middleware calls, its wasi:config variables and wasi:keyvalue stores (SQLite, Redis, memory) |
//! | 3 runtime | [`runtime`] | engines, linker, tuning, digests, the compile cache: bytes → pre-instantiated handler |
//! | 4 invoke | [`invoke`] | one request on one loaded component: handler, admission, instance reuse, guarded body, errors |
//! | 5 routing | [`routing`] | router, middleware chains, upstream proxy, the live route table |
//! | 6 serve | [`serve`] | service (request id, admission, errors → status), access log, server, per-connection deadlines and the connection cap, TLS |
//! | 7 ops | [`ops`] | admin API, hot reload, `switchyard check`, `build`, `wit`, `new` and `dev` |
//!
//! # A request's life
//!
//! 1. [`serve::server`] accepts the connection (closing it at once past
//!    `max_connections`; the connection task bounds the time to the first
//!    request head, idle time and stalled readers); hyper parses the request.
//! 2. [`Service::handle`] takes the current [`routing::Snapshot`], puts the
//!    path in its canonical form ([`request::path`]; a path without one is
//!    a 400), routes that form, assigns a request id and admits the request
//!    ([`invoke::Admission`]).
//! 3. The route's [`routing::chain::Chain`] runs its first element: on a plain
//!    route, [`invoke::Handler::invoke`] creates a fresh `Store` and
//!    instance ([`guest::RequestState`] on the [`runtime`]'s engine), calls
//!    the guest's `handle` in its own task, and returns as soon as the guest
//!    sets its response. A middleware's requests to `http://next/...` reach
//!    the rest of the chain through [`guest::NextHop`], down to the handler
//!    or the [`routing::upstream`] server.
//! 4. The body streams to the client as the guest writes it
//!    ([`invoke`]'s guarded body); if the guest fails mid-stream the response
//!    is cut short so the client can tell. When it ends,
//!    [`serve::access`] writes the access line and the metrics.

pub(crate) mod body;
pub(crate) mod config;
pub(crate) mod guest;
pub(crate) mod invoke;
pub(crate) mod ops;
pub(crate) mod request;
pub(crate) mod routing;
pub(crate) mod runtime;
pub(crate) mod serve;
pub(crate) mod telemetry;

// What the binary, the benchmarks and the integration tests use.
pub use config::{CacheSettings, Config, ConfigError, MemoryUse, Pattern};
pub use invoke::LoadError;
pub use ops::{admin, build, check, dev, scaffold, wit};
pub use routing::{Registry, Router};
pub use runtime::compile_cache::{COMPAT_HASH_OFFSET, TRAILER_LEN};
pub use runtime::{digest, digest_hex, Host};
pub use serve::{process, serve, tls, ServerOptions, Service};
pub use telemetry::{log_writer, trace};

use std::sync::Arc;

/// Load every route of `config` with `host`: the server's whole start-up
/// work before it binds. Fails on the first route that cannot be served.
pub fn load(host: Arc<Host>, config: &Config) -> Result<Arc<Service>, LoadError> {
    if let Some(warning) = config.memory_warning() {
        tracing::warn!("{warning}");
    }
    let registry = Registry::load(host, config)?;
    Ok(Arc::new(Service::new(Arc::new(registry), &config.server)))
}

/// Start hot reload for a loaded service: watch `config`'s files (when
/// `watch`) and reload on SIGHUP. Reloading stops when the task is aborted;
/// the reloader also reloads on demand (`switchyard dev`).
pub fn watch(
    service: &Service,
    config: &Config,
    watch: bool,
) -> (Arc<ops::reload::Reloader>, tokio::task::JoinHandle<()>) {
    let reloader = Arc::new(ops::reload::Reloader::new(
        service.registry().clone(),
        config.file.clone(),
    ));
    let task = reloader.clone().spawn(config, watch);
    (reloader, task)
}
