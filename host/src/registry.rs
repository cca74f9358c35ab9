//! The routes being served: an immutable snapshot of {routes, handlers},
//! swapped atomically.
//!
//! A request takes the current [`Snapshot`] once, when it arrives, and keeps
//! it (an `Arc`) until it is done, so a request that started on one version
//! of a handler finishes on it even if a newer snapshot is installed in the
//! meantime. Start-up and every reload build snapshots the same way
//! ([`Registry::build`]): a route whose component bytes and settings did not
//! change keeps its handler as it is; nothing is recompiled for it.

use crate::config::{Config, RouteConfig};
use crate::engine::{digest_hex, Host};
use crate::handler::{Handler, LoadError};
use crate::router::Router;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;

/// One served route.
pub struct Route {
    pub config: RouteConfig,
    pub handler: Arc<Handler>,
    /// Starts at 1 and grows by one each time the route's component changes.
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
    current: ArcSwap<Snapshot>,
    /// Held while a new snapshot is built from the current one and installed
    /// (hot reload, admin API), so two updates never overwrite each other.
    updates: tokio::sync::Mutex<()>,
}

impl Registry {
    /// Load every route of `config`; the first route that cannot be loaded
    /// fails the whole load (at start-up the server refuses to start).
    pub fn load(host: Arc<Host>, config: &Config) -> Result<Registry, LoadError> {
        let empty = Snapshot::new(Vec::new());
        let (snapshot, changes) = Registry::build(&host, config, &empty, Strictness::AllOrNothing)?;
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
        Ok(Registry {
            host,
            current: ArcSwap::from_pointee(snapshot),
            updates: tokio::sync::Mutex::new(()),
        })
    }

    /// Build the snapshot for `config`, reusing what `previous` already has.
    ///
    /// CPU-heavy when components changed: run it off the request path.
    pub fn build(
        host: &Host,
        config: &Config,
        previous: &Snapshot,
        strictness: Strictness,
    ) -> Result<(Snapshot, Vec<Change>), LoadError> {
        let mut routes = Vec::with_capacity(config.routes.len());
        let mut changes = Vec::new();
        for route_config in &config.routes {
            let old = previous.named(&route_config.name);
            let name = route_config.name.clone();
            let loaded = Handler::read(route_config).and_then(|(bytes, digest)| match old {
                Some(old)
                    if old.handler.digest == digest
                        && old.handler.file == route_config.component =>
                {
                    Ok((None, digest, bytes))
                }
                _ => Handler::load(host, route_config, &bytes, digest)
                    .map(|handler| (Some(handler), digest, bytes)),
            });
            let route = match (loaded, old) {
                // Same bytes from the same file: keep the compiled handler.
                (Ok((None, _, _)), Some(old)) => {
                    let handler = if old.handler.matches(route_config) {
                        old.handler.clone()
                    } else {
                        changes.push(Change::Reconfigured { route: name });
                        Arc::new(old.handler.reconfigure(route_config)?)
                    };
                    Route {
                        config: route_config.clone(),
                        handler,
                        generation: old.generation,
                    }
                }
                (Ok((Some(mut handler), digest, _)), old) => {
                    if let Some(old) = old {
                        handler.inherit_slots(&old.handler);
                    }
                    let (sha256, took) = (digest_hex(&digest), handler.load_time);
                    let generation = match old {
                        Some(old) => {
                            changes.push(Change::Replaced {
                                route: name,
                                from: old.generation,
                                to: old.generation + 1,
                                sha256,
                                took,
                            });
                            old.generation + 1
                        }
                        None => {
                            changes.push(Change::Added {
                                route: name,
                                sha256,
                                took,
                            });
                            1
                        }
                    };
                    Route {
                        config: route_config.clone(),
                        handler: Arc::new(handler),
                        generation,
                    }
                }
                (Err(error), Some(old))
                    if strictness == Strictness::KeepLastGood
                        && old.handler.file == route_config.component =>
                {
                    let handler = Arc::new(old.handler.reconfigure(route_config)?);
                    changes.push(Change::Kept {
                        route: name,
                        generation: old.generation,
                        error,
                    });
                    Route {
                        config: route_config.clone(),
                        handler,
                        generation: old.generation,
                    }
                }
                (Err(error), _) => return Err(error),
                (Ok((None, _, _)), None) => unreachable!("no previous handler to reuse"),
            };
            routes.push(route);
        }
        for old in previous.routes() {
            if config.routes.iter().all(|r| r.name != old.config.name) {
                changes.push(Change::Removed {
                    route: old.config.name.clone(),
                });
            }
        }
        Ok((Snapshot::new(routes), changes))
    }

    /// The snapshot to serve a request from.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Install a new snapshot; requests already running keep the old one.
    pub fn install(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }

    /// Wait for the right to build and install the next snapshot.
    pub async fn updating(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.updates.lock().await
    }

    /// The engine and linker handlers are loaded with.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }
}
