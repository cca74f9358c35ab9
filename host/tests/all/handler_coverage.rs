//! Every handler in handlers/ is used by an integration test: a handler
//! nobody runs is a handler nobody knows still works.
//!
//! "Used" means a test loads it: its name is an argument of one of the
//! helpers that turn a handler name into a served component
//! ([`LOADERS`]), not merely a quoted word somewhere (a JSON key, an
//! assert message).

/// The test helpers that take a handler's name and serve its `.wasm`.
const LOADERS: &[&str] = &[
    "component(",
    "route(",
    "reuse_route(",
    "declare(",
    "chained(",
    "named(",
];

/// Whether some call to a loader in `tests` passes `"name"`.
fn loaded(tests: &str, name: &str) -> bool {
    let quoted = format!("\"{name}\"");
    LOADERS.iter().any(|loader| {
        tests.match_indices(loader).any(|(at, _)| {
            let before = tests[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                return false; // `my_route(` is another function
            }
            let args = &tests[at + loader.len()..];
            let args = &args[..args.find(')').unwrap_or(args.len())];
            args.contains(&quoted)
        })
    })
}

#[test]
fn every_handler_is_used_by_a_test() {
    let root = crate::common::repo_root();
    let tests: String = rust_files(&root.join("host/tests"))
        .into_iter()
        .filter(|p| !p.ends_with("handler_coverage.rs"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut handlers = Vec::new();
    for language in std::fs::read_dir(root.join("handlers")).unwrap() {
        let language = language.unwrap().path();
        if !language.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&language).unwrap() {
            let dir = entry.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            // Handler folders hold a README; toolchain folders do not.
            if dir.is_dir() && dir.join("README.md").exists() && name != "sdk" {
                handlers.push(name);
            }
        }
    }
    assert!(handlers.len() >= 8, "found only {handlers:?}");
    let unused: Vec<_> = handlers
        .iter()
        .filter(|name| !loaded(&tests, name))
        .collect();
    assert!(
        unused.is_empty(),
        "handlers no test loads (through one of {LOADERS:?}): {unused:?}"
    );
}

/// Every `.rs` file under `dir`, at any depth.
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}
