//! The wasmtime [`Engine`]s and [`Linker`]s handlers share, and the step
//! that turns `.wasm` bytes into a pre-instantiated handler.
//!
//! Compiling is the expensive part of loading a component, so the [`Host`]
//! remembers compiled components by the sha256 of their bytes: loading the
//! same bytes again (a reload that changed nothing, a second server in the
//! same test binary) reuses the compiled code, and across restarts the
//! [`CompileCache`] on disk turns compiling into deserializing.

use super::compile_cache::CompileCache;
use super::digest::Digest;
use super::header::check_component_header;
use crate::config::{CacheSettings, MAX_INSTANCES};
use crate::guest::outbound::address::OwnAddresses;
use crate::guest::RequestState;
use anyhow::Context as _;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;
use wasmtime_wasi_http::handler::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;

/// A pre-instantiated handler of either world: what [`Host::prepare`] gives.
/// (wasmtime-wasi-http's own `handler::ProxyPre` is not `Clone`; a handler
/// that is reconfigured hands its pre-instance to a new pool.)
#[derive(Clone)]
pub enum HandlerPre {
    /// A `wasi:http/proxy@0.2` component.
    P2(wasmtime_wasi_http::p2::bindings::ProxyPre<RequestState>),
    /// A `wasi:http/service@0.3` component.
    P3(ServicePre<RequestState>),
}

impl HandlerPre {
    /// The same pre-instance as `ProxyHandler` takes it.
    pub fn to_proxy_pre(&self) -> ProxyPre<RequestState> {
        match self {
            HandlerPre::P2(pre) => ProxyPre::P2(pre.clone()),
            HandlerPre::P3(pre) => ProxyPre::P3(pre.clone()),
        }
    }

    /// Whether it is a wasi:http 0.3 component.
    pub fn is_p3(&self) -> bool {
        matches!(self, HandlerPre::P3(_))
    }
}

/// How many compiled components the in-memory cache keeps.
const COMPILED_CACHE_ENTRIES: usize = 64;

/// The engines and linkers handlers run on, and their compiled-component
/// caches.
///
/// Two engines, because wasmtime's component-model concurrency support
/// (which wasi:http 0.3 components and `instance_reuse`'s `ProxyHandler`
/// need) is an engine setting that also sends every plain call through the
/// concurrent event loop and sets up its state in every `Store`: a cost the
/// fresh-instance path of a 0.2 component, which never calls concurrently,
/// should not pay. 0.3 components and routes with `instance_reuse` compile
/// on the second engine, created the first time one is loaded; only its
/// linker has WASI 0.3.
pub struct Host {
    fresh: Arc<Runtime>,
    concurrent: Mutex<Option<Arc<Runtime>>>,
    cache: CacheSettings,
    /// The listeners of the servers on this host, which every route's
    /// outbound gate refuses (the server adds them as it binds).
    own: OwnAddresses,
    /// Instances the fresh engine's pool has slots for.
    instances: u32,
    /// `[server] guard_pages`, for the engine made later too.
    guard_pages: bool,
    /// Compiled functions both engines share (`switchyard dev`).
    functions: Option<Arc<dyn wasmtime::CacheStore>>,
}

impl Host {
    /// Build the engine and a linker holding all of WASI 0.2 plus wasi:http.
    ///
    /// Components built from Rust with std, Python or JavaScript import
    /// `wasi:cli/*`, `wasi:filesystem` and `wasi:sockets` beyond the strict
    /// proxy world, so all of WASI is linked; what a guest may actually *do*
    /// with it is decided per request by [`RequestState`] (nothing, unless the
    /// route grants it).
    ///
    /// Compiled components are cached in the default directory
    /// ([`crate::config::default_dir`]).
    pub fn new() -> anyhow::Result<Host> {
        Host::with_cache(&CacheSettings::default())
    }

    /// [`Host::new`] with the compile cache `cache` asks for. A cache
    /// directory that cannot be used is logged and served without.
    pub fn with_cache(cache: &CacheSettings) -> anyhow::Result<Host> {
        Host::with_pool(cache, MAX_INSTANCES, false)
    }

    /// [`Host::with_cache`] with an instance pool of `instances` slots: the
    /// server's `max_concurrent_requests`, which admission counts one per
    /// instance, so the pool never runs out while slots are free, and an
    /// idle server keeps no more pages resident than its slots can dirty.
    /// The `instance_reuse` engine's pool has twice as many (at most
    /// [`MAX_INSTANCES`]): its idle instances live outside admission.
    /// `guard_pages`: see [`super::tuning`].
    pub fn with_pool(
        cache: &CacheSettings,
        instances: u32,
        guard_pages: bool,
    ) -> anyhow::Result<Host> {
        let instances = instances.clamp(1, MAX_INSTANCES);
        let functions = cache
            .incremental
            .then(super::incremental::FunctionCache::shared);
        Ok(Host {
            fresh: Arc::new(Runtime::new(
                cache,
                false,
                instances,
                guard_pages,
                functions.as_ref(),
            )?),
            functions,
            guard_pages,
            concurrent: Mutex::new(None),
            cache: cache.clone(),
            own: OwnAddresses::default(),
            instances,
        })
    }

    /// The addresses guests on this host may never reach: add a listener
    /// with [`OwnAddresses::hold`] for as long as it listens.
    pub fn own_addresses(&self) -> &OwnAddresses {
        &self.own
    }

    /// The engine fresh-instance handlers (every route by default) run on.
    pub fn engine(&self) -> &Engine {
        &self.fresh.engine
    }

    /// Compile `bytes` (or reuse an earlier compilation of the same bytes,
    /// whose digest is `digest`) and pre-instantiate it as a wasi:http
    /// handler: on the fresh-instance engine (a 0.2 `wasi:http/proxy`
    /// component), or on the concurrent one when `concurrent` (a 0.3
    /// component, or a route with `instance_reuse`), which serves either
    /// world.
    ///
    /// Logs whether the component was compiled or loaded from the compile
    /// cache; the caller's span names the route and file.
    ///
    /// CPU-heavy: call it from a blocking context, not on the request path.
    pub fn prepare(
        &self,
        bytes: &[u8],
        digest: Digest,
        concurrent: bool,
    ) -> anyhow::Result<HandlerPre> {
        let runtime = self.runtime(concurrent)?;
        let component = runtime.compile(bytes, digest)?;
        runtime.pre_instantiate(&component)
    }

    /// Compile `bytes` on the fresh-instance engine, or the concurrent one
    /// (see [`Host::prepare`]).
    pub fn compile(
        &self,
        bytes: &[u8],
        digest: Digest,
        concurrent: bool,
    ) -> anyhow::Result<Component> {
        self.runtime(concurrent)?.compile(bytes, digest)
    }

    /// Pre-instantiate a component compiled by [`Host::compile`] with the
    /// same `concurrent`.
    pub fn pre_instantiate(
        &self,
        component: &Component,
        concurrent: bool,
    ) -> anyhow::Result<HandlerPre> {
        self.runtime(concurrent)?.pre_instantiate(component)
    }

    /// The linker of the fresh-instance engine, or the concurrent one's.
    pub(crate) fn linker(&self, concurrent: bool) -> anyhow::Result<Linker<RequestState>> {
        Ok(self.runtime(concurrent)?.linker.clone())
    }

    fn runtime(&self, concurrent: bool) -> anyhow::Result<Arc<Runtime>> {
        if concurrent {
            self.concurrent()
        } else {
            Ok(self.fresh.clone())
        }
    }

    /// The engine for 0.3 components and `instance_reuse` routes, created
    /// on first use.
    fn concurrent(&self) -> anyhow::Result<Arc<Runtime>> {
        let mut concurrent = self.concurrent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(runtime) = &*concurrent {
            return Ok(runtime.clone());
        }
        let instances = (2 * self.instances).min(MAX_INSTANCES);
        let runtime = Arc::new(
            Runtime::new(
                &self.cache,
                true,
                instances,
                self.guard_pages,
                self.functions.as_ref(),
            )
            .context("creating the engine for wasi:http 0.3 and instance_reuse")?,
        );
        *concurrent = Some(runtime.clone());
        Ok(runtime)
    }
}

/// One engine, its linker and its caches.
struct Runtime {
    engine: Engine,
    linker: Linker<RequestState>,
    /// Whether this is the concurrent engine (with WASI 0.3 linked).
    concurrent: bool,
    compiled: Mutex<VecDeque<(Digest, Component)>>,
    disk: Option<CompileCache>,
}

impl Runtime {
    fn new(
        cache: &CacheSettings,
        concurrent: bool,
        instances: u32,
        guard_pages: bool,
        functions: Option<&Arc<dyn wasmtime::CacheStore>>,
    ) -> anyhow::Result<Runtime> {
        let engine = super::tuning::engine(concurrent, instances, guard_pages, functions)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI 0.2")?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking wasi:http")?;
        // Synchronous interfaces: the same functions serve 0.2 and 0.3
        // guests. A guest gets only its route's variables and stores.
        wasmtime_wasi_config::add_to_linker(&mut linker, RequestState::config)
            .map_err(anyhow::Error::from)
            .context("linking wasi:config")?;
        crate::guest::keyvalue::add_to_linker(&mut linker, RequestState::key_value)
            .map_err(anyhow::Error::from)
            .context("linking wasi:keyvalue")?;
        if concurrent {
            // Beside 0.2, never instead: a 0.3 component built with a std
            // toolchain imports 0.2 interfaces too. What the guest may do
            // with them is decided by its store, as for 0.2.
            wasmtime_wasi::p3::add_to_linker(&mut linker)
                .map_err(anyhow::Error::from)
                .context("linking WASI 0.3")?;
            wasmtime_wasi_http::p3::add_to_linker(&mut linker)
                .map_err(anyhow::Error::from)
                .context("linking wasi:http 0.3")?;
        }
        start_epoch_ticker(&engine);
        let disk = CompileCache::open(cache, &engine);
        Ok(Runtime {
            engine,
            linker,
            concurrent,
            compiled: Mutex::new(VecDeque::new()),
            disk,
        })
    }

    /// Compile `bytes` as a component (or reuse an earlier compilation of
    /// the same bytes, whose digest is `digest`).
    fn compile(&self, bytes: &[u8], digest: Digest) -> anyhow::Result<Component> {
        if let Some(component) = self.cached(&digest) {
            return Ok(component);
        }
        let component = self.load_or_compile(bytes, &digest)?;
        self.remember(digest, component.clone());
        Ok(component)
    }

    /// Resolve a compiled component's imports against the linker and find
    /// its handler export: `wasi:http/handler@0.3.0` (on the concurrent
    /// engine, first, as `wasmtime serve` does), else
    /// `wasi:http/incoming-handler@0.2.x`. What serving it needs.
    fn pre_instantiate(&self, component: &Component) -> anyhow::Result<HandlerPre> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .context("this host cannot satisfy the component's imports")?;
        if self.concurrent {
            if let Ok(service) = ServicePre::new(pre.clone()) {
                return Ok(HandlerPre::P3(service));
            }
        }
        let pre = wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre)
            .map_err(anyhow::Error::from)
            .context(
                "the component exports neither wasi:http/handler@0.3.0 nor \
                 wasi:http/incoming-handler@0.2.x (is it built for the wasi:http/service \
                 or wasi:http/proxy world?)",
            )?;
        Ok(HandlerPre::P2(pre))
    }

    /// The compile cache's entry for `digest`, else a fresh compilation
    /// (then written to the cache).
    fn load_or_compile(&self, bytes: &[u8], digest: &Digest) -> anyhow::Result<Component> {
        let started = Instant::now();
        if let Some(disk) = &self.disk {
            match disk.load(&self.engine, digest) {
                Ok(Some(component)) => {
                    tracing::info!(
                        took_ms = started.elapsed().as_millis() as u64,
                        entry = %disk.entry(digest).display(),
                        "loaded from the compile cache"
                    );
                    return Ok(component);
                }
                Ok(None) => {}
                Err(bad) => {
                    let deleting = if disk.writable() {
                        "deleting it and "
                    } else {
                        ""
                    };
                    tracing::warn!(
                        "compile cache entry {} is unusable: {bad}; {deleting}compiling",
                        disk.entry(digest).display()
                    );
                    disk.discard(digest);
                }
            }
        }
        check_component_header(bytes)?;
        let started = Instant::now();
        let component = Component::from_binary(&self.engine, bytes)
            .map_err(anyhow::Error::from)
            .context("not a valid component")?;
        tracing::info!(took_ms = started.elapsed().as_millis() as u64, "compiled");
        if let Some(disk) = self.disk.as_ref().filter(|disk| disk.writable()) {
            if let Err(error) = disk.store(digest, &component) {
                tracing::warn!(
                    "cannot write compile cache entry {}: {error}",
                    disk.entry(digest).display()
                );
            }
        }
        Ok(component)
    }

    fn cached(&self, digest: &Digest) -> Option<Component> {
        let compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        compiled
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, c)| c.clone())
    }

    fn remember(&self, digest: Digest, component: Component) {
        let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if compiled.len() >= COMPILED_CACHE_ENTRIES {
            compiled.pop_front();
        }
        compiled.push_back((digest, component));
    }
}

/// How often the engine's epoch advances: the granularity of deadlines, and
/// how often a running guest yields to the async runtime.
const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// One background thread per engine advances its epoch; it ends when the
/// engine is dropped. (Never one per request: that costs orders of magnitude.)
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("switchyard-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .expect("spawning the epoch ticker thread");
}
