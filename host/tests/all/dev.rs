//! `switchyard dev` on a user's project: a client loops on a route while
//! its handler's source is edited; each edit is served with not one failed
//! request, a syntax error prints the compiler's words named by the route
//! and keeps the previous version serving, and the fix is served. Rust (a
//! compiled guest) and Python (an interpreted one, a whole interpreter per
//! component).

use crate::common::project::{cargo_target_dir, Project};
use crate::common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one rebuild may take on a loaded 2-core machine, with its
/// component's compile.
const REBUILD: Duration = Duration::from_secs(240);

/// A client asking for `url` in a loop, counting every answer that is not
/// a 200, and keeping the last body.
struct Client {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<Mutex<Vec<String>>>,
    last: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    fn start(url: String) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let last = Arc::new(Mutex::new(String::new()));
        let (s, o, f, l) = (stop.clone(), ok.clone(), failed.clone(), last.clone());
        let task = tokio::spawn(async move {
            let client = http1();
            while !s.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(response) if response.status() == 200 => match response.text().await {
                        Ok(body) => {
                            o.fetch_add(1, Ordering::Relaxed);
                            *l.lock().unwrap() = body;
                        }
                        Err(e) => f.lock().unwrap().push(format!("body: {e}")),
                    },
                    Ok(response) => f.lock().unwrap().push(format!("{}", response.status())),
                    Err(e) => f.lock().unwrap().push(format!("{e}")),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Client {
            stop,
            ok,
            failed,
            last,
            task,
        }
    }

    /// Wait until the body served starts with `prefix`.
    async fn until_served(&self, prefix: &str, dev: &Started) {
        let deadline = Instant::now() + REBUILD;
        while !self.last.lock().unwrap().starts_with(prefix) {
            assert!(
                Instant::now() < deadline,
                "{prefix:?} not served within {REBUILD:?}; last: {:?}; stderr: {:#?}",
                self.last.lock().unwrap(),
                dev.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop; the number of 200s.
    async fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let failed = self.failed.lock().unwrap().clone();
        assert!(failed.is_empty(), "failed requests: {failed:?}");
        self.ok.load(Ordering::Relaxed)
    }
}

/// Wait for a stderr line of `dev` containing every needle.
async fn logged(dev: &Started, needles: &[&str]) -> String {
    let deadline = Instant::now() + REBUILD;
    loop {
        let lines = dev.stderr();
        if let Some(found) = lines
            .iter()
            .position(|l| needles.iter().all(|n| l.contains(n)))
        {
            // A failed build's output follows its line.
            return lines[found..].join("\n");
        }
        assert!(
            Instant::now() < deadline,
            "no stderr line with {needles:?}; stderr: {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The loop for `language`'s template: `source` is the file holding the
/// greeting, `broken` a line its compiler rejects with `error` in its words.
async fn dev_loop(language: &str, shown: &str, source: &str, broken: &str, error: &str) {
    let name = format!("dev-{language}");
    let project = Project::with_handler(language, &name);
    let file = project.source(&name, source);
    let original = std::fs::read_to_string(&file).unwrap();
    assert!(original.contains("Hello from"), "{original}");
    let config = project.config();
    let mut dev = Started::command(|command| {
        command
            .args(["dev", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "none"])
            .current_dir(&project.root)
            .env("CARGO_TARGET_DIR", cargo_target_dir());
    });
    let address = dev.listening(SLOW_START);
    let route = format!("route '{name}'");
    assert!(
        dev.printed(&format!("{route}: built in ")).is_some(),
        "the first build runs before serving"
    );
    let client = Client::start(format!("http://{address}/{name}"));
    client
        .until_served(&format!("Hello from {name} ({shown})!"), &dev)
        .await;

    // An edit is served, with the status line.
    std::fs::write(&file, original.replace("Hello from", "Hi from")).unwrap();
    client
        .until_served(&format!("Hi from {name} ({shown})!"), &dev)
        .await;
    logged(
        &dev,
        &[&format!("{route}: rebuilt in "), "serving generation 2"],
    )
    .await;

    // A syntax error: its words in the output, the last version serving.
    let mut bad = original.replace("Hello from", "Hi from");
    bad.push_str(broken);
    std::fs::write(&file, &bad).unwrap();
    let failure = logged(
        &dev,
        &[
            &format!("{route}: build failed after "),
            "still serving generation 2",
        ],
    )
    .await;
    assert!(failure.contains(error), "{failure}");
    let served_after_failure = client.ok.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(client.last.lock().unwrap().starts_with("Hi from"));
    assert!(client.ok.load(Ordering::Relaxed) > served_after_failure);

    // The fix is served.
    std::fs::write(&file, original.replace("Hello from", "Hey from")).unwrap();
    client
        .until_served(&format!("Hey from {name} ({shown})!"), &dev)
        .await;
    logged(
        &dev,
        &[&format!("{route}: rebuilt in "), "serving generation 3"],
    )
    .await;
    let served = client.finish().await;
    assert!(served > 10, "only {served} requests were served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_each_edit_of_a_rust_handler_and_survives_a_broken_one() {
    dev_loop("rust", "Rust", "src/lib.rs", "\nfn broken( {\n", "error").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_each_edit_of_a_python_handler_and_survives_a_broken_one() {
    dev_loop(
        "python",
        "Python",
        "app.py",
        "\ndef broken(:\n",
        "SyntaxError",
    )
    .await;
}

/// A build command that takes a second, copies the component `which.txt`
/// names, and counts the builds that ran to the end.
const SLOW_BUILD: &str = r#"
[[route]]
name = "slow"
path = "/slow"
component = "built.wasm"
[route.build]
command = "sleep 1 && cp \"$(cat which.txt)\" built.wasm && echo done >> builds.log"
watch = ["which.txt"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_during_a_build_restarts_it_never_two_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let which = dir.path().join("which.txt");
    std::fs::write(&which, component("hello").to_str().unwrap()).unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, SLOW_BUILD).unwrap();
    let mut dev = Started::command(|command| {
        command.args(["dev", "--config"]).arg(&config).args([
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "none",
        ]);
    });
    let address = dev.listening(SLOW_START);
    let url = format!("http://{address}/slow");
    let body = http1()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.starts_with("Hello from Switchyard!"), "{body}");

    // A change, then another while its build sleeps: the first build is
    // stopped (it never copies or counts), the second runs to the end.
    std::fs::write(&which, component("hello-v2").to_str().unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(&which, component("hello-v2").to_str().unwrap()).unwrap();
    logged(
        &dev,
        &["route 'slow': sources changed during the build, restarting it"],
    )
    .await;
    logged(&dev, &["route 'slow': rebuilt in ", "serving generation 2"]).await;
    let body = http1()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.starts_with("Hello again from Switchyard (v2)!"),
        "{body}"
    );
    // The first build and the restarted one ran to the end; the stopped one did not.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let builds = std::fs::read_to_string(dir.path().join("builds.log")).unwrap();
    assert_eq!(builds.lines().count(), 2, "{builds}");
    assert!(!dev
        .stderr()
        .iter()
        .any(|l| l.contains("serving generation 3")));
}
