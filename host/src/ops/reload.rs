//! Hot reload: watch the config file and every routed `.wasm`, rebuild the
//! snapshot off the request path, and swap it in only when it is good.
//!
//! Tools write files in many ways (truncate-and-write, write a temporary file
//! then rename it over the old one, several events per save), so the
//! watcher ([`watch`]) watches the folders holding the files, and those
//! their symlinks lead to, keeps only events naming a file of interest,
//! and waits for a short quiet spell ([`DEBOUNCE`]) before reloading.
//!
//! A changed config is read only once it is stable: the same size, mtime
//! and file across [`SETTLE`], and parsed twice to the same [`Config`].
//! A config written in pieces (a slow editor, a copy over the network)
//! would otherwise be read half-way: a valid prefix that lacks a route's
//! `middleware = ["auth"]` line opens that route. When the config in force
//! is still what the file says (a component changed), there is nothing to
//! wait for.
//!
//! A reload builds a new snapshot with
//! [`Registry::build`] in `spawn_blocking`: routes whose bytes and settings
//! did not change keep their compiled handler; a broken rebuild of a routed
//! file keeps the last good version of that route; an invalid config, or a
//! new or re-targeted route that cannot be loaded, changes nothing. Each
//! outcome is one log line naming the route, the file and the reason.

mod watch;

use crate::config::{Config, ConfigError};
use crate::routing::{Change, Registry, Strictness};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use watch::FileWatcher;

/// How long the watched files must be quiet before a reload starts.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// How long a changed config file must stay the same (size, mtime, file,
/// parsed content) before it is reloaded.
pub const SETTLE: Duration = Duration::from_millis(500);

/// How many times a reload waits [`SETTLE`] for a config that keeps
/// changing before it gives up (the next change triggers another).
const SETTLE_TRIES: usize = 20;

/// Rebuilds and swaps the registry's snapshot from the config file.
pub struct Reloader {
    registry: Arc<Registry>,
    config_file: PathBuf,
    /// The config in force, once known: a file that still parses to it
    /// needs no settling.
    in_force: Mutex<Option<Config>>,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Load(#[from] crate::invoke::LoadError),
    #[error("reload task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(
        "{} kept changing for {} s; not reloaded until it is still",
        .file.display(),
        (SETTLE * SETTLE_TRIES as u32).as_secs()
    )]
    Unsettled { file: PathBuf },
}

impl Reloader {
    pub fn new(registry: Arc<Registry>, config_file: PathBuf) -> Reloader {
        Reloader {
            registry,
            config_file: watch::absolute(&config_file),
            in_force: Mutex::new(None),
        }
    }

    /// Reload now, as a change to a watched file would (`switchyard dev`
    /// calls it once a build has written its component, without waiting
    /// for the watcher's debounce). Returns what happened to each route
    /// whose component changed.
    pub async fn reload_now(&self) -> Result<Vec<Reloaded>, ReloadError> {
        self.reload(|| {}).await.map(|(_, reloaded)| reloaded)
    }

    /// Re-read the config once it is stable (calling `settled` then) and
    /// install a new snapshot if anything changed. Returns the config that
    /// is now in force.
    async fn reload(&self, settled: impl FnOnce()) -> Result<(Config, Vec<Reloaded>), ReloadError> {
        let outcome = match self.settled().await {
            Ok(config) => {
                settled();
                self.try_reload(config).await
            }
            Err(error) => Err(error),
        };
        match &outcome {
            Ok((config, _)) => *self.lock_in_force() = Some(config.clone()),
            Err(_) => crate::telemetry::reloaded(false),
        }
        outcome
    }

    fn lock_in_force(&self) -> std::sync::MutexGuard<'_, Option<Config>> {
        self.in_force.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The config file's content once it has stopped changing: two looks
    /// [`SETTLE`] apart see the same file, size and mtime, and parse to the
    /// same config (or fail the same way).
    async fn settled(&self) -> Result<Config, ReloadError> {
        for _ in 0..SETTLE_TRIES {
            let (stamp, first) = look(&self.config_file);
            if let Ok(config) = &first {
                if self.lock_in_force().as_ref() == Some(config) {
                    return first.map_err(ReloadError::from);
                }
            }
            tokio::time::sleep(SETTLE).await;
            let (again, second) = look(&self.config_file);
            // A file missing both times is as still as one unchanged.
            if stamp == again {
                match (first, second) {
                    (Ok(a), Ok(b)) if a == b => return Ok(b),
                    (Err(_), Err(error)) => return Err(error.into()),
                    _ => {}
                }
            }
            tracing::debug!(file = %self.config_file.display(), "config still changing, waiting");
        }
        Err(ReloadError::Unsettled {
            file: self.config_file.clone(),
        })
    }

    async fn try_reload(&self, config: Config) -> Result<(Config, Vec<Reloaded>), ReloadError> {
        // One swap at a time (the admin API swaps too).
        let _updating = self.registry.updating().await;
        let started = Instant::now();
        let registry = self.registry.clone();
        let candidate = config.clone();
        let (snapshot, changes) = tokio::task::spawn_blocking(move || {
            let previous = registry.snapshot();
            Registry::build(
                registry.host(),
                registry.stores(),
                &candidate,
                &previous,
                Strictness::KeepLastGood,
            )
        })
        .await??;
        let replaces_anything = changes.iter().any(|c| !matches!(c, Change::Kept { .. }));
        let reorders = {
            let current = self.registry.snapshot();
            current.routes().len() != snapshot.routes().len()
                || current
                    .routes()
                    .iter()
                    .zip(snapshot.routes())
                    .any(|(a, b)| a.config != b.config)
        };
        // A store whose settings changed swaps in with the snapshot even
        // when no route did.
        let stores_changed = !snapshot.same_stores(&self.registry.snapshot());
        if replaces_anything || reorders || stores_changed {
            self.registry.install(snapshot);
            crate::telemetry::reloaded(true);
        }
        if changes.iter().any(|c| matches!(c, Change::Kept { .. })) {
            crate::telemetry::reloaded(false);
        }
        let took = started.elapsed();
        let mut reloaded = Vec::new();
        for change in changes {
            reloaded.extend(Reloaded::of(&change));
            log_change(change, took);
        }
        Ok((config, reloaded))
    }

    /// Reload on every change to a watched file (unless `watch` is false)
    /// and on every SIGHUP, until the returned task is dropped or aborted.
    pub fn spawn(self: Arc<Self>, config: &Config, watch: bool) -> tokio::task::JoinHandle<()> {
        let (events, mut triggers) = mpsc::unbounded_channel::<()>();
        let mut watcher = if watch {
            match FileWatcher::new(events.clone()) {
                Ok(watcher) => Some(watcher),
                Err(error) => {
                    tracing::error!(
                        "cannot watch files, hot reload is off (SIGHUP still reloads): {error}"
                    );
                    None
                }
            }
        } else {
            None
        };
        if let Some(watcher) = watcher.as_mut() {
            watcher.follow(config);
        }
        *self.lock_in_force() = Some(config.clone());
        tokio::spawn(async move {
            // Keep the channel open for the watcher even when it is off.
            let _events = events;
            let mut hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                tokio::select! {
                    Some(()) = triggers.recv() => {
                        // Let a burst of events (one save is often several) settle.
                        while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, triggers.recv()).await {}
                    }
                    Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                        tracing::info!("SIGHUP: reloading");
                    }
                    else => break,
                }
                // Events until the file settled are in what it now says.
                let drain = || while triggers.try_recv().is_ok() {};
                match self.reload(drain).await {
                    Ok((config, _)) => {
                        if let Some(watcher) = watcher.as_mut() {
                            watcher.follow(&config);
                        }
                    }
                    Err(error) => {
                        tracing::error!(
                            "reload failed, still serving the previous version: {error}"
                        );
                        // A swapped symlink may lead somewhere new all the same.
                        if let Some(watcher) = watcher.as_mut() {
                            watcher.refresh();
                        }
                    }
                }
            }
        })
    }
}

/// What a reload did to one route whose component changed.
#[derive(Clone, Debug)]
pub struct Reloaded {
    pub route: String,
    /// The generation it serves now.
    pub generation: u64,
    /// Why the new component did not load (it serves the old one), if so.
    pub error: Option<String>,
}

impl Reloaded {
    fn of(change: &Change) -> Option<Reloaded> {
        match change {
            Change::Added { route, .. } => Some(Reloaded {
                route: route.clone(),
                generation: 1,
                error: None,
            }),
            Change::Replaced { route, to, .. } => Some(Reloaded {
                route: route.clone(),
                generation: *to,
                error: None,
            }),
            Change::Kept {
                route,
                generation,
                error,
            } => Some(Reloaded {
                route: route.clone(),
                generation: *generation,
                error: Some(error.to_string()),
            }),
            Change::Reconfigured { .. } | Change::Removed { .. } => None,
        }
    }
}

fn log_change(change: Change, took: Duration) {
    let ms = took.as_millis() as u64;
    match change {
        Change::Added { route, sha256, .. } => {
            tracing::info!(%route, %sha256, generation = 1, reload_ms = ms, "route added")
        }
        Change::Replaced {
            route,
            from,
            to,
            sha256,
            took: compile,
        } => tracing::info!(
            %route,
            %sha256,
            compile_ms = compile.as_millis() as u64,
            reload_ms = ms,
            "route '{route}' reloaded: generation {from} → {to}"
        ),
        Change::Reconfigured { route } => tracing::info!(%route, "route settings changed"),
        Change::Removed { route } => tracing::info!(%route, "route removed"),
        Change::Kept {
            route,
            generation,
            error,
        } => tracing::error!(
            %route,
            "reload failed, still serving generation {generation}: {error}"
        ),
    }
}

/// What the config file looks like from outside: which file the path leads
/// to (a swapped symlink leads elsewhere), its size and its mtime.
#[derive(PartialEq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

/// The file's stamp (`None` if it cannot be read), then its content parsed.
fn look(file: &Path) -> (Option<Stamp>, Result<Config, ConfigError>) {
    use std::os::unix::fs::MetadataExt as _;
    let stamp = std::fs::metadata(file).ok().map(|m| Stamp {
        device: m.dev(),
        inode: m.ino(),
        len: m.len(),
        modified: m.modified().ok(),
    });
    (stamp, Config::load(file))
}
