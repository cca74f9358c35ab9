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
