//! The host's layers, kept true: every file of `host/src` belongs to a
//! layer, and imports point only down the layers (`host/src/lib.rs` has the
//! table). A file that names a module of a higher layer (`crate::serve::…`
//! from `config/`, or `super::super::routing` from below it) fails this
//! test with the file, the line and both layers.
//!
//! The check reads the source as text: `crate::` and `super::` paths
//! outside comments, in `use` lines and inline. The compiler cannot enforce
//! the rule inside one crate, and splitting the host into a crate per layer
//! would cost link time on every build.

use std::path::{Path, PathBuf};

/// Bottom to top; a file may import from its own layer and those before it.
/// A layer is the first segment of a file's path under `src/` (a folder, or
/// a file at the top for the base layer).
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["request", "body", "telemetry"]),
    ("config", &["config"]),
    ("guest", &["guest"]),
    ("runtime", &["runtime"]),
    ("invoke", &["invoke"]),
    ("routing", &["routing"]),
    ("serve", &["serve"]),
    ("ops", &["ops"]),
    // The crate root and the binary tie everything together.
    ("top", &["lib", "main"]),
];

/// The layer index and name a top-level module belongs to.
fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, modules))| modules.contains(&module))
        .map(|(index, (name, _))| (index, *name))
}

/// `config/route.rs` → `["config", "route"]`; `config/mod.rs` → `["config"]`;
/// `lib.rs` → `[]` (the crate root).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

/// The top-level module each `crate::` or `super::` path on `line` reaches,
/// for a file whose module path is `module`.
fn reached(line: &str, module: &[String]) -> Vec<String> {
    let code = match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    };
    let mut reached = Vec::new();
    let bytes = code.as_bytes();
    for (start, _) in code.char_indices() {
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            continue;
        }
        let rest = &code[start..];
        if let Some(path) = rest.strip_prefix("crate::") {
            reached.extend(first_segments(path));
        } else if rest.starts_with("super::") {
            // `super` of `a::b` (a/b.rs) is `a`; of `a` (a/mod.rs) the root.
            let mut base: Vec<String> = module.to_vec();
            base.pop();
            let mut rest = rest;
            while let Some(after) = rest.strip_prefix("super::") {
                rest = after;
                if rest.starts_with("super::") {
                    base.pop();
                }
            }
            match base.first() {
                Some(top) => reached.push(top.clone()),
                None => reached.extend(first_segments(rest)),
            }
        }
    }
    reached
}

/// `routing::Registry` → `routing`; `{config::Config, serve::x}` → both.
fn first_segments(path: &str) -> Vec<String> {
    let path = path.trim_start();
    if let Some(group) = path.strip_prefix('{') {
        let mut depth = 0;
        let mut segments = Vec::new();
        let mut item_start = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = true,
                c if item_start && !c.is_whitespace() => {
                    item_start = false;
                    segments.extend(first_segments(&group[i..]).into_iter().take(1));
                }
                _ => {}
            }
        }
        return segments;
    }
    let end = path
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(path.len());
    match &path[..end] {
        "" | "self" => Vec::new(),
        name => vec![name.to_string()],
    }
}

/// Every `.rs` file under `dir`, relative to it, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// What breaks the layering of the crate whose sources are in `src`: files
/// in no layer, and imports of a higher layer, one line each.
fn violations(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for relative in sources(src) {
        let module = module_path(&relative);
        let top = relative
            .iter()
            .next()
            .map(|first| Path::new(first).with_extension(""))
            .map(|first| first.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shown = Path::new("host/src").join(&relative);
        let Some((layer, layer_name)) = layer_of(&top) else {
            found.push(format!(
                "{}: in no layer; put it under one of the layer folders (host/src/lib.rs has the table)",
                shown.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(src.join(&relative)).unwrap();
        for (number, line) in text.lines().enumerate() {
            for target in reached(line, &module) {
                let Some((target_layer, target_name)) = layer_of(&target) else {
                    continue; // a module this table does not know: reported as its file
                };
                if target_layer > layer {
                    found.push(format!(
                        "{}:{}: the {layer_name} layer imports `{target}` of the {target_name} layer above it: {}",
                        shown.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn host_imports_point_only_down_the_layers() {
    let src = crate::common::repo_root().join("host/src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "{} layering violations in host/src:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_check_finds_upward_imports_and_files_in_no_layer() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    };
    write("lib.rs", "pub(crate) mod config;\nuse crate::ops::admin;\n");
    write(
        "config/mod.rs",
        "//! docs naming crate::serve are fine\nuse crate::request::RequestTag; // and crate::ops here too\nuse crate::{body::text, serve::Service};\n",
    );
    write(
        "config/route.rs",
        "use super::super::routing::Router;\nuse super::Limits;\n",
    );
    write(
        "routing/chain.rs",
        "fn f() { crate::invoke::run(); crate::ops::check(); }\n",
    );
    write("stray.rs", "use crate::config::Config;\n");
    let found = violations(dir.path());
    let expected = [
        "host/src/config/mod.rs:3: the config layer imports `serve` of the serve layer above it",
        "host/src/config/route.rs:1: the config layer imports `routing` of the routing layer above it",
        "host/src/routing/chain.rs:1: the routing layer imports `ops` of the ops layer above it",
        "host/src/stray.rs: in no layer",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (found, expected) in found.iter().zip(expected) {
        assert!(
            found.starts_with(expected),
            "{found}\n  expected: {expected}"
        );
    }
}
