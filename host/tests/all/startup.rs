//! Start-up errors: the server refuses to start, exits non-zero and prints
//! one clear line naming the route, the file and the reason, and never says
//! it listens. A clean start prints the stable `listening on` line; every
//! `SWITCHYARD_*` variable stands in for its flag.

use crate::common::*;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A folder with a config routing `/hello` (and nothing else).
fn hello_config() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, route("/hello", "hello")).unwrap();
    (dir, config)
}

/// An address the test's environment gave: on 127.0.0.1, a port picked by
/// the system (not 0, not the flag's default).
fn assert_picked_port(addr: SocketAddr, default_port: u16) {
    assert_eq!(addr.ip(), Ipv4Addr::LOCALHOST, "{addr}");
    assert_ne!(addr.port(), 0, "{addr}");
    assert_ne!(
        addr.port(),
        default_port,
        "{addr} is the default, not the environment's 127.0.0.1:0"
    );
}

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
            "exports neither wasi:http/handler@0.3.0 nor wasi:http/incoming-handler@0.2.x",
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

#[tokio::test]
async fn listen_address_can_come_from_the_environment() {
    let (_dir, config) = hello_config();
    let mut server = Started::command(|command| {
        command
            .args(["serve", "--no-watch", "--admin-listen", "none", "--config"])
            .arg(&config)
            .env("SWITCHYARD_LISTEN", "127.0.0.1:0");
    });
    let addr = server.address_line("listening on http://");
    assert_picked_port(addr, 8080);
    assert_eq!(
        get_text(&http1(), format!("http://{addr}/hello")).await,
        (200, "Hello from Switchyard! GET /hello\n".to_string())
    );

    // And a bad address from the environment is a usage error naming it.
    let cache_home = tempfile::tempdir().unwrap();
    let output = switchyard(cache_home.path())
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

#[tokio::test]
async fn config_file_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("elsewhere.toml");
    std::fs::write(&config, route("/from-env", "hello")).unwrap();
    // Run from an empty folder: the default `./switchyard.toml` is not there.
    let empty = tempfile::tempdir().unwrap();
    let mut server = Started::command(|command| {
        command
            .args(["serve", "--no-watch", "--admin-listen", "none"])
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(empty.path())
            .env("SWITCHYARD_CONFIG", &config);
    });
    let addr = server.address_line("listening on http://");
    assert_eq!(
        get_text(&http1(), format!("http://{addr}/from-env")).await,
        (200, "Hello from Switchyard! GET /from-env\n".to_string())
    );
}

#[tokio::test]
async fn admin_address_can_come_from_the_environment() {
    let (_dir, config) = hello_config();
    let mut server = Started::command(|command| {
        command
            .args(["serve", "--no-watch", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .env("SWITCHYARD_ADMIN_LISTEN", "127.0.0.1:0");
    });
    let admin = server.address_line("admin listening on http://");
    assert_picked_port(admin, 9091);
    let addr = server.address_line("listening on http://");
    assert_ne!(addr, admin);
    assert_eq!(
        get_text(&http1(), format!("http://{admin}/healthz")).await,
        (200, "ok\n".to_string())
    );
}

#[tokio::test]
async fn log_format_can_come_from_the_environment() {
    let (_dir, config) = hello_config();
    let server = Process::spawn_env(
        &config,
        &["--no-watch"],
        &[("SWITCHYARD_LOG_FORMAT", "json")],
    );
    let (status, _) = get_text(&http1(), server.url("/hello")).await;
    assert_eq!(status, 200);
    // Every line, from start-up to the access line, is one JSON object.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = server.stderr.lock().unwrap().clone();
        let parsed: Vec<serde_json::Value> = lines
            .iter()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect();
        for value in &parsed {
            assert!(value.is_object(), "not a JSON object: {value}");
        }
        let access = parsed
            .iter()
            .any(|v| v["target"] == "switchyard::access" && v["path"] == "/hello");
        if access {
            assert!(parsed.len() >= 2, "only the access line: {lines:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "no access line in {lines:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn cache_dir_can_come_from_the_environment() {
    let (dir, config) = hello_config();
    let cache = dir.path().join("cache-from-env");
    let xdg = dir.path().join("xdg");
    let server = Process::spawn_env(
        &config,
        &["--no-watch"],
        &[
            ("SWITCHYARD_CACHE_DIR", cache.to_str().unwrap()),
            ("XDG_CACHE_HOME", xdg.to_str().unwrap()),
        ],
    );
    assert_eq!(get_text(&http1(), server.url("/hello")).await.0, 200);
    let digest = switchyard::digest(&std::fs::read(component("hello")).unwrap());
    let entry = format!("{}.cwasm", switchyard::digest_hex(&digest));
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        // `CACHE/<engine>/<digest>.cwasm`
        let found: Vec<_> = std::fs::read_dir(&cache)
            .into_iter()
            .flatten()
            .map(|engine| engine.unwrap().path().join(&entry))
            .filter(|path| path.is_file())
            .collect();
        if !found.is_empty() {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no {entry} under {}",
            cache.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        !xdg.exists(),
        "the default cache under XDG_CACHE_HOME was used too"
    );
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
