//! The routes being served: an immutable snapshot of {routes, handlers},
//! swapped atomically.
//!
//! A request takes the current [`Snapshot`] once, when it arrives, and keeps
//! it (an `Arc`) until it is done, so a request that started on one version
//! of a handler finishes on it even if a newer snapshot is installed in the
//! meantime. Start-up and every reload build snapshots the same way
//! ([`Registry::build`]): a route whose component bytes and settings did not
//! change keeps its handler as it is; nothing is recompiled for it. A route
//! with middleware is a chain of such handlers, each reused or reloaded on
//! its own, so a rebuilt middleware swaps in like a rebuilt handler.

use super::chain::{Chain, Element};
use super::router::Router;
use super::upstream::Upstream;
use crate::config::{Config, RouteConfig};
use crate::guest::keyvalue::{Store, StoreMap, Stores};
use crate::invoke::{Handler, LoadError};
use crate::runtime::{digest_hex, Host};
use arc_swap::ArcSwap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One served route.
pub struct Route {
    pub config: RouteConfig,
    /// Its middleware and its own component or upstream, loaded.
    pub chain: Chain,
    /// Starts at 1 and grows by one each time one of the route's components
    /// changes.
    pub generation: u64,
}

/// Routes and their handlers at one moment.
pub struct Snapshot {
    router: Router<usize>,
    routes: Vec<Route>,
    /// The key-value stores its routes open, installed with it.
    stores: StoreMap,
}

impl Snapshot {
    /// Index the given routes.
    pub fn new(routes: Vec<Route>, stores: StoreMap) -> Snapshot {
        let router = Router::new(
            routes
                .iter()
                .enumerate()
                .map(|(i, r)| (r.config.pattern.clone(), i)),
        );
        Snapshot {
            router,
            routes,
            stores,
        }
    }

    /// The route serving `path`, if any.
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.router.route(path).map(|&i| &self.routes[i])
    }

    /// Every route, in config order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The key-value stores it serves with.
    pub fn stores(&self) -> &StoreMap {
        &self.stores
    }

    /// Whether `other` serves with the very same stores (same settings,
    /// same connections).
    pub fn same_stores(&self, other: &Snapshot) -> bool {
        let same = |a: &Option<Arc<Store>>, b: &Option<Arc<Store>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        self.stores.len() == other.stores.len()
            && self
                .stores
                .iter()
                .zip(&other.stores)
                .all(|((na, a), (nb, b))| na == nb && same(a, b))
    }

    /// The route with this name, if any.
    pub fn named(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.config.name == name)
    }
}

/// What happened to one route while building a snapshot.
#[derive(Debug)]
pub enum Change {
    /// A new route, at generation 1.
    Added {
        route: String,
        sha256: String,
        took: Duration,
    },
    /// A route whose component changed: old → new generation.
    Replaced {
        route: String,
        from: u64,
        to: u64,
        sha256: String,
        took: Duration,
    },
    /// A route whose settings changed but whose component did not.
    Reconfigured { route: String },
    /// A route no longer in the config.
    Removed { route: String },
    /// A route whose new component failed to load: it keeps serving the old.
    Kept {
        route: String,
        generation: u64,
        error: LoadError,
    },
}

/// How strictly to treat a route that cannot be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// Any failure fails the whole build (start-up).
    AllOrNothing,
    /// A route that already serves the same file keeps its last good handler
    /// when the file's new contents fail to load (a broken rebuild); any other
    /// failure (a new or re-targeted route) fails the whole build.
    KeepLastGood,
}

/// The current snapshot, shared by every connection.
pub struct Registry {
    host: Arc<Host>,
    /// The wasi:keyvalue stores the routes' grants draw from, installed
    /// with each snapshot.
    stores: Arc<Stores>,
    current: ArcSwap<Snapshot>,
    /// Held while a new snapshot is built from the current one and installed
    /// (hot reload, admin API), so two updates never overwrite each other.
    updates: tokio::sync::Mutex<()>,
}

impl Registry {
    /// Load every route of `config`; the first route that cannot be loaded
    /// fails the whole load (at start-up the server refuses to start).
    pub fn load(host: Arc<Host>, config: &Config) -> Result<Registry, LoadError> {
        let empty = Snapshot::new(Vec::new(), StoreMap::new());
        let stores = Arc::new(Stores::default());
        let (snapshot, changes) =
            Registry::build(&host, &stores, config, &empty, Strictness::AllOrNothing)?;
        for change in &changes {
            if let Change::Added {
                route,
                sha256,
                took,
            } = change
            {
                tracing::info!(%route, %sha256, load_ms = took.as_millis() as u64, "route loaded");
            }
        }
        stores.install(snapshot.stores.clone());
        Ok(Registry {
            host,
            stores,
            current: ArcSwap::from_pointee(snapshot),
            updates: tokio::sync::Mutex::new(()),
        })
    }

    /// Build the snapshot for `config`, reusing what `previous` already has.
    ///
    /// CPU-heavy when components changed: run it off the request path.
    pub fn build(
        host: &Host,
        stores: &Arc<Stores>,
        config: &Config,
        previous: &Snapshot,
        strictness: Strictness,
    ) -> Result<(Snapshot, Vec<Change>), LoadError> {
        // The stores some route or middleware is granted are opened now, so
        // one that cannot be fails the build before anything is swapped.
        let granted: Vec<&str> = config
            .routes
            .iter()
            .flat_map(|r| {
                let middleware = r.middleware.iter().flat_map(|m| &m.key_value_stores);
                r.key_value_stores.iter().chain(middleware)
            })
            .map(String::as_str)
            .collect();
        let opened = stores.prepare(&config.key_value_stores, &granted)?;
        let mut routes = Vec::with_capacity(config.routes.len());
        let mut changes = Vec::new();
        for route_config in &config.routes {
            let old = previous.named(&route_config.name);
            let name = route_config.name.clone();
            // Each component of the route's chain loads like a route of its
            // own: its middleware (with their env), then its own component.
            let components: Vec<RouteConfig> = route_config
                .middleware
                .iter()
                .map(|m| route_config.for_middleware(m))
                .chain(
                    route_config
                        .upstream
                        .is_none()
                        .then(|| route_config.clone()),
                )
                .collect();
            let mut elements = Vec::with_capacity(components.len() + 1);
            let (mut loaded, mut took, mut reconfigured) = (Vec::new(), Duration::ZERO, false);
            for (position, component) in components.iter().enumerate() {
                let previous = old.and_then(|old| old_handler(old, position, &component.component));
                let (handler, outcome) =
                    load_handler(host, stores, component, previous, strictness)?;
                match outcome {
                    Outcome::Reused => {}
                    Outcome::Reconfigured => reconfigured = true,
                    Outcome::Loaded => {
                        loaded.push(digest_hex(&handler.digest));
                        took += handler.load_time;
                    }
                    Outcome::Kept(error) => changes.push(Change::Kept {
                        route: name.clone(),
                        generation: old.map_or(0, |old| old.generation),
                        error,
                    }),
                }
                elements.push(Element::Component(handler));
            }
            if route_config.upstream.is_some() {
                let reusable = old
                    .and_then(|old| old.chain.upstream())
                    .filter(|upstream| upstream.matches(route_config));
                let upstream = match reusable {
                    Some(upstream) => upstream.clone(),
                    None => {
                        reconfigured = true;
                        Arc::new(Upstream::new(route_config))
                    }
                };
                elements.push(Element::Upstream(upstream));
            }
            let sha256 = loaded.join("+");
            let generation = match old {
                None => {
                    changes.push(Change::Added {
                        route: name,
                        sha256,
                        took,
                    });
                    1
                }
                Some(old) if !loaded.is_empty() => {
                    changes.push(Change::Replaced {
                        route: name,
                        from: old.generation,
                        to: old.generation + 1,
                        sha256,
                        took,
                    });
                    old.generation + 1
                }
                Some(old) => {
                    let rechained = old.config.middleware != route_config.middleware
                        || old.config.upstream != route_config.upstream;
                    if reconfigured || rechained {
                        changes.push(Change::Reconfigured { route: name });
                    }
                    old.generation
                }
            };
            routes.push(Route {
                config: route_config.clone(),
                chain: Chain::new(elements),
                generation,
            });
        }
        for old in previous.routes() {
            if config.routes.iter().all(|r| r.name != old.config.name) {
                changes.push(Change::Removed {
                    route: old.config.name.clone(),
                });
            }
        }
        Ok((Snapshot::new(routes, opened), changes))
    }

    /// The snapshot to serve a request from.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Install a new snapshot, and the stores it opens; requests already
    /// running keep the old snapshot and the buckets they opened.
    pub fn install(&self, snapshot: Snapshot) {
        self.stores.install(snapshot.stores.clone());
        self.current.store(Arc::new(snapshot));
    }

    /// Wait for the right to build and install the next snapshot.
    pub async fn updating(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.updates.lock().await
    }

    /// The wasi:keyvalue stores routes open.
    pub fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }

    /// The engine and linker handlers are loaded with.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }
}

/// What became of one component of a route while building a snapshot.
enum Outcome {
    /// The same bytes and settings: the very same handler.
    Reused,
    /// The same bytes under new settings: no recompilation.
    Reconfigured,
    /// New bytes, compiled.
    Loaded,
    /// New bytes that failed to load: the last good handler stays.
    Kept(LoadError),
}

/// The handler of `old`'s chain to compare a component with: the one at the
/// same position if it runs the same file, else the first that does.
fn old_handler<'a>(old: &'a Route, position: usize, file: &Path) -> Option<&'a Arc<Handler>> {
    let handlers: Vec<&Arc<Handler>> = old.chain.handlers().collect();
    handlers
        .get(position)
        .filter(|h| h.file == file)
        .or_else(|| handlers.iter().find(|h| h.file == file))
        .copied()
}

/// Load one component, reusing `old` (the handler that ran the same file)
/// when its bytes did not change.
fn load_handler(
    host: &Host,
    stores: &Arc<Stores>,
    config: &RouteConfig,
    old: Option<&Arc<Handler>>,
    strictness: Strictness,
) -> Result<(Arc<Handler>, Outcome), LoadError> {
    let loaded = Handler::read(config).and_then(|(bytes, digest)| match old {
        // Same bytes from the same file: keep the compiled handler.
        // (Turning instance_reuse of a 0.2 component on or off moves it to
        // the other engine.)
        Some(old)
            if old.digest == digest && old.file == config.component && old.engine_fits(config) =>
        {
            Ok(None)
        }
        _ => {
            // Names the route and file in what loading logs (the compile
            // cache's lines). Error level: shown at any filter.
            let _span = tracing::error_span!(
                "load",
                route = %config.name,
                component = %config.component.display()
            )
            .entered();
            Handler::load(host, stores, config, &bytes, digest).map(Some)
        }
    });
    match (loaded, old) {
        (Ok(None), Some(old)) if old.matches(config) => Ok((old.clone(), Outcome::Reused)),
        (Ok(None), Some(old)) => Ok((Arc::new(old.reconfigure(config)?), Outcome::Reconfigured)),
        (Ok(Some(mut handler)), old) => {
            if let Some(old) = old {
                handler.inherit_slots(old);
            }
            Ok((Arc::new(handler), Outcome::Loaded))
        }
        (Err(error), Some(old))
            if strictness == Strictness::KeepLastGood && old.file == config.component =>
        {
            // Its compiled code belongs to one engine: under a flipped
            // instance_reuse the last good handler stays exactly as it was.
            let kept = if old.engine_fits(config) {
                Arc::new(old.reconfigure(config)?)
            } else {
                old.clone()
            };
            Ok((kept, Outcome::Kept(error)))
        }
        (Err(error), _) => Err(error),
        (Ok(None), None) => unreachable!("no previous handler to reuse"),
    }
}
