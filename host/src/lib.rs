//! Switchyard: serve HTTP from WebAssembly components.
//!
//! A handler is any component that implements the `wasi:http/proxy` world.
//! Switchyard compiles each routed component once, pre-instantiates it, and
//! runs every request in a fresh, isolated instance, streaming the response
//! back as the guest writes it.
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`config`] | `switchyard.toml` into one validated [`Config`] |
//! | [`limits`] | per-route and server-wide budgets, with their defaults |
//! | [`router`] | pure path → route matching |
//! | [`engine`] | the wasmtime engine and linker; bytes → pre-instantiated handler |
//! | [`tuning`] | the engine's settings (allocator, epochs), tuned against the benchmark |
//! | [`compile_cache`] | compiled components on disk, so a restart deserializes instead of compiling |
//! | [`state`] | per-request store data: what a guest may see and do |
//! | [`guest_log`] | guest stdout/stderr into the log, tagged with route and request id |
//! | [`outbound`] | outbound HTTP policy for guests |
//! | [`handler`] | a loaded handler and how one request runs on it |
//! | [`chain`] | middleware in front of a handler or upstream, `next` dispatched in-process |
//! | [`upstream`] | the streaming reverse proxy a chain may end in, over pooled keep-alive connections |
//! | [`reuse`] | opt-in instance reuse per route (`instance_reuse`), on wasmtime-wasi-http's `ProxyHandler` |
//! | [`body`] | response bodies, cut short when a guest fails mid-stream or an upstream stalls |
//! | [`request_body`] | request bodies, capped at the route's limit while streaming |
//! | [`registry`] | the current snapshot of routes and handlers, swapped atomically |
//! | [`reload`] | watch files, rebuild off the request path, swap on success |
//! | [`service`] | one request: route, request id, invoke, errors → status |
//! | [`access`] | the access log line and request metrics, when the body ends |
//! | [`telemetry`] | Prometheus metric names, the recorder, small helpers |
//! | [`admin`] | the admin listener: metrics, health, the token-guarded route API |
//! | [`error`] | the error a request can end in, mapped to a status in one place |
//! | [`check`] | `switchyard check`: can this host serve a `.wasm` file, and if not, why |
//! | [`server`] | accept loop, HTTP/1.1 + h2 (cleartext or TLS), graceful shutdown |
//! | [`tls`] | PEM certificate and key into a TLS acceptor (ALPN h2, http/1.1) |
//!
//! # A request's life
//!
//! 1. [`server`] accepts the connection; hyper parses the request.
//! 2. [`service::Service::handle`] takes the current [`registry::Snapshot`],
//!    routes the path and assigns a request id.
//! 3. [`handler::Handler::invoke`] creates a fresh `Store` and instance,
//!    calls the guest's `handle` in its own task, and returns as soon as the
//!    guest sets its response.
//!    On a route with middleware ([`chain`]) the first element runs this
//!    way, and each middleware's requests to `http://next/...` run the next
//!    element in-process, down to the handler or the [`upstream`] server.
//! 4. The body streams to the client as the guest writes it
//!    ([`body::GuardedBody`]); if the guest fails mid-stream the response is
//!    cut short so the client can tell.

pub mod access;
pub mod admin;
pub mod body;
pub mod chain;
pub mod check;
pub mod compile_cache;
pub mod config;
pub mod engine;
pub mod error;
pub mod guest_log;
pub mod handler;
pub mod limits;
pub mod outbound;
pub mod registry;
pub mod reload;
pub mod request_body;
pub mod reuse;
pub mod router;
pub mod server;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod tuning;
pub mod upstream;

pub use config::Config;
pub use engine::Host;
pub use registry::Registry;
pub use server::{serve, ServerOptions};
pub use service::Service;

use std::sync::Arc;

/// Load every route of `config` with `host`: the server's whole start-up
/// work before it binds. Fails on the first route that cannot be served.
pub fn load(host: Arc<Host>, config: &Config) -> Result<Arc<Service>, handler::LoadError> {
    let registry = Registry::load(host, config)?;
    Ok(Arc::new(Service::new(Arc::new(registry), &config.server)))
}

/// Start hot reload for a loaded service: watch `config`'s files (when
/// `watch`) and reload on SIGHUP. Reloading stops when the task is aborted.
pub fn watch(service: &Service, config: &Config, watch: bool) -> tokio::task::JoinHandle<()> {
    let reloader = reload::Reloader::new(service.registry().clone(), config.file.clone());
    Arc::new(reloader).spawn(config, watch)
}
