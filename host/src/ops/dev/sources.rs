//! Which target a changed file belongs to: each target's `build.watch`
//! globs, relative to its workdir, and the folders to watch for them (the
//! literal part of each pattern, so a pattern under `src/` never makes the
//! watcher walk `target/` or `node_modules/`).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use notify::RecursiveMode;
use std::path::{Path, PathBuf};

/// One target's sources.
pub struct Sources {
    workdir: PathBuf,
    globs: GlobSet,
}

impl Sources {
    /// `patterns` relative to `workdir`; a bad pattern is an error naming it.
    pub fn new(workdir: &Path, patterns: &[String]) -> Result<Sources, String> {
        let mut globs = GlobSetBuilder::new();
        for pattern in patterns {
            // `*` stays within one folder, `**` crosses them, as in .gitignore.
            let glob = GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("`build.watch` pattern {pattern:?}: {e}"))?;
            globs.add(glob);
        }
        let globs = globs
            .build()
            .map_err(|e| format!("`build.watch` patterns: {e}"))?;
        Ok(Sources {
            workdir: std::path::absolute(workdir).unwrap_or_else(|_| workdir.to_path_buf()),
            globs,
        })
    }

    /// Whether the file at `path` (absolute) is one of these sources: it
    /// matches a pattern, and is not what a build or an editor writes
    /// beside the sources ([`is_byproduct`]), which would otherwise
    /// rebuild forever or on every keystroke.
    pub fn matches(&self, path: &Path) -> bool {
        path.strip_prefix(&self.workdir)
            .is_ok_and(|relative| self.globs.is_match(relative) && !is_byproduct(relative))
    }
}

/// Folders builds fill (cargo, npm, CPython, git) and editors' temporary
/// and backup files (vim's swap files and its `4913` probe, emacs' lock
/// and backup files, editors' `.tmp` saves).
fn is_byproduct(relative: &Path) -> bool {
    let mut components = relative.components().peekable();
    while let Some(component) = components.next() {
        let name = component.as_os_str().to_string_lossy();
        let is_file = components.peek().is_none();
        if !is_file && matches!(&*name, "target" | "node_modules" | "__pycache__" | ".git") {
            return true;
        }
        if is_file
            && (name == "4913"
                || name.starts_with(".#")
                || name.ends_with('~')
                || [".swp", ".swx", ".tmp"].iter().any(|s| name.ends_with(s)))
        {
            return true;
        }
    }
    false
}

/// The folder to watch for `pattern` under `workdir`, and how: the part
/// before the first component with a glob character, recursively when the
/// rest can reach below it; the file's own folder when there is none.
pub fn root(workdir: &Path, pattern: &str) -> (PathBuf, RecursiveMode) {
    let mut dir = workdir.to_path_buf();
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let is_last = i + 1 == parts.len();
        if part.contains(['*', '?', '[', '{']) {
            let deeper = !is_last || part.contains("**");
            let mode = if deeper {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            return (dir, mode);
        }
        if is_last {
            // A plain file name: its folder, not below.
            return (dir, RecursiveMode::NonRecursive);
        }
        dir.push(part);
    }
    (dir, RecursiveMode::Recursive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_is_watched_from_its_literal_folder() {
        let w = Path::new("/p/handlers/hello");
        assert_eq!(
            root(w, "src/**/*.rs"),
            (w.join("src"), RecursiveMode::Recursive)
        );
        assert_eq!(
            root(w, "Cargo.toml"),
            (w.to_path_buf(), RecursiveMode::NonRecursive)
        );
        assert_eq!(
            root(w, "*.py"),
            (w.to_path_buf(), RecursiveMode::NonRecursive)
        );
        assert_eq!(
            root(w, "lib/*/x.c"),
            (w.join("lib"), RecursiveMode::Recursive)
        );
        assert_eq!(root(w, "**/*"), (w.to_path_buf(), RecursiveMode::Recursive));
    }

    #[test]
    fn only_matching_files_under_the_workdir_are_sources() {
        let sources = Sources::new(
            Path::new("/p/h"),
            &["src/**/*.rs".to_string(), "Cargo.toml".to_string()],
        )
        .unwrap();
        assert!(sources.matches(Path::new("/p/h/src/lib.rs")));
        assert!(sources.matches(Path::new("/p/h/src/a/b.rs")));
        assert!(sources.matches(Path::new("/p/h/Cargo.toml")));
        assert!(!sources.matches(Path::new("/p/h/a/Cargo.toml")));
        assert!(!sources.matches(Path::new("/p/h/target/release/x.rs")));
        assert!(!sources.matches(Path::new("/p/h/src/lib.rs.swp")));
        assert!(!sources.matches(Path::new("/p/other/src/lib.rs")));
        let everything = Sources::new(Path::new("/p/h"), &["**/*".to_string()]).unwrap();
        assert!(everything.matches(Path::new("/p/h/app.py")));
        for byproduct in [
            "/p/h/__pycache__/app.cpython-311.pyc",
            "/p/h/node_modules/x/index.js",
            "/p/h/target/debug/x.rs",
            "/p/h/.git/index",
            "/p/h/.app.py.swp",
            "/p/h/4913",
            "/p/h/app.py~",
            "/p/h/.#app.py",
        ] {
            assert!(!everything.matches(Path::new(byproduct)), "{byproduct}");
        }
        assert!(Sources::new(Path::new("/p"), &["src/[".to_string()])
            .err()
            .unwrap()
            .contains("src/["));
    }
}
