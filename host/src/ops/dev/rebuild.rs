//! One target's rebuild loop under `switchyard dev`: wait for a change to
//! its sources, let the burst settle ([`DEBOUNCE`]), run its build command
//! (restarted, never run twice at once, when its sources change again
//! mid-build), then reload so the new component serves, and say so in
//! one line: `route 'hello': rebuilt in 1.4 s, serving generation 3`. A
//! failed build prints the command's output, named by the target, and the
//! previous version keeps serving.

use super::command::Running;
use crate::ops::build::Target;
use crate::ops::reload::Reloader;
use crate::routing::Registry;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// How long a target's sources must be quiet before its build starts: an
/// editor's save is often several events (write a temporary file, rename,
/// change attributes) within a few milliseconds.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// What a rebuild reports on.
pub struct Rebuild {
    pub target: Target,
    /// The route whose generation tells which version serves (the target's
    /// own, or the first route a middleware runs on).
    pub route: String,
    pub reloader: Arc<Reloader>,
    pub registry: Arc<Registry>,
}

enum Event {
    Exited(std::io::Result<std::process::ExitStatus>),
    Changed,
}

impl Rebuild {
    /// Rebuild on every change sent on `changes`, until it closes.
    pub async fn run(self, mut changes: UnboundedReceiver<()>) {
        'changes: while changes.recv().await.is_some() {
            settle(&mut changes).await;
            loop {
                let started = Instant::now();
                let mut running =
                    match Running::start(&self.target.build.command, &self.target.build.workdir) {
                        Ok(running) => running,
                        Err(error) => {
                            tracing::error!(
                                route = %self.route,
                                "{}: cannot run `{}` in {}: {error}",
                                self.target.label,
                                self.target.build.command,
                                self.target.build.workdir.display()
                            );
                            continue 'changes;
                        }
                    };
                let event = tokio::select! {
                    status = running.exited() => Event::Exited(status),
                    Some(()) = changes.recv() => Event::Changed,
                };
                match event {
                    Event::Changed => {
                        running.stop().await;
                        tracing::info!(
                            route = %self.route,
                            "{}: sources changed during the build, restarting it",
                            self.target.label
                        );
                        settle(&mut changes).await;
                    }
                    Event::Exited(status) => {
                        let output = running.output().await;
                        self.report(status, output, started).await;
                        continue 'changes;
                    }
                }
            }
        }
    }

    async fn report(
        &self,
        status: std::io::Result<std::process::ExitStatus>,
        output: String,
        started: Instant,
    ) {
        let label = &self.target.label;
        let route = &self.route;
        let failure = match status {
            Ok(status) if status.success() => None,
            Ok(status) => Some(match status.code() {
                Some(code) => format!("`{}` exited with {code}", self.target.build.command),
                None => format!("`{}` was killed by a signal", self.target.build.command),
            }),
            Err(error) => Some(format!("`{}`: {error}", self.target.build.command)),
        };
        if let Some(why) = failure {
            let took = started.elapsed().as_secs_f64();
            tracing::error!(
                %route,
                "{label}: build failed after {took:.1} s ({why}), still serving generation {}:\n{}",
                self.generation(),
                output.trim_end()
            );
            return;
        }
        let reloaded = self.reloader.reload_now().await;
        let took = started.elapsed().as_secs_f64();
        match reloaded {
            Err(error) => tracing::error!(
                %route,
                "{label}: rebuilt in {took:.1} s, but the reload failed, still serving generation {}: {error}",
                self.generation()
            ),
            Ok(reloaded) => match reloaded.into_iter().find(|r| &r.route == route) {
                Some(reloaded) => match reloaded.error {
                    None => tracing::info!(
                        %route,
                        generation = reloaded.generation,
                        "{label}: rebuilt in {took:.1} s, serving generation {}",
                        reloaded.generation
                    ),
                    Some(error) => tracing::error!(
                        %route,
                        "{label}: rebuilt in {took:.1} s, but the new component does not load, still serving generation {}: {error}",
                        reloaded.generation
                    ),
                },
                None => tracing::info!(
                    %route,
                    "{label}: rebuilt in {took:.1} s, the component is unchanged, serving generation {}",
                    self.generation()
                ),
            },
        }
    }

    /// The generation its route serves now (0 if it serves none).
    fn generation(&self) -> u64 {
        self.registry
            .snapshot()
            .named(&self.route)
            .map_or(0, |route| route.generation)
    }
}

/// Wait until no change has come for [`DEBOUNCE`].
async fn settle(changes: &mut UnboundedReceiver<()>) {
    while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, changes.recv()).await {}
}
