//! Every handler in handlers/ is used by an integration test: a handler
//! nobody runs is a handler nobody knows still works.

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
        .filter(|name| !tests.contains(&format!("\"{name}\"")))
        .collect();
    assert!(unused.is_empty(), "handlers no test uses: {unused:?}");
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
