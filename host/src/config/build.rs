//! `[route.build]` and `[middleware.build]`: how a component is built, as
//! `spin.toml`'s `[component.NAME.build]` says it, so `switchyard build`
//! (and the developer loop on top of it) can rebuild it.
//!
//! ```toml
//! [[route]]
//! path = "/hello"
//! component = "build/handlers/hello.wasm"
//! [route.build]
//! command = "./build-handlers.sh hello"   # run with sh -c
//! workdir = "."                           # optional, relative to this file
//! watch = ["handlers/rust/hello/src/**/*.rs"]   # optional: the sources
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// How one component is built, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildConfig {
    /// A shell command (`sh -c`).
    pub command: String,
    /// Where it runs: `workdir` resolved against the config file's folder.
    pub workdir: PathBuf,
    /// Glob patterns of its sources, relative to `workdir`.
    pub watch: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBuild {
    command: String,
    workdir: Option<PathBuf>,
    #[serde(default)]
    watch: Vec<String>,
}

impl RawBuild {
    pub(super) fn resolve(self, base: &Path) -> Result<BuildConfig, String> {
        if self.command.trim().is_empty() {
            return Err("`build.command` is empty".into());
        }
        if let Some(pattern) = self.watch.iter().find(|p| p.trim().is_empty()) {
            return Err(format!("`build.watch` has an empty pattern ({pattern:?})"));
        }
        Ok(BuildConfig {
            command: self.command,
            workdir: match self.workdir {
                Some(dir) => base.join(dir),
                None => base.to_path_buf(),
            },
            watch: self.watch,
        })
    }
}
