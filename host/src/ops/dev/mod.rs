//! `switchyard dev`: the developer loop on top of `serve`. Every route's
//! `build.watch` globs are watched ([`sources`]); a change rebuilds only
//! that route's component ([`rebuild`], one build per route at a time,
//! restarted when its sources change mid-build), and the hot reload swaps
//! it in without dropping a request. `spin watch` restarts the whole
//! process instead; here every other route keeps serving throughout.

mod command;
mod rebuild;
mod sources;

use crate::config::Config;
use crate::ops::build::Target;
use crate::ops::reload::Reloader;
use crate::routing::Registry;
use notify::{EventKind, RecursiveMode, Watcher as _};
use rebuild::Rebuild;
use sources::Sources;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The running loop: dropping it stops the watching and every build.
pub struct Dev {
    _watcher: notify::RecommendedWatcher,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Watch the sources of `targets` (from `config`) and rebuild each on change.
pub fn start(
    targets: Vec<Target>,
    config: &Config,
    reloader: Arc<Reloader>,
    registry: Arc<Registry>,
) -> anyhow::Result<Dev> {
    let mut watched: Vec<(Sources, mpsc::UnboundedSender<()>)> = Vec::new();
    let mut roots: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    let mut tasks = Vec::new();
    for target in targets {
        if target.build.watch.is_empty() {
            tracing::warn!(
                "{} has no `build.watch` patterns: `switchyard dev` does not rebuild it",
                target.label
            );
            continue;
        }
        let sources = Sources::new(&target.build.workdir, &target.build.watch)
            .map_err(|e| anyhow::anyhow!("{}: {e}", target.label))?;
        for pattern in &target.build.watch {
            let root = sources::root(&target.build.workdir, pattern);
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        let route = report_route(&target, config);
        let (changes, receiver) = mpsc::unbounded_channel();
        watched.push((sources, changes));
        let rebuild = Rebuild {
            target,
            route,
            reloader: reloader.clone(),
            registry: registry.clone(),
        };
        tasks.push(tokio::spawn(rebuild.run(receiver)));
    }
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        for path in &event.paths {
            for (sources, changes) in &watched {
                if sources.matches(path) {
                    let _ = changes.send(());
                }
            }
        }
    })?;
    for (dir, mode) in &roots {
        if let Err(error) = watcher.watch(dir, *mode) {
            tracing::warn!("cannot watch {} for changes: {error}", dir.display());
        }
    }
    tracing::info!(
        builds = tasks.len(),
        folders = roots.len(),
        "watching the sources of {} builds for changes",
        tasks.len()
    );
    Ok(Dev {
        _watcher: watcher,
        tasks,
    })
}

/// The route whose generation a target's rebuild reports: its own, or the
/// first route a middleware runs on.
fn report_route(target: &Target, config: &Config) -> String {
    if !target.middleware {
        return target.name.clone();
    }
    config
        .routes
        .iter()
        .find(|route| route.middleware.iter().any(|m| m.name == target.name))
        .map_or_else(|| target.name.clone(), |route| route.name.clone())
}
