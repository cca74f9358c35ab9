//! The server log never blocks a request: lines queue for a writer thread,
//! and when stderr cannot keep up the queue drops lines and counts them
//! (`switchyard_log_lines_dropped_total`) instead of stalling the workers.
//!
//! The real binary, with its stderr a pipe this test never reads: the pipe
//! fills after a few hundred lines, and a writer on the request path would
//! then block every tokio worker in `write(2)` and the server would stop
//! answering.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Requests sent: each logs two lines (the guest's `counter: count=N` and
/// the access line), so together more than the queue (4096 lines) and the
/// pipe (64 KiB, ~300 lines) hold.
const REQUESTS: usize = 4000;

/// `switchyard_log_lines_dropped_total` in a `/metrics` text.
fn dropped(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("switchyard_log_lines_dropped_total "))
        .unwrap_or_else(|| panic!("no switchyard_log_lines_dropped_total in:\n{metrics}"))
        .trim()
        .parse()
        .unwrap()
}

/// `count` GETs of `url` from 16 keep-alive connections; panics on any
/// answer but 200.
async fn hammer(url: &str, count: usize) {
    let client = http1();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (client, next, url) = (client.clone(), next.clone(), url.to_string());
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                    let response = client.get(&url).send().await.unwrap_or_else(|e| {
                        panic!("no answer ({e}): does the log writer block on a full stderr?")
                    });
                    assert_eq!(response.status(), 200);
                    response.bytes().await.unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stderr_nobody_reads_drops_and_counts_lines_but_never_blocks_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    let routes = route("/count", "counter") + "instance_reuse = 100000\n";
    std::fs::write(&config, routes).unwrap();
    let mut child = switchyard(run_cache_home())
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Held open and never read.
    let _stderr = child.stderr.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut address = |prefix: &str| {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let address = line.trim().strip_prefix(prefix);
        address
            .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
            .to_string()
    };
    let admin = address("admin listening on http://");
    let main = address("listening on http://");
    let _kill = KillOnDrop(child);

    let started = Instant::now();
    let sent = tokio::time::timeout(
        Duration::from_secs(50),
        hammer(&format!("http://{main}/count"), REQUESTS),
    )
    .await;
    assert!(
        sent.is_ok(),
        "the server stopped answering after {:?}: its log writer blocks on a full stderr",
        started.elapsed()
    );
    let metrics = get_text(&http1(), format!("http://{admin}/metrics"))
        .await
        .1;
    let lost = dropped(&metrics);
    // 8000 lines went into a queue of 4096 lines and a pipe of ~300.
    assert!(
        lost >= 2000,
        "{lost} lines counted as dropped of {}",
        2 * REQUESTS
    );
    assert!(
        lost <= 2 * REQUESTS as u64,
        "{lost} dropped of {}",
        2 * REQUESTS
    );
}

#[tokio::test]
async fn a_stderr_that_is_read_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, route("/count", "counter")).unwrap();
    let server = Process::spawn_env(
        &config,
        &["--admin-listen", "127.0.0.1:0"],
        &[("RUST_LOG", "info")],
    );
    hammer(&server.url("/count"), 200).await;
    let admin = server.admin.unwrap();
    let metrics = get_text(&http1(), format!("http://{admin}/metrics"))
        .await
        .1;
    assert_eq!(dropped(&metrics), 0);
    // Every request's access line and guest line reached stderr.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = server.stderr.lock().unwrap().clone();
        let access = lines
            .iter()
            .filter(|l| l.contains("path=/count") && l.contains("status=200"))
            .count();
        let guest = lines
            .iter()
            .filter(|l| l.contains("counter: count=1"))
            .count();
        if access == 200 && guest == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{access} access lines and {guest} guest lines of 200"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the child when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
