//! Shared helpers for the integration tests: real servers on 127.0.0.1:0
//! serving real components from `build/handlers/`, and real HTTP clients.
//!
//! Two ways to run a server:
//! - [`TestServer::start`] runs it in this test process on the test's tokio
//!   runtime, sharing one wasmtime [`Host`] per test run so each component
//!   is compiled once however many servers use it. Log lines are
//!   captured so tests can assert what the server logged.
//! - [`Process::spawn`] runs the real `switchyard` binary, for what only a
//!   process shows: exit codes, start-up messages, signals, its memory.
//!
//! The requests tests send and check live in [`requests`]; large patterned
//! bodies in [`patterned`].
mod requests;
pub use requests::*;
mod patterned;
pub use patterned::{assert_patterned, patterned_body};
mod started;
pub use started::{stderr_line, Started, Stderr, SLOW_START};
pub mod otlp;
pub mod project;
pub mod redis;
pub mod upstream;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use switchyard::{CacheSettings, Config, Host, ServerOptions};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A built handler, e.g. `component("hello")` → `build/handlers/hello.wasm`.
/// Fails loudly when the handlers have not been built.
pub fn component(name: &str) -> PathBuf {
    let path = repo_root()
        .join("build/handlers")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run ./build-handlers.sh before the tests",
        path.display()
    );
    path
}

/// A `[[route]]` table for `config_text`.
pub fn route(path: &str, handler: &str) -> String {
    format!(
        "[[route]]\npath = \"{path}\"\ncomponent = \"{}\"\n",
        component(handler).display()
    )
}

/// The `XDG_CACHE_HOME` of this test run: emptied when the run starts and
/// shared by every server that does not bring its own, so nothing reads or
/// changes the user's `~/.cache/switchyard`, no run depends on an earlier
/// one, and the Python and JavaScript components compile once per run, not
/// once per test (which tripled the suite's time). Tests about the cache
/// itself use folders of their own.
pub fn run_cache_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| emptied("cache-home"))
}

/// The `XDG_DATA_HOME` of the binaries this run spawns (emptied when the
/// run starts): a config that grants the `default` key-value store without
/// a `data_dir` (the repository's own `switchyard.toml`) keeps its SQLite
/// file here, never in the user's `~/.local/share`.
pub fn run_data_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| emptied("data-home"))
}

/// `name` under the test target's scratch folder, emptied.
fn emptied(name: &str) -> PathBuf {
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    home
}

/// One wasmtime host for the whole test binary: each component compiles
/// once, and its compile cache is the run's ([`run_cache_home`]), shared
/// with the binaries the tests spawn.
pub fn host() -> Arc<Host> {
    static HOST: OnceLock<Arc<Host>> = OnceLock::new();
    HOST.get_or_init(|| {
        let cache = CacheSettings {
            dir: Some(run_cache_home().join("switchyard/compiled")),
            ..CacheSettings::default()
        };
        Arc::new(Host::with_cache(&cache).expect("creating the host"))
    })
    .clone()
}

/// A `Command` for the real `switchyard` binary whose default compile cache
/// (`$XDG_CACHE_HOME/switchyard/compiled`) is inside `cache_home`, a folder of
/// the caller's, never the user's `~/.cache`. A `--cache-dir` or `[cache] dir`
/// still wins over it.
pub fn switchyard(cache_home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command.env("XDG_CACHE_HOME", cache_home);
    command.env("XDG_DATA_HOME", run_data_home());
    command
}

/// Every log line the in-process servers wrote, for assertions.
fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .init();
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured log lines that contain every one of `needles`.
pub fn log_lines_with(needles: &[&str]) -> Vec<String> {
    let logs = log_buffer().lock().unwrap();
    String::from_utf8_lossy(&logs)
        .lines()
        .filter(|line| needles.iter().all(|n| line.contains(n)))
        .map(str::to_string)
        .collect()
}

/// Wait up to 5 s for a log line containing every one of `needles`.
pub async fn wait_for_log(needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(line) = log_lines_with(needles).into_iter().next() {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no log line contains all of {needles:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A server running inside the test process.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    /// The config file the server was started from (and watches, if it does).
    pub config_file: PathBuf,
    /// The admin listener's address, when started with one.
    pub admin: Option<std::net::SocketAddr>,
    admin_task: Option<tokio::task::JoinHandle<()>>,
    reload: Option<tokio::task::JoinHandle<()>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Start a server for the given config text (routes from [`route`]).
    pub async fn start(config_text: &str) -> TestServer {
        TestServer::start_with(config_text, false, None).await
    }

    /// Start a server that hot-reloads its config file and components.
    pub async fn start_watching(config_text: &str) -> TestServer {
        TestServer::start_with(config_text, true, None).await
    }

    /// Start a watching server with an admin listener on 127.0.0.1:0; the
    /// admin API is on when `token` is given.
    pub async fn start_with_admin(config_text: &str, token: Option<&str>) -> TestServer {
        TestServer::start_with(
            config_text,
            true,
            Some(token.map(switchyard::admin::Token::new)),
        )
        .await
    }

    async fn start_with(
        config_text: &str,
        watch: bool,
        admin: Option<Option<switchyard::admin::Token>>,
    ) -> TestServer {
        log_buffer();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("switchyard.toml");
        std::fs::write(&file, config_text).unwrap();
        let config = Config::load(&file).expect("valid test config");
        // As the binary does: the admin endpoints (and with them the metrics
        // recorder) before the routes, whose metric handles need it.
        let admin = admin.map(|token| Arc::new(switchyard::admin::Admin::new(&config, token)));
        let host = host();
        let service = tokio::task::spawn_blocking(move || switchyard::load(host, &config))
            .await
            .unwrap()
            .expect("loading the test routes");
        let config = Config::load(&file).unwrap();
        let reload = watch.then(|| switchyard::watch(&service, &config, true).1);
        let (admin, admin_task) = match admin {
            None => (None, None),
            Some(admin) => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                admin.ready(service.registry().clone());
                (
                    Some(addr),
                    Some(tokio::spawn(switchyard::admin::serve(listener, admin))),
                )
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let options = ServerOptions {
            shutdown_timeout: Duration::from_secs(10),
            limits: config.server.clone(),
            tls: None,
        };
        let task = tokio::spawn(switchyard::serve(listener, service, options, async {
            let _ = stop.await;
        }));
        TestServer {
            addr,
            dir,
            config_file: file,
            admin,
            admin_task,
            reload,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://ADMIN{path}` on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.admin.expect("started with an admin listener")
        )
    }

    /// A path in the server's private folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Begin a graceful shutdown and wait for it to complete.
    pub async fn stop(mut self) {
        if let Some(reload) = self.reload.take() {
            reload.abort();
        }
        if let Some(admin) = self.admin_task.take() {
            admin.abort();
        }
        let _ = self.shutdown.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// The `x-request-id` the server gave a response.
pub fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// An HTTP/1.1 client.
pub fn http1() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// An HTTP/2 cleartext client (prior knowledge, as `curl --http2-prior-knowledge`).
pub fn http2() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Both clients, labelled, for tests that must pass over each protocol.
pub fn clients() -> [(&'static str, reqwest::Client); 2] {
    [("HTTP/1.1", http1()), ("HTTP/2", http2())]
}

/// The real `switchyard` binary, running.
pub struct Process {
    pub child: Child,
    pub addr: std::net::SocketAddr,
    /// The admin listener's address, if it runs one.
    pub admin: Option<std::net::SocketAddr>,
    /// stderr lines, collected in the background.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Run `switchyard serve --config FILE --listen 127.0.0.1:0` and wait for
    /// its `listening on http(s)://` line. No admin listener unless `extra`
    /// passes `--admin-listen` (parallel tests would fight over its default port).
    pub fn spawn(config: &Path, extra: &[&str]) -> Process {
        Process::spawn_env(config, extra, &[])
    }

    /// [`Process::spawn`] with extra environment variables.
    pub fn spawn_env(config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Process {
        Process::start(&[], config, extra, env)
    }

    /// [`Process::spawn`] through `wrapper`, a command that runs the one
    /// after it (e.g. `setpriv` to serve as another user).
    pub fn spawn_wrapped(wrapper: &[&str], config: &Path, extra: &[&str]) -> Process {
        Process::start(wrapper, config, extra, &[])
    }

    fn start(wrapper: &[&str], config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Process {
        let binary = env!("CARGO_BIN_EXE_switchyard");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0"]);
        if !extra.contains(&"--admin-listen") {
            command.args(["--admin-listen", "none"]);
        }
        // The run's compile cache, unless the test brings its own.
        if !env.iter().any(|(name, _)| *name == "XDG_CACHE_HOME") {
            command.env("XDG_CACHE_HOME", run_cache_home());
        }
        command.env("XDG_DATA_HOME", run_data_home());
        let mut child = command
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting switchyard");
        let stderr = collect_lines(child.stderr.take().unwrap());
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let admin = line
            .trim()
            .strip_prefix("admin listening on http://")
            .map(|addr| addr.parse().unwrap());
        if admin.is_some() {
            line.clear();
            stdout.read_line(&mut line).unwrap();
        }
        let trimmed = line.trim();
        let addr = (trimmed.strip_prefix("listening on http://"))
            .or_else(|| trimmed.strip_prefix("listening on https://"))
            .unwrap_or_else(|| {
                panic!(
                    "expected a 'listening on' line, got {line:?}; stderr: {:?}",
                    stderr.lock().unwrap()
                )
            })
            .parse()
            .unwrap();
        Process {
            child,
            addr,
            admin,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Send a signal (e.g. "TERM") to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The process's resident set size and its peak, in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
                .unwrap()
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of `stream` (a child's stdout or stderr), collected in the
/// background as they come.
pub fn collect_lines(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// Run the binary to completion (for start-up failures): exit code, stderr.
pub fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let output = switchyard(run_cache_home())
        .args(args)
        .env("SWITCHYARD_ADMIN_LISTEN", "none")
        .stdin(Stdio::null())
        .output()
        .expect("running switchyard");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
