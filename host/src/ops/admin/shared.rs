//! Which routes share a component file, so an admin upload to one of them
//! is refused instead of silently swapping the others too.

use super::{text, Reply};
use crate::routing::Snapshot;
use http::StatusCode;
use std::path::Path;

/// A 409 when route `name`'s component file is also run by other routes
/// (as their component or a middleware): rewriting it would swap them too,
/// and the next reload or restart would load the new bytes there.
pub(super) fn shared(snapshot: &Snapshot, name: &str) -> Option<Reply> {
    let own = &snapshot.named(name)?.config;
    if own.upstream.is_some() {
        return None;
    }
    let file = &own.component;
    let mut others: Vec<String> = snapshot
        .routes()
        .iter()
        .filter(|route| match route.config.name == name {
            // Its own middleware counts; its own component does not.
            true => (route.config.middleware.iter()).any(|m| same_file(&m.component, file)),
            false => route.config.files().any(|other| same_file(other, file)),
        })
        .map(|route| format!("'{}'", route.config.name))
        .collect();
    if others.is_empty() {
        return None;
    }
    others.sort();
    tracing::warn!(route = %name, file = %file.display(), "admin upload refused: the file is shared");
    Some(text(
        StatusCode::CONFLICT,
        format!(
            "conflict: {} is also run by route(s) {}; an upload would change them too. \
             Give route '{name}' a file of its own in the config first\n",
            file.display(),
            others.join(", ")
        ),
    ))
}

/// Whether two paths name the same file (a hard link, or a symlink to it).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    if a == b {
        return true;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}
