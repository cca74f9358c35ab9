//! Embeds in the binary what it writes into a user's project, so a project
//! outside this repository builds against exactly what this host links:
//!
//! - the repository's `wit/` (our worlds and the WASI packages the host
//!   links, as `wit/sync.sh` copies them), for `switchyard wit`;
//! - `host/templates/` (the app and the per-language handler templates) and
//!   the repository files the templates name in their `template.toml`
//!   `[files]` (plus `handlers/tools.sh`, every build script's helpers), for
//!   `switchyard new`: shared with this repository's own builds, never copied.
//!
//! Every list is read from the folders, never written by hand.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("..");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());

    let wit = root.join("wit");
    let mut files = Vec::new();
    collect(
        &wit,
        &wit,
        &|p| p.extension().is_some_and(|e| e == "wit"),
        &mut files,
    );
    write_list(&out.join("wit_files.rs"), &files);

    let templates = manifest.join("templates");
    let mut files = Vec::new();
    collect(&templates, &templates, &|_| true, &mut files);
    write_list(&out.join("template_files.rs"), &files);

    // The repository files templates share with this repository's builds.
    let mut shared = vec!["handlers/tools.sh".to_string()];
    for (relative, absolute) in &files {
        if relative.ends_with("/template.toml") {
            let text = std::fs::read_to_string(absolute).unwrap();
            let table: toml::Table =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", absolute.display()));
            if let Some(toml::Value::Table(extra)) = table.get("files") {
                for source in extra.values() {
                    let source = source.as_str().unwrap_or_else(|| {
                        panic!(
                            "{}: [files] values are repository paths",
                            absolute.display()
                        )
                    });
                    shared.push(source.to_string());
                }
            }
        }
    }
    shared.sort();
    shared.dedup();
    let shared: Vec<(String, PathBuf)> = shared
        .into_iter()
        .map(|relative| {
            let absolute = root.join(&relative);
            let absolute = absolute
                .canonicalize()
                .unwrap_or_else(|e| panic!("{}: {e}", absolute.display()));
            (relative, absolute)
        })
        .collect();
    write_list(&out.join("repository_files.rs"), &shared);
}

/// `&[(relative path, include_str!(absolute path)), ...]` into `dest`, each
/// file a reason to run this script again.
fn write_list(dest: &Path, files: &[(String, PathBuf)]) {
    let mut out = String::from("&[\n");
    for (relative, absolute) in files {
        println!("cargo:rerun-if-changed={}", absolute.display());
        out.push_str(&format!(
            "    ({relative:?}, include_str!({:?})),\n",
            absolute.display().to_string()
        ));
    }
    out.push(']');
    std::fs::write(dest, out).unwrap();
}

/// Every file under `dir` that `keep` accepts, by its path relative to
/// `root` (with `/`), in a stable order.
fn collect(
    root: &Path,
    dir: &Path,
    keep: &dyn Fn(&Path) -> bool,
    files: &mut Vec<(String, PathBuf)>,
) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, keep, files);
        } else if keep(&path) {
            let relative = path.strip_prefix(root).unwrap();
            let relative: Vec<_> = relative.iter().map(|c| c.to_string_lossy()).collect();
            files.push((relative.join("/"), path.canonicalize().unwrap()));
        }
    }
}
