//! The routes being served: an immutable snapshot of {routes, handlers},
//! swapped atomically.
//!
//! A request takes the current [`Snapshot`] once, when it arrives, and keeps
//! it (an `Arc`) until it is done, so a request that started on one version
//! of a handler finishes on it even if a newer snapshot is installed in the
//! meantime.

use crate::config::{Config, RouteConfig};
use crate::engine::Host;
use crate::handler::{Handler, LoadError};
use crate::router::Router;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// One served route.
pub struct Route {
    pub config: RouteConfig,
    pub handler: Arc<Handler>,
    /// Starts at 1 and grows by one each time the route's handler is replaced.
    pub generation: u64,
}

/// Routes and their handlers at one moment.
pub struct Snapshot {
    router: Router<usize>,
    routes: Vec<Route>,
}

impl Snapshot {
    /// Index the given routes.
    pub fn new(routes: Vec<Route>) -> Snapshot {
        let router = Router::new(
            routes
                .iter()
                .enumerate()
                .map(|(i, r)| (r.config.pattern.clone(), i)),
        );
        Snapshot { router, routes }
    }

    /// The route serving `path`, if any.
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.router.route(path).map(|&i| &self.routes[i])
    }

    /// Every route, in config order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

/// The current snapshot, shared by every connection.
pub struct Registry {
    host: Arc<Host>,
    current: ArcSwap<Snapshot>,
}

impl Registry {
    /// Load every route of `config`; the first route that cannot be loaded
    /// fails the whole load (at start-up the server refuses to start).
    pub fn load(host: Arc<Host>, config: &Config) -> Result<Registry, LoadError> {
        let mut routes = Vec::with_capacity(config.routes.len());
        for route in &config.routes {
            let handler = Handler::load(&host, route)?;
            tracing::info!(
                route = %route.name,
                path = %route.pattern,
                file = %route.component.display(),
                sha256 = %crate::engine::digest_hex(&handler.digest),
                load_ms = handler.load_time.as_millis() as u64,
                "route loaded"
            );
            routes.push(Route {
                config: route.clone(),
                handler: Arc::new(handler),
                generation: 1,
            });
        }
        Ok(Registry {
            host,
            current: ArcSwap::from_pointee(Snapshot::new(routes)),
        })
    }

    /// The snapshot to serve a request from.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Install a new snapshot; requests already running keep the old one.
    pub fn install(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }

    /// The engine and linker handlers are loaded with.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }
}
