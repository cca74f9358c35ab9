//! wit/deps must be exactly the WASI packages of the wasmtime-wasi-http
//! crate the host links, so host and guests never disagree.

#[test]
fn wit_deps_match_the_linked_wasmtime_wasi_http() {
    let script = crate::common::repo_root().join("wit/sync.sh");
    let output = std::process::Command::new(&script)
        .arg("--check")
        .output()
        .expect("running wit/sync.sh --check");
    assert!(
        output.status.success(),
        "wit/deps has drifted from the linked crate:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn our_world_includes_the_proxy_world_at_the_linked_version() {
    let root = crate::common::repo_root();
    let http = std::fs::read_to_string(root.join("wit/deps/http.wit")).unwrap();
    let version = http
        .lines()
        .find_map(|l| l.strip_prefix("package wasi:http@"))
        .map(|v| v.trim_end_matches(';').to_string())
        .expect("wit/deps/http.wit declares its package");
    let world = std::fs::read_to_string(root.join("wit/world.wit")).unwrap();
    assert!(
        world.contains(&format!("include wasi:http/proxy@{version};")),
        "wit/world.wit must include wasi:http/proxy@{version}"
    );
}

/// Every `.wit` file under `dir`, by path relative to it, with its text.
fn wit_files(dir: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        into: &mut std::collections::BTreeMap<String, String>,
    ) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, into);
            } else if path.extension().is_some_and(|e| e == "wit") {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                into.insert(name, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut files = std::collections::BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

#[test]
fn the_binary_writes_exactly_the_repositorys_wit() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("project/wit");
    let output = crate::common::switchyard(crate::common::run_cache_home())
        .args(["wit", "--out"])
        .arg(&target)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ours = wit_files(&crate::common::repo_root().join("wit"));
    let written = wit_files(&target);
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "the same files"
    );
    assert!(written == ours, "the same text in every file");
    assert_eq!(
        stdout,
        format!("wrote {} WIT files to {}\n", ours.len(), target.display())
    );
    // Where nothing can be written: one error line, exit 1.
    let blocked = out.path().join("file");
    std::fs::write(&blocked, "").unwrap();
    let (code, stderr) = crate::common::run_to_exit(&["wit", "--out", blocked.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.starts_with("error: cannot create "), "{stderr}");
}
