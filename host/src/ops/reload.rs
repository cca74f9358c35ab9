//! Hot reload: watch the config file and every routed `.wasm`, rebuild the
//! snapshot off the request path, and swap it in only when it is good.
//!
//! Tools write files in many ways (truncate-and-write, write a temporary file
//! then rename it over the old one, several events per save), so the watcher
//! watches the *folders* holding the files, not the files themselves (a
//! rename would orphan a watch on the old inode), keeps only events naming a
//! watched file, and waits for a short quiet spell before reloading.
//!
//! A reload re-reads the config and builds a new snapshot with
//! [`Registry::build`] in `spawn_blocking`: routes whose bytes and settings
//! did not change keep their compiled handler; a broken rebuild of a routed
//! file keeps the last good version of that route; an invalid config, or a
//! new or re-targeted route that cannot be loaded, changes nothing. Each
//! outcome is one log line naming the route, the file and the reason.

use crate::config::Config;
use crate::routing::{Change, Registry, Strictness};
use notify::{RecursiveMode, Watcher as _};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long the watched files must be quiet before a reload starts.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Rebuilds and swaps the registry's snapshot from the config file.
pub struct Reloader {
    registry: Arc<Registry>,
    config_file: PathBuf,
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
}

impl Reloader {
    pub fn new(registry: Arc<Registry>, config_file: PathBuf) -> Reloader {
        Reloader {
            registry,
            config_file,
        }
    }

    /// Re-read the config and install a new snapshot if anything changed.
    /// Returns the config that is now in force.
    pub async fn reload(&self) -> Result<Config, ReloadError> {
        let outcome = self.try_reload().await;
        if outcome.is_err() {
            crate::telemetry::reloaded(false);
        }
        outcome
    }

    async fn try_reload(&self) -> Result<Config, ReloadError> {
        // One swap at a time (the admin API swaps too).
        let _updating = self.registry.updating().await;
        let started = Instant::now();
        let config = Config::load(&self.config_file)?;
        let registry = self.registry.clone();
        let candidate = config.clone();
        let (snapshot, changes) = tokio::task::spawn_blocking(move || {
            let previous = registry.snapshot();
            Registry::build(
                registry.host(),
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
        if replaces_anything || reorders {
            self.registry.install(snapshot);
            crate::telemetry::reloaded(true);
        }
        if changes.iter().any(|c| matches!(c, Change::Kept { .. })) {
            crate::telemetry::reloaded(false);
        }
        let took = started.elapsed();
        for change in changes {
            log_change(change, took);
        }
        Ok(config)
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
                match self.reload().await {
                    Ok(config) => {
                        if let Some(watcher) = watcher.as_mut() {
                            watcher.follow(&config);
                        }
                    }
                    Err(error) => tracing::error!(
                        "reload failed, still serving the previous version: {error}"
                    ),
                }
            }
        })
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

/// Watches the folders of the config file and the routed components and
/// sends a trigger for every event that names one of those files.
struct FileWatcher {
    watcher: notify::RecommendedWatcher,
    files: Arc<std::sync::RwLock<BTreeSet<PathBuf>>>,
    folders: BTreeSet<PathBuf>,
}

impl FileWatcher {
    fn new(triggers: mpsc::UnboundedSender<()>) -> notify::Result<FileWatcher> {
        let files: Arc<std::sync::RwLock<BTreeSet<PathBuf>>> = Arc::default();
        let watched = files.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let relevant = match &event {
                Ok(event) if event.kind.is_access() => false,
                Ok(event) => {
                    let files = watched.read().unwrap_or_else(|e| e.into_inner());
                    event.paths.iter().any(|p| files.contains(p))
                }
                // Overflow and the like: reload to be safe.
                Err(_) => true,
            };
            if relevant {
                let _ = triggers.send(());
            }
        })?;
        Ok(FileWatcher {
            watcher,
            files,
            folders: BTreeSet::new(),
        })
    }

    /// Watch exactly the files `config` depends on.
    fn follow(&mut self, config: &Config) {
        let files: BTreeSet<PathBuf> = std::iter::once(config.file.clone())
            .chain(
                config
                    .routes
                    .iter()
                    .flat_map(|r| r.files().map(Path::to_path_buf)),
            )
            .map(|p| absolute(&p))
            .collect();
        let folders: BTreeSet<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        for gone in self.folders.difference(&folders) {
            let _ = self.watcher.unwatch(gone);
        }
        for new in folders.difference(&self.folders) {
            if let Err(error) = self.watcher.watch(new, RecursiveMode::NonRecursive) {
                tracing::warn!(folder = %new.display(), "cannot watch folder: {error}");
            }
        }
        *self.files.write().unwrap_or_else(|e| e.into_inner()) = files;
        self.folders = folders;
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
