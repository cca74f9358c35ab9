//! The container image, built and run for real: `deploy/image.sh build`
//! makes the Dockerfile's `runtime` target from this checkout's binary and
//! components (a Debian base made with debootstrap where no registry
//! serves one), and the container starts exactly as
//! `deploy/k8s/deployment.yaml` starts it: its args, a read-only root, uid
//! 10001, no capabilities, the ConfigMap's config mounted where `--config`
//! looks. Then: both probes answer, every route of the image's config
//! answers, the Python and JavaScript handlers load from the image's warm
//! compile cache, and SIGTERM drains an in-flight stream and exits 0.
//!
//! Where no container engine can run, the test says so in one line on the
//! terminal (past the test harness's capture) and passes without checking.

use crate::common::redis::RedisServer;
use crate::common::*;
use crate::deploy::{args, container, flag, int_of, manifest, str_of};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const IMAGE: &str = "localhost/switchyard:test";

/// The engine's command line and the CONTAINERS_CONF it needs, as
/// `deploy/image.sh engine` finds them; `None` (said on the terminal) when
/// no engine can run here.
fn engine() -> Option<(Vec<String>, String)> {
    let output = Command::new(repo_root().join("deploy/image.sh"))
        .arg("engine")
        .output()
        .expect("running deploy/image.sh");
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        let why = why.lines().last().unwrap_or("no reason given");
        // Straight to the process's stderr: the harness captures eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED container tests: no container engine can run here ({why})"
        );
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut lines = text.lines();
    let engine = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Some((engine, lines.next().unwrap_or("").to_string()))
}

const REDIS_IMAGE: &str = "localhost/switchyard-redis:test";

/// The engine (see [`engine`]), once [`IMAGE`] (the `runtime` target, with
/// the binary these tests run) and [`REDIS_IMAGE`] are built: once per run,
/// whichever test asks first.
fn images() -> Option<(Vec<String>, String)> {
    static BUILT: std::sync::OnceLock<Option<(Vec<String>, String)>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let engine = engine()?;
            for args in [
                &["build", "--tag", IMAGE][..],
                &["build", "--redis", "--tag", REDIS_IMAGE],
            ] {
                let output = Command::new(repo_root().join("deploy/image.sh"))
                    .args(args)
                    .env("SWITCHYARD_BINARY", env!("CARGO_BIN_EXE_switchyard"))
                    .output()
                    .expect("running deploy/image.sh build");
                assert!(
                    output.status.success(),
                    "{args:?} failed:\n{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Some(engine)
        })
        .clone()
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A container of [`IMAGE`] started as the Deployment starts it, attached
/// (its output collected), removed when it ends.
struct Container {
    child: std::process::Child,
    engine: Vec<String>,
    conf: String,
    name: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Container {
    fn start(engine: &[String], conf: &str, config_dir: &Path, redis: &str) -> Container {
        let container = container();
        let security = &manifest("deployment.yaml")["spec"]["template"]["spec"]["securityContext"];
        let uid = int_of(&security["runAsUser"], "runAsUser");
        let mount = container["volumeMounts"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|m| m["name"].as_str() == Some("config"))
            .expect("the config volume")
            .clone();
        let mount_path = str_of(&mount["mountPath"], "mountPath").to_string();
        assert_eq!(
            container["securityContext"]["readOnlyRootFilesystem"].as_bool(),
            Some(true)
        );
        assert_eq!(
            container["securityContext"]["capabilities"]["drop"][0].as_str(),
            Some("ALL")
        );
        let name = format!("switchyard-test-{}", std::process::id());
        let mut command = Command::new(&engine[0]);
        command
            .args(&engine[1..])
            .args(["run", "--rm", "--name", &name, "--network", "host"])
            .args(["--read-only", "--cap-drop", "ALL"])
            .args(["--user", &format!("{uid}:{uid}")])
            .arg("-v")
            .arg(format!("{}:{mount_path}:ro", config_dir.display()))
            .args(["-e", &format!("SWITCHYARD_REDIS_URL={redis}")])
            .args(["-e", "HOSTNAME=switchyard-pod-a"])
            .arg(IMAGE)
            .args(args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !conf.is_empty() {
            command.env("CONTAINERS_CONF", conf);
        }
        let mut child = command.spawn().expect("starting the container");
        Container {
            stdout: collect_lines(child.stdout.take().unwrap()),
            stderr: collect_lines(child.stderr.take().unwrap()),
            child,
            engine: engine.to_vec(),
            conf: conf.to_string(),
            name,
        }
    }

    /// Wait for a stdout line starting with `prefix`.
    fn printed(&mut self, prefix: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self
            .stdout
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with(prefix))
        {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the container exited ({status}): {:#?}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix:?}: {:#?}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Send the container's process a signal, as the kubelet does.
    fn signal(&self, signal: &str) {
        let mut command = Command::new(&self.engine[0]);
        command
            .args(&self.engine[1..])
            .args(["kill", "--signal", signal, &self.name]);
        if !self.conf.is_empty() {
            command.env("CONTAINERS_CONF", &self.conf);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal("KILL");
            let _ = self.child.wait();
        }
    }
}

/// A request for each route of the image's config (pattern, path, body:
/// a POST when there is one) and its status: a route added to the config
/// must be added here.
const ANSWERS: &[(&str, &str, Option<&str>, u16)] = &[
    ("/hello", "/hello", None, 200),
    ("/echo", "/echo", Some("echo me"), 200),
    ("/stream", "/stream?bytes=10", None, 200),
    ("/py/items", "/py/items", Some(r#"{"items": [1, 2]}"#), 200),
    ("/js/...", "/js/", None, 200),
    ("/c/sha256", "/c/sha256", Some("abc"), 200),
    ("/zig/...", "/zig/primes?limit=10", None, 200),
    ("/kv/counter", "/kv/counter", None, 200),
    ("/kv/docs/...", "/kv/docs/", None, 200),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_as_the_deployment_runs_it() {
    let Some((engine, conf)) = images() else {
        return;
    };
    let redis = RedisServer::start();
    // The ConfigMap's config, mounted as the pod mounts it.
    let config_dir = tempfile::tempdir().unwrap();
    let config_path = Path::new(flag(&args(), "--config")).to_path_buf();
    let text = manifest("configmap.yaml")["data"]["switchyard.toml"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(
        config_dir.path().join(config_path.file_name().unwrap()),
        &text,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(config_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut running = Container::start(&engine, &conf, config_dir.path(), &redis.url());
    running.printed("listening on http://0.0.0.0:", Duration::from_secs(60));
    let listen = flag(&args(), "--listen").replace("0.0.0.0", "127.0.0.1");
    let admin = flag(&args(), "--admin-listen").replace("0.0.0.0", "127.0.0.1");
    let client = http1();
    for probe in ["/healthz", "/readyz"] {
        let response = client
            .get(format!("http://{admin}{probe}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{probe}");
    }

    // Every route of the image's config answers.
    let config = switchyard::Config::parse(&config_path, &crate::deploy::with_pod_env(&text))
        .expect("the ConfigMap's config");
    let routed: Vec<String> = config
        .routes
        .iter()
        .map(|r| r.pattern.to_string())
        .collect();
    let listed: Vec<String> = ANSWERS.iter().map(|(p, ..)| p.to_string()).collect();
    assert_eq!(routed, listed, "ANSWERS lists every route of the config");
    for (pattern, path, body, status) in ANSWERS {
        let url = format!("http://{listen}{path}");
        let request = match body {
            Some(body) => client.post(url).body(body.to_string()),
            None => client.get(url),
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), *status, "{pattern} ({path})");
    }
    let counted = client
        .get(format!("http://{listen}/kv/counter"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(counted.starts_with("count=2"), "{counted}");

    // The Python and JavaScript handlers were not compiled at start: the
    // image's cache, read-only, had them.
    let stderr = running.stderr();
    for route in ["items", "greet", "docs"] {
        assert!(
            stderr.iter().any(|l| l.contains(&format!("route={route} "))
                && l.contains("loaded from the compile cache")),
            "{route} was compiled at start: {stderr:#?}"
        );
    }
    assert!(
        !stderr.iter().any(|l| l.contains("compiled took_ms")),
        "something compiled at start: {stderr:#?}"
    );

    // SIGTERM mid-stream: the stream ends whole, the process exits 0.
    let mut stream = client
        .get(format!(
            "http://{listen}/stream?bytes=260&chunk=26&delay_ms=200"
        ))
        .send()
        .await
        .unwrap();
    let first = stream.chunk().await.unwrap().unwrap();
    running.signal("TERM");
    let mut received = first.len();
    while let Some(chunk) = stream.chunk().await.unwrap() {
        received += chunk.len();
    }
    assert_eq!(received, 260, "the in-flight stream was drained whole");
    let grace = int_of(
        &manifest("deployment.yaml")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        "terminationGracePeriodSeconds",
    ) as u64;
    let deadline = Instant::now() + Duration::from_secs(grace);
    let status = loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "not stopped within {grace} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}: {:#?}", running.stderr());
}

/// `deploy/replicas.sh up`: two replicas and a Redis container; requests
/// spread over both replicas count exactly once each, and each answer says
/// which replica gave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_redis_and_count_exactly() {
    if images().is_none() {
        return;
    }
    let ports: Vec<(&str, String)> = ["REDIS_PORT", "A_PORT", "A_ADMIN", "B_PORT", "B_ADMIN"]
        .into_iter()
        .map(|name| (name, free_port().to_string()))
        .collect();
    let replicas = |command: &str| {
        let output = Command::new(repo_root().join("deploy/replicas.sh"))
            .arg(command)
            .envs(ports.iter().map(|(k, v)| (*k, v.as_str())))
            .env("IMAGE", IMAGE)
            .env("REDIS_IMAGE", REDIS_IMAGE)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "replicas.sh {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    struct Down<'a>(&'a dyn Fn(&str));
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            (self.0)("down");
        }
    }
    replicas("up");
    let _down = Down(&replicas);
    let port = |name: &str| ports.iter().find(|(k, _)| *k == name).unwrap().1.clone();
    let urls = [
        format!("http://127.0.0.1:{}/kv/counter", port("A_PORT")),
        format!("http://127.0.0.1:{}/kv/counter", port("B_PORT")),
    ];
    // 8 clients, 50 increments each, alternating replicas.
    let mut clients = Vec::new();
    for client in 0..8 {
        let urls = urls.clone();
        clients.push(tokio::spawn(async move {
            let http = http1();
            let mut seen = [0usize; 2];
            for i in 0..50 {
                let which = (client + i) % 2;
                let body = http
                    .get(&urls[which])
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                let replica = if which == 0 {
                    "switchyard-a"
                } else {
                    "switchyard-b"
                };
                assert!(body.contains(&format!("replica={replica}")), "{body}");
                seen[which] += 1;
            }
            seen
        }));
    }
    let mut seen = [0usize; 2];
    for client in clients {
        let counts = client.await.unwrap();
        seen[0] += counts[0];
        seen[1] += counts[1];
    }
    assert_eq!(seen, [200, 200]);
    let last = http1()
        .get(&urls[1])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(last.starts_with("count=401\n"), "{last}");
}
