//! The real binary, started but not waited for (see [`Started`]): for tests
//! that need two servers loading at once, look at one while it loads, or
//! give it exactly the arguments and environment they test ([`Process`]
//! passes `--config`, `--listen` and `--admin-listen` itself).
//!
//! [`stderr_line`] waits for a line in the stderr of either kind.

use super::{collect_lines, switchyard, Process};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a start that compiles a Python or JavaScript component may
/// take (seconds each, much longer with two at once on a loaded machine).
pub const SLOW_START: Duration = Duration::from_secs(300);

/// The real binary, started but not waited for, unlike [`Process::spawn`]
/// (which returns once it listens): for tests that need two servers
/// loading at once, or that look at a server while it is still loading.
/// Its stdout and stderr are collected as they come; it is killed on drop.
pub struct Started {
    pub child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// How many stdout lines [`Started::next_line`] has handed out.
    read: AtomicUsize,
    _cache_home: tempfile::TempDir,
}

impl Started {
    /// Start `switchyard serve --config FILE --listen 127.0.0.1:0 ARGS`
    /// (and `--admin-listen none` unless `args` has one), with a default
    /// compile cache of its own, and return at once.
    pub fn spawn(config: &Path, args: &[&str]) -> Started {
        Started::command(|command| {
            command
                .args(["serve", "--config"])
                .arg(config)
                .args(["--listen", "127.0.0.1:0"]);
            if !args.contains(&"--admin-listen") {
                command.args(["--admin-listen", "none"]);
            }
            command.args(args);
        })
    }

    /// The binary (with a compile cache home of its own) as `configure`
    /// sets it up, nothing added.
    pub fn command(configure: impl FnOnce(&mut Command)) -> Started {
        let cache_home = tempfile::tempdir().unwrap();
        let mut command = switchyard(cache_home.path());
        configure(&mut command);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting switchyard");
        Started {
            stdout: collect_lines(child.stdout.take().unwrap()),
            stderr: collect_lines(child.stderr.take().unwrap()),
            child,
            read: AtomicUsize::new(0),
            _cache_home: cache_home,
        }
    }

    /// The next stdout line, waiting up to 60 s for it (components compile
    /// before the server listens); fails if the server exits first.
    pub fn next_line(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        let index = self.read.fetch_add(1, Ordering::Relaxed);
        loop {
            if let Some(line) = self.stdout.lock().unwrap().get(index) {
                return line.clone();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                if let Some(line) = self.stdout.lock().unwrap().get(index) {
                    return line.clone();
                }
                panic!(
                    "switchyard exited ({status}) before stdout line {index}; stderr: {:#?}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no stdout line {index} within 60 s; stderr: {:#?}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The next stdout line, which must be `prefix` and an address, nothing
    /// else: that address.
    pub fn address_line(&mut self, prefix: &str) -> SocketAddr {
        let line = self.next_line();
        line.strip_prefix(prefix)
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("expected {prefix:?} and an address, got {line:?}"))
    }

    /// The rest of the first stdout line that starts with `prefix`, if the
    /// server has printed it yet.
    pub fn printed(&self, prefix: &str) -> Option<String> {
        let lines = self.stdout.lock().unwrap();
        lines
            .iter()
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::to_string)
    }

    /// Wait up to `limit` for [`printed`](Self::printed); fails at once if
    /// the server exits first.
    pub fn wait_printed(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(rest) = self.printed(prefix) {
                return rest;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "switchyard exited ({status}) before printing {prefix:?}; stderr: {:#?}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix:?} within {limit:?}; stderr: {:#?}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait up to `limit` for `listening on http://ADDR`: the routes are loaded.
    pub fn listening(&mut self, limit: Duration) -> SocketAddr {
        self.wait_printed("listening on http://", limit)
            .parse()
            .unwrap()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running binary whose stderr a test reads: a [`Process`] or a [`Started`].
pub trait Stderr {
    fn stderr_now(&self) -> Vec<String>;
}

impl Stderr for Process {
    fn stderr_now(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }
}

impl Stderr for Started {
    fn stderr_now(&self) -> Vec<String> {
        self.stderr()
    }
}

/// Wait up to 10 s for a stderr line containing every one of `needles`.
pub fn stderr_line(process: &impl Stderr, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = process.stderr_now();
        if let Some(line) = lines.iter().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no stderr line contains all of {needles:?}; stderr: {lines:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
