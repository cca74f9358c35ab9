//! `switchyard new app` and `switchyard new handler`: a project outside the
//! repository with exactly the WIT and build helpers the binary carries; a
//! handler folder from its language's template with its `[[route]]`
//! appended to the config, comments and layout kept; a taken name, path or
//! folder, a bad name or an unknown language refused with one clear line,
//! and nothing half-written left behind.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

fn run(dir: &Path, args: &[&str]) -> Output {
    switchyard(run_cache_home())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running switchyard")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

/// `switchyard new app NAME` in `parent`; the project's folder.
pub fn new_app(parent: &Path, name: &str) -> PathBuf {
    let output = run(parent, &["new", "app", name]);
    assert!(output.status.success(), "{}", text(&output));
    parent.join(name)
}

#[test]
fn new_app_writes_the_binarys_wit_and_build_helpers() {
    let parent = tempfile::tempdir().unwrap();
    let output = run(parent.path(), &["new", "app", "shop"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("next: cd shop && switchyard new handler"),
        "{}",
        text(&output)
    );
    let project = parent.path().join("shop");
    for file in ["switchyard.toml", ".gitignore", "README.md"] {
        assert!(project.join(file).is_file(), "{file} missing");
    }
    // The helpers every build.sh sources, exactly the repository's.
    assert_eq!(
        std::fs::read_to_string(project.join("handlers/tools.sh")).unwrap(),
        std::fs::read_to_string(repo_root().join("handlers/tools.sh")).unwrap()
    );
    // The WIT, exactly the repository's.
    let wit = repo_root().join("wit");
    let expected: Vec<PathBuf> = files(&wit)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wit"))
        .collect();
    assert_eq!(files(&project.join("wit")), expected);
    for file in &expected {
        assert_eq!(
            std::fs::read(project.join("wit").join(file)).unwrap(),
            std::fs::read(wit.join(file)).unwrap(),
            "{}",
            file.display()
        );
    }
    // The commented config is valid and routes nothing yet.
    let built = run(&project, &["build"]);
    assert_eq!(built.status.code(), Some(1));
    assert!(
        text(&built).contains("has a [route.build] table"),
        "{}",
        text(&built)
    );
    // .gitignore keeps build output out of the repository.
    let ignore = std::fs::read_to_string(project.join(".gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "/build/"), "{ignore}");

    // A folder in use is refused and left as it was.
    let before = files(&project);
    let again = run(parent.path(), &["new", "app", "shop"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again).contains("exists and is not empty"),
        "{}",
        text(&again)
    );
    assert_eq!(files(&project), before);
    // An empty folder is fine.
    std::fs::create_dir(parent.path().join("empty")).unwrap();
    new_app(parent.path(), "empty");
    assert!(parent.path().join("empty/switchyard.toml").is_file());
    // No staging folder is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A route the user wrote by hand, with comments of their own.
const HAND_WRITTEN: &str = r#"
# --- my own routes (this comment must survive) ---
[[route]]
name = "mine"            # aligned, as I like it
path = "/taken"
component = "build/mine.wasm"
"#;

#[test]
fn new_handler_appends_its_route_and_keeps_the_file_as_written() {
    let parent = tempfile::tempdir().unwrap();
    let project = new_app(parent.path(), "app");
    let config = project.join("switchyard.toml");
    let mut original = std::fs::read_to_string(&config).unwrap();
    original.push_str(HAND_WRITTEN);
    std::fs::write(&config, &original).unwrap();

    let output = run(&project, &["new", "handler", "rust", "hello-world"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("route 'hello-world' at /hello-world"),
        "{}",
        text(&output)
    );
    let updated = std::fs::read_to_string(&config).unwrap();
    assert!(
        updated.starts_with(&original),
        "the file as written must stay, byte for byte:\n{updated}"
    );
    let appended = &updated[original.len()..];
    for line in [
        "[[route]]",
        "name = \"hello-world\"",
        "path = \"/hello-world\"",
        "component = \"build/hello-world.wasm\"",
        "[route.build]",
        "command = \"./build.sh\"",
        "workdir = \"handlers/hello-world\"",
    ] {
        assert!(
            appended.lines().any(|l| l.trim() == line),
            "{line} missing from:\n{appended}"
        );
    }
    assert!(appended.contains("watch = ["), "{appended}");
    // The folder: the template with every placeholder filled in.
    let folder = project.join("handlers/hello-world");
    let made = files(&folder);
    assert!(made.contains(&PathBuf::from("build.sh")), "{made:?}");
    assert!(made.contains(&PathBuf::from("README.md")), "{made:?}");
    assert!(!made.contains(&PathBuf::from("template.toml")), "{made:?}");
    for file in &made {
        let contents = std::fs::read_to_string(folder.join(file)).unwrap();
        assert!(
            !contents.contains("{{"),
            "{} keeps a placeholder",
            file.display()
        );
    }
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(folder.join("build.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "build.sh is executable");
    // `switchyard build` knows the new route.
    let unknown = run(&project, &["build", "nope"]);
    assert!(
        text(&unknown).contains("(buildable: hello-world)"),
        "{}",
        text(&unknown)
    );

    // Refusals: each one line, the file and the folders unchanged.
    let before = (std::fs::read_to_string(&config).unwrap(), files(&project));
    let refusals: &[(&[&str], &str)] = &[
        (
            &["new", "handler", "python", "hello-world"],
            "already has a route named 'hello-world' (route 2, /hello-world); pick another name",
        ),
        (
            &["new", "handler", "js", "other", "--route", "/taken"],
            "already serves /taken (route 1, 'mine'); pick another path with --route",
        ),
        (
            &["new", "handler", "c", "mine"],
            "already has a route named 'mine'",
        ),
        (
            &["new", "handler", "zig", "Bad_Name"],
            "handler name \"Bad_Name\" is invalid",
        ),
        (
            &["new", "handler", "python", "x", "--route", "no-slash"],
            "route \"no-slash\"",
        ),
    ];
    for (args, needle) in refusals {
        let output = run(&project, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output));
        assert!(
            text(&output).contains(needle),
            "{args:?}: {}",
            text(&output)
        );
        assert_eq!(
            (std::fs::read_to_string(&config).unwrap(), files(&project)),
            before,
            "{args:?} changed the project"
        );
    }
    // A folder that exists already (made by hand) is never overwritten.
    std::fs::create_dir(project.join("handlers/manual")).unwrap();
    std::fs::write(project.join("handlers/manual/keep.txt"), "mine").unwrap();
    let output = run(&project, &["new", "handler", "c", "manual"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("exists already"),
        "{}",
        text(&output)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before.0);
    // An unknown language: clap lists the templates.
    let output = run(&project, &["new", "handler", "cobol", "x"]);
    assert_eq!(output.status.code(), Some(2));
    for language in ["rust", "rust-p3", "python", "python-p3", "js", "c", "zig"] {
        assert!(text(&output).contains(language), "{}", text(&output));
    }
    // Outside a project: says what to do.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = run(elsewhere.path(), &["new", "handler", "rust", "x"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("switchyard new app DIR"),
        "{}",
        text(&output)
    );
    assert!(files(elsewhere.path()).is_empty());
}

/// A project has no Cargo.lock, so `handlers/tools.sh` pins the wasmtime
/// whose WASI adapter C and Zig components are made with: it must be the
/// one the host links.
#[test]
fn tools_sh_pins_the_wasmtime_the_host_links() {
    let lock = std::fs::read_to_string(repo_root().join("Cargo.lock")).unwrap();
    let locked: Vec<&str> = lock
        .split("[[package]]")
        .filter(|p| p.contains("\nname = \"wasmtime\"\n"))
        .filter_map(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"'))
        .collect();
    let tools = std::fs::read_to_string(repo_root().join("handlers/tools.sh")).unwrap();
    let pinned: Vec<&str> = tools
        .lines()
        .filter_map(|l| l.strip_prefix("WASMTIME_VERSION="))
        .collect();
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert_eq!(pinned, locked, "handlers/tools.sh's WASMTIME_VERSION");
}
