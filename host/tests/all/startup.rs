//! Start-up errors: the server refuses to start, exits non-zero and prints
//! one clear line naming the route, the file and the reason, and never says
//! it listens. And a clean start prints the stable `listening on` line.

use crate::common::*;
use std::path::Path;
use std::process::Stdio;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// Run `serve` on a config and expect a start-up failure before the server
/// listens: exit 1, no `listening on` on stdout, and exactly one `error:`
/// line on stderr, containing every needle.
fn refuses(config: &Path, needles: &[&str]) {
    let cache_home = tempfile::tempdir().unwrap();
    let output = switchyard(cache_home.path())
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "none"])
        .stdin(Stdio::null())
        .output()
        .expect("running switchyard");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        !stdout.contains("listening on"),
        "it said it listens before refusing: {stdout}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line in: {stderr}");
    for needle in needles {
        assert!(
            errors[0].contains(needle),
            "{needle:?} not in {:?}",
            errors[0]
        );
    }
}

fn config_for(dir: &Path, file: &str) -> std::path::PathBuf {
    let config = dir.join("switchyard.toml");
    std::fs::write(
        &config,
        format!("[[route]]\npath = \"/x\"\nname = \"x\"\ncomponent = \"{file}\"\n"),
    )
    .unwrap();
    config
}

#[test]
fn missing_config_file() {
    refuses(
        Path::new("/nonexistent/switchyard.toml"),
        &["cannot read config file /nonexistent/switchyard.toml"],
    );
}

#[test]
fn unknown_config_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "[[route]]\npath = \"/x\"\ncomponent = \"x.wasm\"\nroot = \"/\"\n",
    )
    .unwrap();
    refuses(
        &config,
        &["switchyard.toml", "route #1", "unknown key `root`"],
    );
}

#[test]
fn missing_component_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), "missing.wasm");
    refuses(
        &config,
        &["route 'x' (/x)", "missing.wasm", "cannot read the file"],
    );
}

#[test]
fn file_that_is_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "garbage.wasm", b"#!/bin/sh\necho hello\n");
    refuses(
        &config_for(dir.path(), &file),
        &["route 'x' (/x)", &file, "not a WebAssembly file"],
    );
}

#[test]
fn core_module_instead_of_component() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "module.wasm",
        &wat::parse_str("(module)").unwrap(),
    );
    refuses(
        &config_for(dir.path(), &file),
        &["route 'x' (/x)", &file, "core WebAssembly module"],
    );
}

#[test]
fn truncated_component() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(component("hello")).unwrap();
    let file = write(dir.path(), "half.wasm", &bytes[..bytes.len() / 2]);
    refuses(
        &config_for(dir.path(), &file),
        &["route 'x' (/x)", &file, "not a valid component"],
    );
}

#[test]
fn component_without_the_incoming_handler_export() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "empty.wasm",
        &wat::parse_str("(component)").unwrap(),
    );
    refuses(
        &config_for(dir.path(), &file),
        &[
            "route 'x' (/x)",
            &file,
            "does not export wasi:http/incoming-handler",
        ],
    );
}

#[test]
fn component_importing_what_the_host_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wat::parse_str(
        r#"(component (import "example:missing/thing" (instance (export "f" (func)))))"#,
    )
    .unwrap();
    let file = write(dir.path(), "needy.wasm", &bytes);
    refuses(
        &config_for(dir.path(), &file),
        &[
            "route 'x' (/x)",
            &file,
            "cannot satisfy the component's imports",
            "example:missing/thing",
        ],
    );
}

#[test]
fn invalid_route_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "[[route]]\npath = \"hello\"\ncomponent = \"x.wasm\"\n",
    )
    .unwrap();
    refuses(&config, &["route #1", "hello", "start with '/'"]);
}

#[test]
fn duplicate_route_paths() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "[[route]]\npath = \"/a\"\ncomponent = \"a.wasm\"\n[[route]]\npath = \"/a\"\ncomponent = \"b.wasm\"\n",
    )
    .unwrap();
    refuses(&config, &["route #2", "route #1", "\"/a\""]);
}

#[test]
fn listen_address_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, route("/hello", "hello")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("SWITCHYARD_LISTEN", "256.0.0.1:80")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "clap rejects a bad address from the env"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("256.0.0.1:80"));
}

#[test]
fn help_describes_serve() {
    let (code, _) = run_to_exit(&["serve", "--help"]);
    assert_eq!(code, Some(0));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in ["--config", "--listen", "SWITCHYARD_LISTEN"] {
        assert!(help.contains(flag), "{flag} missing from: {help}");
    }
}

#[test]
fn the_default_config_is_valid_and_every_routed_file_is_built() {
    let root = repo_root();
    let config =
        switchyard::Config::load(&root.join("switchyard.toml")).expect("switchyard.toml is valid");
    for route in &config.routes {
        for file in route.files() {
            assert!(
                file.exists(),
                "{} points at {}, which ./build-handlers.sh does not build",
                route.label(),
                file.display()
            );
        }
    }
    let misbehave = config
        .routes
        .iter()
        .find(|r| r.name == "misbehave")
        .unwrap();
    assert_eq!(misbehave.limits.timeout, std::time::Duration::from_secs(2));
    assert_eq!(misbehave.limits.memory_bytes, 64 << 20);
}
