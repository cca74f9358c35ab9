//! `switchyard wit`: the interface handlers are built against, written out
//! from the binary itself, so a project outside this repository builds
//! against exactly what this host links (our worlds and the WASI packages of
//! the crates it links, as in the repository's `wit/`).

use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Every WIT file, by its path under `wit/`, and its text (see `build.rs`).
pub const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/wit_files.rs"));

/// Write every file under `dir`, replacing files of the same names and
/// nothing else; returns the paths written.
pub fn write(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::with_capacity(FILES.len());
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
