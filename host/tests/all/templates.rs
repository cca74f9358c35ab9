//! Every handler template, as a user meets it: `switchyard new app`, then
//! `switchyard new handler LANG NAME`, then `switchyard build`, then
//! `switchyard serve`, and the route answers the template's hello over
//! HTTP/1.1 and HTTP/2, in a temporary folder outside the repository,
//! built with the toolchains `build-handlers.sh` installed. A handler that
//! does not compile makes `build` exit non-zero naming its route.

use crate::common::project::Project;
use crate::common::*;

/// new → build → serve → the hello, for `language`, whose hello names it
/// as `shown`.
async fn template_answers_its_hello(language: &str, shown: &str) {
    let name = format!("hello-{language}");
    let project = Project::with_handler(language, &name);
    let built = project.ok(&["build"]);
    assert!(
        built.contains(&format!("route '{name}': built in ")),
        "{built}"
    );
    let server = Process::spawn(&project.config(), &[]);
    for (protocol, client) in clients() {
        let response = client
            .get(server.url(&format!("/{name}?from=test")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{protocol}");
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8",
            "{protocol}"
        );
        assert_eq!(
            response.text().await.unwrap(),
            format!("Hello from {name} ({shown})! GET /{name}?from=test\n"),
            "{protocol}"
        );
    }
    let response = http1()
        .post(server.url(&format!("/{name}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        format!("Hello from {name} ({shown})! POST /{name}\n")
    );
}

#[tokio::test]
async fn rust_template() {
    template_answers_its_hello("rust", "Rust").await;
}

#[tokio::test]
async fn rust_p3_template() {
    template_answers_its_hello("rust-p3", "Rust, wasi:http 0.3").await;
}

#[tokio::test]
async fn python_template() {
    template_answers_its_hello("python", "Python").await;
}

#[tokio::test]
async fn python_p3_template() {
    template_answers_its_hello("python-p3", "Python, wasi:http 0.3").await;
}

#[tokio::test]
async fn js_template() {
    template_answers_its_hello("js", "JavaScript").await;
}

#[tokio::test]
async fn c_template() {
    template_answers_its_hello("c", "C").await;
}

#[tokio::test]
async fn zig_template() {
    template_answers_its_hello("zig", "Zig").await;
}

#[test]
fn build_of_a_broken_handler_exits_non_zero_naming_it() {
    let project = Project::with_handler("c", "broken-c");
    let source = project.source("broken-c", "handler.c");
    let mut text = std::fs::read_to_string(&source).unwrap();
    text.push_str("\nint this_does_not_compile( {\n");
    std::fs::write(&source, text).unwrap();
    let output = project.run(&["build"]);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1), "{printed}");
    // The compiler's own words, then the route named.
    assert!(printed.contains("handler.c"), "{printed}");
    assert!(printed.contains("error"), "{printed}");
    assert!(
        printed.contains("error: build failed: route 'broken-c'"),
        "{printed}"
    );
    assert!(!project.root.join("build/broken-c.wasm").exists());
}

/// A folder of links to every program in /usr/bin and /bin but `missing`:
/// a PATH on which those programs are not installed.
fn path_without(missing: &[&str]) -> tempfile::TempDir {
    let bin = tempfile::tempdir().unwrap();
    for dir in ["/usr/bin", "/bin"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if missing.contains(&name.as_ref()) || bin.path().join(&*name).exists() {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), bin.path().join(&*name)).unwrap();
        }
    }
    bin
}

/// A toolchain the user must install is named in one line with the command
/// that installs it, not a stack of tool output.
#[test]
fn a_missing_toolchain_is_one_line_naming_its_install_command() {
    let cases = [
        (
            "rust",
            &["cargo", "rustc", "rustup"][..],
            "build.sh: the Rust handler needs cargo: install Rust with `curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh`",
        ),
        (
            "js",
            &["node", "npm", "npx"][..],
            "build.sh: the JavaScript handler needs node 20 or later and npm",
        ),
    ];
    for (language, missing, line) in cases {
        let name = format!("no-{language}");
        let project = Project::with_handler(language, &name);
        let bin = path_without(missing);
        let output = crate::common::switchyard(run_cache_home())
            .args(["build"])
            .current_dir(&project.root)
            .env("PATH", bin.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("error: build failed"))
            .collect();
        assert_eq!(lines.len(), 1, "{language}: one line, not {lines:#?}");
        assert!(lines[0].starts_with(line), "{language}: {}", lines[0]);
        assert!(lines[0].contains("install"), "{}", lines[0]);
    }
}
