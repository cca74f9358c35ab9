//! Which folders to watch for a config, and which of their events matter,
//! with symlinks followed to the files they lead to.
//!
//! The watcher watches the *folders* holding the files, not the files (a
//! rename would orphan a watch on the old inode), and keeps only events
//! naming a file of interest. A symlinked file is of interest three times
//! over: its own name (replacing the link), every symlink met on the way to
//! its target (a Kubernetes ConfigMap mounts `config.toml ->
//! ..data/config.toml` with `..data -> ..2026_xx`, and kubelet swaps
//! `..data` atomically), and the target itself (edited in place). Each is
//! recorded as its folder's real path joined with its name, the way the
//! watcher reports events; the set is worked out again after every
//! reload, since a swap moves the target.

use crate::config::Config;
use notify::{RecursiveMode, Watcher as _};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

/// How many symlinks one path may pass through (Linux's own limit).
const MAX_LINKS: usize = 40;

/// Watches the folders of the config file, the routed components and
/// whatever their symlinks lead to, and sends a trigger for every event
/// that names one of them.
pub(super) struct FileWatcher {
    watcher: notify::RecommendedWatcher,
    /// The paths whose events trigger a reload (see the module doc).
    relevant: Arc<RwLock<BTreeSet<PathBuf>>>,
    folders: BTreeSet<PathBuf>,
    /// The files the config in force depends on, as it names them.
    files: BTreeSet<PathBuf>,
}

impl FileWatcher {
    pub(super) fn new(triggers: mpsc::UnboundedSender<()>) -> notify::Result<FileWatcher> {
        let relevant: Arc<RwLock<BTreeSet<PathBuf>>> = Arc::default();
        let watched = relevant.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let relevant = match &event {
                Ok(event) if event.kind.is_access() => false,
                Ok(event) => {
                    let relevant = watched.read().unwrap_or_else(|e| e.into_inner());
                    event.paths.iter().any(|p| relevant.contains(p))
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
            relevant,
            folders: BTreeSet::new(),
            files: BTreeSet::new(),
        })
    }

    /// Watch exactly the files `config` depends on.
    pub(super) fn follow(&mut self, config: &Config) {
        self.files = std::iter::once(config.file.clone())
            .chain(
                config
                    .routes
                    .iter()
                    .flat_map(|r| r.files().map(Path::to_path_buf)),
            )
            .map(|p| absolute(&p))
            .collect();
        self.refresh();
    }

    /// Resolve the files' symlinks again and watch where they lead now.
    pub(super) fn refresh(&mut self) {
        let relevant: BTreeSet<PathBuf> = self.files.iter().flat_map(|f| chain(f)).collect();
        let folders: BTreeSet<PathBuf> = relevant
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
        *self.relevant.write().unwrap_or_else(|e| e.into_inner()) = relevant;
        self.folders = folders;
    }
}

pub(super) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `file`, every symlink met on the way from it to the file it leads to,
/// and that file, each as [`in_real_folder`] spells it. A dangling or
/// unreadable link ends the chain where it is.
fn chain(file: &Path) -> Vec<PathBuf> {
    let mut chain = Vec::new();
    let mut current = file.to_path_buf();
    for _ in 0..MAX_LINKS {
        chain.push(in_real_folder(&current));
        let Some((link, rest)) = first_link(&current) else {
            break;
        };
        chain.push(in_real_folder(&link));
        let Ok(target) = std::fs::read_link(&link) else {
            break;
        };
        // A relative target is relative to the link's folder; an absolute
        // one replaces it (that is what `join` does).
        let mut next = link.parent().unwrap_or(Path::new("/")).join(target);
        if !rest.as_os_str().is_empty() {
            next.push(rest);
        }
        current = next;
    }
    chain
}

/// The first component of `path` that is a symlink, and the rest of the
/// path after it.
fn first_link(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut prefix = PathBuf::new();
    let mut components = path.components();
    while let Some(component) = components.next() {
        prefix.push(component);
        if matches!(component, Component::Normal(_))
            && std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink())
        {
            return Some((prefix, components.as_path().to_path_buf()));
        }
    }
    None
}

/// `path` with its folder's symlinks resolved and its own name kept: the
/// path the watcher of that (real) folder reports for an event on it.
fn in_real_folder(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(folder), Some(name)) => std::fs::canonicalize(folder)
            .unwrap_or_else(|_| folder.to_path_buf())
            .join(name),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_plain_file_is_its_own_chain() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(real.join("a.toml"), "").unwrap();
        assert_eq!(chain(&real.join("a.toml")), [real.join("a.toml")]);
    }

    #[test]
    fn a_configmap_mount_names_the_link_the_data_link_and_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(real.join("..2026_01")).unwrap();
        std::fs::write(real.join("..2026_01/config.toml"), "").unwrap();
        symlink("..2026_01", real.join("..data")).unwrap();
        symlink("..data/config.toml", real.join("config.toml")).unwrap();
        let chain: BTreeSet<PathBuf> = chain(&real.join("config.toml")).into_iter().collect();
        let expected: BTreeSet<PathBuf> = [
            real.join("config.toml"),
            real.join("..data"),
            real.join("..2026_01/config.toml"),
        ]
        .into_iter()
        .collect();
        assert_eq!(chain, expected);
    }

    #[test]
    fn an_absolute_link_to_another_folder_names_both_folders() {
        let (here, there) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (here, there) = (
            std::fs::canonicalize(here.path()).unwrap(),
            std::fs::canonicalize(there.path()).unwrap(),
        );
        std::fs::write(there.join("real.toml"), "").unwrap();
        symlink(there.join("real.toml"), here.join("link.toml")).unwrap();
        let chain: BTreeSet<PathBuf> = chain(&here.join("link.toml")).into_iter().collect();
        assert!(chain.contains(&here.join("link.toml")), "{chain:?}");
        assert!(chain.contains(&there.join("real.toml")), "{chain:?}");
    }

    #[test]
    fn a_symlink_loop_ends() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        symlink("b", real.join("a")).unwrap();
        symlink("a", real.join("b")).unwrap();
        let chain = chain(&real.join("a"));
        assert!(chain.len() <= 2 * MAX_LINKS, "{}", chain.len());
    }
}
