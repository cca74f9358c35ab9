//! `switchyard build`: runs the `[route.build]` / `[middleware.build]`
//! commands of a config in their workdirs, prints each outcome and time,
//! passes the commands' own output through, and exits non-zero naming the
//! ones that failed; named builds run only those. The repository's own
//! config has a build table for every component it routes.

use crate::common::*;
use std::process::Output;

fn build(config: &std::path::Path, names: &[&str]) -> Output {
    switchyard(run_cache_home())
        .args(["build", "--config"])
        .arg(config)
        .args(names)
        .output()
        .expect("running switchyard build")
}

const CONFIG: &str = r#"
[[middleware]]
name = "guard"
component = "out/guard.wasm"
[middleware.build]
command = "printf m > guard.out"
workdir = "out"

[[route]]
path = "/a"
name = "a"
middleware = ["guard"]
component = "out/a.wasm"
[route.build]
command = "printf built > a.out; echo compiling a"
workdir = "out"

[[route]]
path = "/b"
name = "b"
component = "out/b.wasm"
[route.build]
command = "echo 'error[E0308]: mismatched types in b' >&2; exit 3"
"#;

#[test]
fn build_runs_every_command_and_names_the_ones_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, CONFIG).unwrap();

    let output = build(&config, &[]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    // In config order, middleware first, each in its workdir.
    let order: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("building "))
        .collect();
    assert_eq!(
        order,
        [
            "building middleware 'guard': printf m > guard.out",
            "building route 'a': printf built > a.out; echo compiling a",
            "building route 'b': echo 'error[E0308]: mismatched types in b' >&2; exit 3",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/a.out")).unwrap(),
        "built"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/guard.out")).unwrap(),
        "m"
    );
    assert!(
        stdout.contains("compiling a\nroute 'a': built in "),
        "{stdout}"
    );
    assert!(
        stdout.contains("route 'b': build failed after ") && stdout.contains("exited with 3"),
        "{stdout}"
    );
    // The compiler's own words reach the terminal, and the last line names b.
    assert!(
        stderr.contains("error[E0308]: mismatched types in b"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().last(),
        Some("error: build failed: route 'b'"),
        "{stderr}"
    );

    // Only what is named.
    std::fs::remove_file(dir.path().join("out/a.out")).unwrap();
    let output = build(&config, &["a"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("out/a.out").exists());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("route 'b'"));

    let output = build(&config, &["nope"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nothing named 'nope' has a build table")
            && stderr.contains("(buildable: guard, a, b)"),
        "{stderr}"
    );
}

#[test]
fn the_repositorys_config_builds_every_component_it_routes() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("switchyard.toml")).unwrap();
    let config = switchyard::Config::parse(&root.join("switchyard.toml"), &text).unwrap();
    let mut components = 0;
    for route in &config.routes {
        let chain = route
            .middleware
            .iter()
            .map(|m| (m.name.as_str(), &m.component, &m.build))
            .chain(std::iter::once((
                route.name.as_str(),
                &route.component,
                &route.build,
            )));
        for (name, component, build) in chain {
            let stem = component.file_stem().unwrap().to_str().unwrap();
            let build = build
                .as_ref()
                .unwrap_or_else(|| panic!("'{name}' has no build table"));
            assert_eq!(
                build.command,
                format!("./build-handlers.sh {stem}"),
                "{name}"
            );
            assert_eq!(build.workdir, root, "{name}");
            assert!(!build.watch.is_empty(), "{name} watches its sources");
            components += 1;
        }
    }
    assert!(components >= 20, "{components}");
}
