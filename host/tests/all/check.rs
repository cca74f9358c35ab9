//! `switchyard check FILE.wasm...` through the real binary: every built
//! handler can be served; each kind of unservable file gets its own message;
//! a component's unsatisfied imports are listed, all of them and only them,
//! for a 0.3 component against the linker with WASI 0.3;
//! exit 0 only when every file can be served, 1 otherwise, 2 for usage.

use crate::common::*;
use std::path::Path;

/// Run `switchyard check ARGS...`: exit code and stdout. `check` compiles
/// with the server's engine and cache: the run's, not the user's.
fn check(files: &[&Path]) -> (Option<i32>, String) {
    let output = switchyard(run_cache_home())
        .arg("check")
        .args(files)
        .output()
        .expect("running switchyard check");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The `n` lines of a report's list of imports the host cannot satisfy,
/// each `NAME: REASON`; fails unless the list is there with `n` entries.
fn unsatisfied(report: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = report
        .split(&format!("imports this host cannot satisfy ({n}):\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no list of {n} unsatisfied imports:\n{report}"))
        .lines()
        .take_while(|l| l.starts_with("    "))
        .map(str::trim)
        .collect();
    assert_eq!(lines.len(), n, "{report}");
    lines
}

/// The report of one file: its verdict line and the indented lines below.
fn block(stdout: &str, file: &Path) -> String {
    let head = format!("{}: ", file.display());
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with(&head));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no report for {head:?} in:\n{stdout}"));
    let mut block = format!("{first}\n");
    for line in lines.take_while(|l| l.starts_with("  ")) {
        block.push_str(line);
        block.push('\n');
    }
    block
}

#[test]
fn every_built_handler_can_be_served() {
    let dir = repo_root().join("build/handlers");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the built handlers in {dir:?}");
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let (code, stdout) = check(&paths);
    assert_eq!(code, Some(0), "{stdout}");
    let mut services = 0;
    for file in &files {
        let report = block(&stdout, file);
        assert!(report.contains(": can be served\n"), "{report}");
        let p3 = report.contains("component for the wasi:http/service@0.3.0 world");
        services += usize::from(p3);
        if p3 {
            assert!(
                report.contains("(exports wasi:http/handler@0.3.0)"),
                "{report}"
            );
            assert!(
                report.contains("instance wasi:http/types@0.3.0"),
                "{report}"
            );
        } else {
            assert!(
                report.contains("component for the wasi:http/proxy@0.2.")
                    && report.contains(" world (exports wasi:http/incoming-handler@0.2."),
                "{report}"
            );
            assert!(report.contains("instance wasi:http/types@0.2."), "{report}");
        }
        assert!(!report.contains("cannot satisfy"), "{report}");
    }
    // hello-p3, hello-p3-v2, echo-p3, counter-p3, next-p3, hello-py3.
    assert_eq!(services, 6, "the wasi:http 0.3 handlers:\n{stdout}");
    assert!(
        stdout.ends_with(&format!(
            "{n} of {n} files can be served\n",
            n = files.len()
        )),
        "{stdout}"
    );
}

#[test]
fn files_that_are_not_components_each_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let core = write(
        dir.path(),
        "core.wasm",
        &wat::parse_str("(module)").unwrap(),
    );
    let garbage = write(dir.path(), "garbage.wasm", b"this is not wasm at all");
    let empty = write(dir.path(), "empty.wasm", b"");
    let hello = std::fs::read(component("hello")).unwrap();
    let truncated = write(dir.path(), "half.wasm", &hello[..hello.len() / 2]);
    let missing = dir.path().join("missing.wasm");
    let cases: [(&Path, &str); 5] = [
        (&core, "this is a core WebAssembly module, not a component"),
        (&garbage, "not a WebAssembly file"),
        (&empty, "the file is empty"),
        (&truncated, "not a valid component"),
        (&missing, "cannot read the file: No such file"),
    ];
    for (file, reason) in cases {
        let (code, stdout) = check(&[file]);
        assert_eq!(code, Some(1), "{stdout}");
        let expected = format!("{}: cannot be served: {reason}", file.display());
        assert!(
            stdout.starts_with(&expected),
            "{expected:?} not in:\n{stdout}"
        );
        assert!(stdout.ends_with("0 of 1 files can be served\n"), "{stdout}");
    }
}

#[test]
fn a_directory_is_not_a_file_and_cannot_be_served() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("handler.wasm");
    std::fs::create_dir(&folder).unwrap();
    let (code, stdout) = check(&[&folder]);
    assert_eq!(code, Some(1), "{stdout}");
    let expected = format!(
        "{}: cannot be served: cannot read the file: not a regular file but a directory",
        folder.display()
    );
    assert!(
        stdout.starts_with(&expected),
        "{expected:?} not in:\n{stdout}"
    );
    assert!(stdout.ends_with("0 of 1 files can be served\n"), "{stdout}");

    // A FIFO is refused before it is opened (reading one would block).
    let fifo = dir.path().join("pipe.wasm");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    let (code, stdout) = check(&[&fifo]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("not a regular file but a FIFO, socket or device"),
        "{stdout}"
    );
}

#[test]
fn lists_every_import_the_host_cannot_satisfy_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    // Two things the host has never heard of, an interface it has but
    // without the function asked for, and one it fully provides.
    let needy = write(
        dir.path(),
        "needy.wasm",
        &wat::parse_str(
            r#"(component
                (import "example:missing/store@1.0.0" (instance (export "get" (func))))
                (import "wasi:random/random@0.2.3" (instance (export "get-random-u64" (func (result u64)))))
                (import "wasi:cli/environment@0.2.0" (instance (export "get-nothing" (func))))
                (import "example:missing/hook" (func))
            )"#,
        )
        .unwrap(),
    );
    let (code, stdout) = check(&[&needy]);
    assert_eq!(code, Some(1), "{stdout}");
    let report = block(&stdout, &needy);
    assert!(
        report.starts_with(&format!("{}: cannot be served\n", needy.display())),
        "{report}"
    );
    for import in [
        "instance example:missing/store@1.0.0",
        "instance wasi:random/random@0.2.3",
        "instance wasi:cli/environment@0.2.0",
        "func example:missing/hook",
    ] {
        assert!(
            report.contains(&format!("    {import}\n")),
            "{import} not listed:\n{report}"
        );
    }
    let unsatisfied = unsatisfied(&report, 3);
    assert!(
        unsatisfied[0].starts_with("example:missing/store@1.0.0: ")
            && unsatisfied[0].contains("`get`")
    );
    assert!(
        unsatisfied[1].starts_with("wasi:cli/environment@0.2.0: ")
            && unsatisfied[1].contains("`get-nothing`")
    );
    assert!(unsatisfied[2].starts_with("example:missing/hook: "));
    assert!(
        report.contains("serve would refuse it: this host cannot satisfy the component's imports")
    );
}

#[test]
fn a_p3_component_is_checked_against_the_wasi_0_3_linker() {
    let dir = tempfile::tempdir().unwrap();
    // WASI 0.3's random is there (only on the engine 0.3 components run
    // on); an unknown interface and a 0.3 clock without the function asked
    // for are not.
    let needy = write(
        dir.path(),
        "needy-p3.wasm",
        &wat::parse_str(
            r#"(component
                (import "wasi:random/random@0.3.0" (instance (export "get-random-u64" (func (result u64)))))
                (import "wasi:clocks/monotonic-clock@0.3.0" (instance (export "get-nothing" (func))))
                (import "example:missing/thing@1.0.0" (instance (export "go" (func))))
                (instance $handler)
                (export "wasi:http/handler@0.3.0" (instance $handler))
            )"#,
        )
        .unwrap(),
    );
    let (code, stdout) = check(&[&needy]);
    assert_eq!(code, Some(1), "{stdout}");
    let report = block(&stdout, &needy);
    assert!(
        report.contains(
            "component for the wasi:http/service@0.3.0 world (exports wasi:http/handler@0.3.0)"
        ),
        "{report}"
    );
    let unsatisfied = unsatisfied(&report, 2);
    assert!(
        unsatisfied[0].starts_with("wasi:clocks/monotonic-clock@0.3.0: ")
            && unsatisfied[0].contains("`get-nothing`"),
        "{report}"
    );
    assert!(
        unsatisfied[1].starts_with("example:missing/thing@1.0.0: "),
        "{report}"
    );
}

#[test]
fn a_component_without_the_handler_export_cannot_be_served() {
    let dir = tempfile::tempdir().unwrap();
    let bare = write(
        dir.path(),
        "bare.wasm",
        &wat::parse_str("(component)").unwrap(),
    );
    let (code, stdout) = check(&[&bare]);
    assert_eq!(code, Some(1), "{stdout}");
    let report = block(&stdout, &bare);
    assert!(
        report.contains(
            "component for an unknown world (it exports neither wasi:http/handler nor wasi:http/incoming-handler)"
        ),
        "{report}"
    );
    assert!(
        report.contains("imports (0):\n  exports (0):\n"),
        "{report}"
    );
    assert!(!report.contains("cannot satisfy"), "{report}");
    assert!(
        report.contains(
            "serve would refuse it: the component exports neither wasi:http/handler@0.3.0 nor wasi:http/incoming-handler@0.2.x"
        ),
        "{report}"
    );
}

#[test]
fn one_bad_file_fails_the_run_and_the_good_ones_still_report() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = write(dir.path(), "garbage.wasm", b"nope");
    let hello = component("hello");
    let (code, stdout) = check(&[&hello, &garbage]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        block(&stdout, &hello).contains(": can be served\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("1 of 2 files can be served\n"), "{stdout}");
}

#[test]
fn no_files_is_a_usage_error() {
    let (code, stderr) = run_to_exit(&["check"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("FILE.wasm"), "{stderr}");
}
