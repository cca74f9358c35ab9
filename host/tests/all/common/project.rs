//! A user's project outside the repository, made by the real binary's
//! `switchyard new app` and `new handler`, built by its templates' own
//! build commands with the toolchains `build-handlers.sh` installs (found
//! where the templates' `build.sh` look for them), for the template and
//! developer-loop tests.

use super::{run_cache_home, switchyard};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A project in a temporary folder, removed on drop.
pub struct Project {
    _parent: tempfile::TempDir,
    pub root: PathBuf,
}

impl Project {
    /// `switchyard new app` then `switchyard new handler LANG NAME`.
    pub fn with_handler(language: &str, name: &str) -> Project {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("app");
        let project = Project {
            _parent: parent,
            root,
        };
        let made = switchyard(run_cache_home())
            .args(["new", "app", "app"])
            .current_dir(project._parent.path())
            .output()
            .expect("running switchyard new app");
        assert!(made.status.success(), "{made:?}");
        project.ok(&["new", "handler", language, name]);
        project
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("switchyard.toml")
    }

    /// A file of the handler `name`.
    pub fn source(&self, name: &str, file: &str) -> PathBuf {
        self.root.join("handlers").join(name).join(file)
    }

    /// Run the binary in the project with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        switchyard(run_cache_home())
            .args(args)
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", cargo_target_dir())
            .output()
            .expect("running switchyard")
    }

    /// [`Project::run`], which must succeed; its output.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "switchyard {args:?} failed:\n{text}"
        );
        text
    }
}

/// Where the Rust templates' cargo builds go: one folder for the test run,
/// so wit-bindgen compiles once, not once per project (the templates'
/// `build.sh` honour `CARGO_TARGET_DIR`). Each test's handler has its own
/// name, so their artifacts never collide.
pub fn cargo_target_dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/template-cargo-target"
    ))
}
