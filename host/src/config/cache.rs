//! `[cache]`: where and whether compiled components are cached, as the
//! config file, `--cache-dir` and `--no-cache` say. Settings only: the cache
//! itself (`runtime/compile_cache`) is about entries on disk.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The default size bound: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// Where and whether to cache: `[cache]` in the config file, overridden by
/// `--cache-dir` and `--no-cache`. Read once, at start-up.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheSettings {
    /// `enabled`, default true.
    pub enabled: bool,
    /// `dir`; `None` is [`default_dir`].
    pub dir: Option<PathBuf>,
    /// `max_mb`, default 1024.
    pub max_bytes: u64,
    /// Keep compiled functions in memory so a rebuilt component recompiles
    /// only what changed (`switchyard dev` turns it on; no config key).
    pub incremental: bool,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: true,
            dir: None,
            max_bytes: DEFAULT_MAX_BYTES,
            incremental: false,
        }
    }
}

/// `[cache]` as written in the file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    enabled: Option<bool>,
    dir: Option<PathBuf>,
    max_mb: Option<i64>,
}

impl RawCache {
    /// Validate; a relative `dir` is taken relative to `base` (the config
    /// file's folder).
    pub(crate) fn resolve(self, base: &Path) -> Result<CacheSettings, String> {
        if self.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err("`dir` is empty".into());
        }
        Ok(CacheSettings {
            enabled: self.enabled.unwrap_or(true),
            dir: self.dir.map(|dir| base.join(dir)),
            max_bytes: match self.max_mb {
                Some(mb) => super::limits::bounded("max_mb", mb, 1, 1 << 20)? << 20,
                None => DEFAULT_MAX_BYTES,
            },
            incremental: false,
        })
    }
}

/// `$XDG_CACHE_HOME/switchyard/compiled`, else `$HOME/.cache/switchyard/compiled`.
pub fn default_dir() -> Option<PathBuf> {
    let absolute = |name| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|h| h.join(".cache")))?;
    Some(base.join("switchyard").join("compiled"))
}
