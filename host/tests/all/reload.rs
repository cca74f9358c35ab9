//! Hot reload: rebuilt components and config edits are served live, with no
//! failed request; broken writes keep the last good version serving.

use crate::common::*;
use futures::StreamExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const V1: &str = "Hello from Switchyard!";
const V2: &str = "Hello again from Switchyard (v2)!";

/// Write `bytes` to `path` the way tools do: some truncate and write in
/// place (cargo, editors), some write a temporary file and rename it over.
fn write_like_a_tool(path: &Path, bytes: &[u8], rename: bool) {
    if rename {
        let tmp = path.with_extension("wasm.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    } else {
        std::fs::write(path, bytes).unwrap();
    }
}

/// Poll until `check` holds for a GET of `url`; panics after `limit`.
async fn served_within(
    limit: Duration,
    url: &str,
    check: impl Fn(u16, &str, &str) -> bool,
) -> Duration {
    let client = http1();
    let started = Instant::now();
    loop {
        let (status, generation, body) = get_generation(&client, url).await;
        if check(status, &generation, &body) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "not served within {limit:?}; last answer: {status} gen {generation}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn route_to(path: &str, name: &str, file: &Path) -> String {
    format!(
        "[[route]]\npath = \"{path}\"\nname = \"{name}\"\ncomponent = \"{}\"\n",
        file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternating_versions_under_load_fail_no_request() {
    let files = tempfile::tempdir().unwrap();
    let wasm = files.path().join("hello.wasm");
    let v1 = std::fs::read(component("hello")).unwrap();
    let v2 = std::fs::read(component("hello-v2")).unwrap();
    std::fs::write(&wasm, &v1).unwrap();
    let server = TestServer::start_watching(&route_to("/hello", "load", &wasm)).await;
    let url = server.url("/hello");

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
            tokio::spawn(async move {
                let client = http1();
                while !stop.load(Ordering::Relaxed) {
                    let result = client.get(&url).send().await;
                    let good = match result {
                        Ok(response) if response.status() == 200 => match response.text().await {
                            Ok(body) => body.starts_with(V1) || body.starts_with(V2),
                            Err(_) => false,
                        },
                        _ => false,
                    };
                    if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    for round in 0..6 {
        let (bytes, marker) = if round % 2 == 0 { (&v2, V2) } else { (&v1, V1) };
        write_like_a_tool(&wasm, bytes, round % 3 == 1);
        let took = served_within(Duration::from_secs(2), &url, |status, _, body| {
            status == 200 && body.starts_with(marker)
        })
        .await;
        eprintln!("round {round}: new version served {took:?} after the write");
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
    assert!(
        ok > 50,
        "the load was too light to mean anything: {ok} requests"
    );
    let (_, generation, _) = get_generation(&http1(), &url).await;
    assert_eq!(generation, "7", "six swaps after generation 1");
    server.stop().await;
}

#[tokio::test]
async fn a_slow_stream_finishes_on_the_old_version_after_a_swap() {
    let files = tempfile::tempdir().unwrap();
    let wasm = files.path().join("slow.wasm");
    std::fs::copy(component("stream"), &wasm).unwrap();
    let server = TestServer::start_watching(&route_to("/slow", "slow", &wasm)).await;

    let response = get(
        &http1(),
        server.url("/slow?bytes=6000&chunk=1000&delay_ms=250"),
    )
    .await;
    let mut body = response.bytes_stream();
    let mut received = body.next().await.unwrap().unwrap().to_vec();

    // Replace the route's component with hello while the stream is running.
    write_like_a_tool(&wasm, &std::fs::read(component("hello")).unwrap(), true);
    served_within(
        Duration::from_secs(2),
        &server.url("/slow"),
        |_, _, body| body.starts_with(V1),
    )
    .await;

    while let Some(chunk) = body.next().await {
        received.extend_from_slice(&chunk.expect("the old version's body completes"));
    }
    assert_eq!(received.len(), 6000);
    assert!(received
        .iter()
        .enumerate()
        .all(|(i, &b)| b == b'a' + (i % 26) as u8));
    server.stop().await;
}

#[tokio::test]
async fn broken_writes_keep_the_last_good_version_serving() {
    let files = tempfile::tempdir().unwrap();
    let wasm = files.path().join("fragile.wasm");
    let good = std::fs::read(component("hello")).unwrap();
    std::fs::write(&wasm, &good).unwrap();
    let server = TestServer::start_watching(&route_to("/fragile", "fragile", &wasm)).await;
    let url = server.url("/fragile");
    let file = wasm.display().to_string();

    let wrong_world = wat::parse_str("(component)").unwrap();
    let unsatisfiable = wat::parse_str(
        r#"(component (import "switchyard:nowhere/missing@0.1.0" (instance (export "f" (func)))))"#,
    )
    .unwrap();
    let broken: [(&str, &[u8], &str); 4] = [
        (
            "garbage",
            b"this is not wasm at all",
            "not a WebAssembly file",
        ),
        (
            "truncated",
            &good[..good.len() / 3],
            "not a valid component",
        ),
        (
            "wrong world",
            &wrong_world,
            "exports neither wasi:http/handler@0.3.0 nor wasi:http/incoming-handler@0.2.x",
        ),
        (
            "unsatisfiable import",
            &unsatisfiable,
            "cannot satisfy the component's imports",
        ),
    ];
    for (what, bytes, reason) in broken {
        std::fs::write(&wasm, bytes).unwrap();
        let line = wait_for_log(&["route=fragile", &file, reason]).await;
        assert!(
            line.contains("still serving generation 1"),
            "{what}: {line}"
        );
        assert!(
            line.contains("route 'fragile' (/fragile)"),
            "{what}: {line}"
        );
        let (status, generation, body) = get_generation(&http1(), &url).await;
        assert_eq!((status, generation.as_str()), (200, "1"), "{what}");
        assert!(body.starts_with(V1), "{what}: {body}");
    }

    // Writing the same good bytes back is not a new version.
    std::fs::write(&wasm, &good).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, generation, _) = get_generation(&http1(), &url).await;
    assert_eq!(generation, "1", "unchanged bytes must not be reloaded");

    write_like_a_tool(&wasm, &std::fs::read(component("hello-v2")).unwrap(), false);
    served_within(Duration::from_secs(2), &url, |status, generation, body| {
        status == 200 && generation == "2" && body.starts_with(V2)
    })
    .await;
    // The swap's line names the new bytes and how long it took.
    let line = wait_for_log(&["route=fragile", "generation 1 → 2"]).await;
    let v2_sha256 = switchyard::digest_hex(&switchyard::digest(
        &std::fs::read(component("hello-v2")).unwrap(),
    ));
    for field in [
        format!("sha256={v2_sha256}"),
        "compile_ms=".into(),
        "reload_ms=".into(),
    ] {
        assert!(line.contains(&field), "{field} missing: {line}");
    }
    server.stop().await;
}

#[tokio::test]
async fn config_edits_add_remove_and_retarget_routes_live() {
    let initial = route("/a", "hello");
    let server = TestServer::start_watching(&initial).await;
    let config = server.config_file.clone();
    let edit = |text: String| std::fs::write(&config, text).unwrap();
    let limit = Duration::from_secs(2);

    // Add a route.
    edit(format!("{initial}{}", route("/b", "env")));
    served_within(limit, &server.url("/b"), |status, _, body| {
        status == 200 && body.trim() == "{}"
    })
    .await;
    // Moving routes around recompiles nothing: /a is still generation 1.
    let (_, generation, _) = get_generation(&http1(), &server.url("/a")).await;
    assert_eq!(generation, "1");

    // Remove it.
    edit(initial.clone());
    served_within(limit, &server.url("/b"), |status, _, _| status == 404).await;

    // Re-point /a at another component.
    edit(route("/a", "echo").replace("[[route]]\n", "[[route]]\nname = \"hello\"\n"));
    served_within(limit, &server.url("/a"), |status, generation, body| {
        status == 200 && generation == "2" && body.is_empty()
    })
    .await;

    // A config with an error changes nothing.
    let file = config.display().to_string();
    edit("[[route]\nthis is not toml".into());
    wait_for_log(&["reload failed", &file, "invalid config file"]).await;
    // Its valid part would re-point /a at hello and add /b: neither happens.
    edit(format!(
        "{}{}{}",
        route("/a", "hello"),
        route("/b", "env"),
        "[[route]]\npath = \"/c\"\ncomponent = \"/nonexistent/c.wasm\"\n"
    ));
    wait_for_log(&["reload failed", "route 'c' (/c)", "/nonexistent/c.wasm"]).await;
    let (status, generation, body) = get_generation(&http1(), &server.url("/a")).await;
    assert_eq!((status, generation.as_str(), body.as_str()), (200, "2", ""));
    for path in ["/b", "/c"] {
        let (status, _, _) = get_generation(&http1(), &server.url(path)).await;
        assert_eq!(status, 404, "{path} from a config that failed to load");
    }
    server.stop().await;
}

#[tokio::test]
async fn no_watch_ignores_writes_and_sighup_reloads() {
    let files = tempfile::tempdir().unwrap();
    let wasm = files.path().join("hup.wasm");
    std::fs::copy(component("hello"), &wasm).unwrap();
    let config = files.path().join("switchyard.toml");
    std::fs::write(&config, route_to("/hup", "hup", &wasm)).unwrap();
    let server = Process::spawn(&config, &["--no-watch"]);
    let url = server.url("/hup");
    // A witness watching the same files: once it serves the new version,
    // a server that watched would have too.
    let witness = Process::spawn(&config, &[]);

    write_like_a_tool(&wasm, &std::fs::read(component("hello-v2")).unwrap(), true);
    // Generous: this test is about whether each server reloads, not how fast
    // (alternating_versions_under_load_fail_no_request covers that), and the
    // two processes compete with the rest of the suite for two cores.
    served_within(
        Duration::from_secs(10),
        &witness.url("/hup"),
        |status, generation, _| status == 200 && generation == "2",
    )
    .await;
    let (_, generation, body) = get_generation(&http1(), &url).await;
    assert!(
        body.starts_with(V1) && generation == "1",
        "--no-watch must not reload: {body}"
    );

    sighup_serves_v2(&server, &url).await;
}

/// SIGHUP `server`; `url` must then serve hello-v2 as generation 2, and
/// the log say why.
async fn sighup_serves_v2(server: &Process, url: &str) {
    server.signal("HUP");
    served_within(Duration::from_secs(10), url, |status, generation, body| {
        status == 200 && generation == "2" && body.starts_with(V2)
    })
    .await;
    // Log lines reach stderr through the log's writer thread, a moment
    // after the swap they describe.
    stderr_line(server, &["SIGHUP: reloading"]);
    stderr_line(server, &["generation 1 → 2"]);
}

#[tokio::test]
async fn sighup_reloads_a_watching_server_too() {
    // The route's file is a symlink into a folder the watcher does not
    // watch (it watches the folders of the config and of the routed paths
    // as written), so rewriting the link's target is a change only SIGHUP
    // can bring in.
    let files = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("real.wasm");
    std::fs::copy(component("hello"), &target).unwrap();
    let wasm = files.path().join("hup.wasm");
    std::os::unix::fs::symlink(&target, &wasm).unwrap();
    let config = files.path().join("switchyard.toml");
    std::fs::write(&config, route_to("/hup", "hup", &wasm)).unwrap();
    let server = Process::spawn(&config, &[]);
    let url = server.url("/hup");

    std::fs::write(&target, std::fs::read(component("hello-v2")).unwrap()).unwrap();
    let (_, generation, body) = get_generation(&http1(), &url).await;
    assert!(body.starts_with(V1) && generation == "1", "{body}");
    sighup_serves_v2(&server, &url).await;
}

#[tokio::test]
async fn non_rust_handlers_hot_reload_too() {
    // A C handler, rebuilt in place as the Zig one: the route follows.
    let files = tempfile::tempdir().unwrap();
    let wasm = files.path().join("poly.wasm");
    std::fs::copy(component("sha256"), &wasm).unwrap();
    let server = TestServer::start_watching(&route_to("/zig/...", "poly", &wasm)).await;
    let (_, digest) = post_text(&http1(), server.url("/zig/primes"), "abc").await;
    assert!(digest.starts_with("ba7816bf"), "{digest}");

    write_like_a_tool(&wasm, &std::fs::read(component("primes")).unwrap(), true);
    served_within(
        Duration::from_secs(2),
        &server.url("/zig/primes?limit=10"),
        |status, generation, body| status == 200 && generation == "2" && body == "2\n3\n5\n7\n",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn an_edit_of_an_outbound_timeout_alone_takes_effect() {
    // A server that accepts and never answers.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/", stalled.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = stalled.accept().await {
            held.push(stream);
        }
    });
    let config = |extra: &str| {
        format!(
            "[[route]]\npath = \"/fetch\"\nname = \"fetch-retimed\"\ncomponent = \"{}\"\n\
             allowed_outbound_hosts = [\"http://127.0.0.1:*\"]\ntimeout_ms = 20000\n{extra}",
            component("fetch").display()
        )
    };
    let server = TestServer::start_watching(&config("")).await;
    std::fs::write(
        &server.config_file,
        config("outbound_first_byte_timeout_ms = 300\n"),
    )
    .unwrap();
    wait_for_log(&["route=fetch-retimed", "route settings changed"]).await;

    let started = Instant::now();
    let response = get(&http1(), server.url(&format!("/fetch?url={target}"))).await;
    let (took, status) = (started.elapsed(), response.status());
    let body = response.text().await.unwrap();
    // Under the old 30 s first-byte timeout this would wait for the
    // route's 20 s deadline and end in a 504.
    assert!(
        took < Duration::from_secs(5) && status == 502 && body.contains("timeout"),
        "after {took:?}: {status} {body}: the edited outbound_first_byte_timeout_ms was ignored"
    );
    server.stop().await;
}
