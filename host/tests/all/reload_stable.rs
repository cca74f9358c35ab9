//! Hot reload reads a config only once it is stable, and follows symlinks:
//! a config written in two halves never serves its first half alone (which
//! lacks a route's `middleware = ["auth"]` line), and a Kubernetes
//! ConfigMap-style mount (`switchyard.toml -> ..data/switchyard.toml`,
//! `..data -> ..2026_…`, swapped as kubelet does) reloads on every swap.

use crate::common::*;
use std::io::Write as _;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `auth` declared, and `/private/...` on hello behind it.
fn guarded_route(token: &str) -> (String, String) {
    let first = format!(
        "[[middleware]]\nname = \"auth\"\ncomponent = \"{}\"\n\n\
         [[route]]\npath = \"/private/...\"\nname = \"private\"\ncomponent = \"{}\"\n\
         env = {{ AUTH_TOKEN = \"{token}\" }}\n",
        component("auth").display(),
        component("hello").display(),
    );
    (first, "middleware = [\"auth\"]\n".to_string())
}

/// Poll GET `url` until `check` holds; panics after `limit`.
async fn until(limit: Duration, url: &str, check: impl Fn(u16) -> bool) {
    let client = http1();
    let started = Instant::now();
    loop {
        let status = get(&client, url).await.status().as_u16();
        if check(status) {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{url}: still {status} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_written_in_two_halves_never_serves_the_first_half() {
    let (guarded, middleware_line) = guarded_route("t");
    let server = TestServer::start_watching(&format!("{guarded}{middleware_line}")).await;
    let private = server.url("/private/a");
    assert_eq!(get(&http1(), &private).await.status(), 401);

    // Probe the private route without a token the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let (opened, probes) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let probe = {
        let (stop, opened, probes, url) = (
            stop.clone(),
            opened.clone(),
            probes.clone(),
            private.clone(),
        );
        tokio::spawn(async move {
            let client = http1();
            while !stop.load(Ordering::Relaxed) {
                if get(&client, &url).await.status() == 200 {
                    opened.fetch_add(1, Ordering::Relaxed);
                }
                probes.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // The new config adds /added after the middleware line: its first half
    // is valid, has no /added, and leaves /private/... unguarded.
    let second = format!("{middleware_line}\n{}", route("/added", "hello"));
    let mut file = std::fs::File::create(&server.config_file).unwrap();
    file.write_all(guarded.as_bytes()).unwrap();
    file.flush().unwrap();
    // Longer than the watcher's quiet spell (150 ms), shorter than the
    // time a config must stay still before it is read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    file.write_all(second.as_bytes()).unwrap();
    drop(file);

    until(Duration::from_secs(10), &server.url("/added"), |s| s == 200).await;
    // A little longer, for a late reload of the first half to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    probe.await.unwrap();
    let (opened, probes) = (
        opened.load(Ordering::Relaxed),
        probes.load(Ordering::Relaxed),
    );
    assert!(probes > 20, "too few probes to mean anything: {probes}");
    assert_eq!(
        opened, 0,
        "{opened} of {probes} token-less requests got 200"
    );
    assert_eq!(get(&http1(), &private).await.status(), 401);
    server.stop().await;
}

/// Publish `config` as kubelet publishes a ConfigMap update: a new
/// timestamped folder, a `..data_tmp` link to it renamed over `..data`,
/// the old folder removed.
fn kubelet_publish(mount: &Path, version: &str, config: &str) {
    let folder = format!("..2026_12_02_00_00_{version}");
    std::fs::create_dir(mount.join(&folder)).unwrap();
    std::fs::write(mount.join(&folder).join("switchyard.toml"), config).unwrap();
    let old = std::fs::read_link(mount.join("..data")).ok();
    symlink(&folder, mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    if let Some(old) = old {
        std::fs::remove_dir_all(mount.join(old)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_style_symlink_swap_reloads() {
    let mount = tempfile::tempdir().unwrap();
    let mount = mount.path();
    let hello = route("/hello", "hello");
    kubelet_publish(mount, "01", &hello);
    symlink("..data/switchyard.toml", mount.join("switchyard.toml")).unwrap();
    let server = Process::spawn(&mount.join("switchyard.toml"), &[]);
    let client = http1();
    assert_eq!(get(&client, server.url("/hello")).await.status(), 200);
    assert_eq!(get(&client, server.url("/added")).await.status(), 404);

    kubelet_publish(mount, "02", &format!("{hello}{}", route("/added", "echo")));
    until(Duration::from_secs(10), &server.url("/added"), |s| s == 200).await;

    // The watch follows the swap: the next one reloads too.
    kubelet_publish(mount, "03", &hello);
    until(Duration::from_secs(10), &server.url("/added"), |s| s == 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_symlinked_from_another_folder_reloads_when_its_target_is_edited() {
    let (links, targets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let target = targets.path().join("real.toml");
    let hello = route("/hello", "hello");
    std::fs::write(&target, &hello).unwrap();
    symlink(&target, links.path().join("switchyard.toml")).unwrap();
    let server = Process::spawn(&links.path().join("switchyard.toml"), &[]);
    let client = http1();
    assert_eq!(get(&client, server.url("/added")).await.status(), 404);

    std::fs::write(&target, format!("{hello}{}", route("/added", "echo"))).unwrap();
    until(Duration::from_secs(10), &server.url("/added"), |s| s == 200).await;
}
