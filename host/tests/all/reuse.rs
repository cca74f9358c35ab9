//! Opt-in instance reuse (`instance_reuse = N`): state survives between
//! requests on a reuse route and never on a normal one; a trap, a missed
//! deadline or the reuse bound replaces the instance; the guardrails (413,
//! memory, deadline, log tagging, whole lines) hold on a reused instance. Over HTTP/1.1
//! and h2c. The `counter` handler answers `count=N`, N being how many
//! requests the instance that answered has served.

use crate::common::*;
use futures::StreamExt;

/// A route serving `handler` at `path` with `instance_reuse = reuse`, plus
/// any extra keys.
fn reuse_route(path: &str, handler: &str, reuse: usize, extra: &str) -> String {
    format!("{}instance_reuse = {reuse}\n{extra}", route(path, handler))
}

/// GET `path` on `server`: status, body and request id.
async fn get_path(
    server: &TestServer,
    client: &reqwest::Client,
    path: &str,
) -> (u16, String, String) {
    let response = get(client, server.url(path)).await;
    let status = response.status().as_u16();
    let id = request_id(&response);
    (status, response.text().await.unwrap(), id)
}

/// The count a `counter` response reports.
fn count(body: &str) -> u64 {
    body.trim()
        .strip_prefix("count=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a counter answer: {body:?}"))
}

/// Counts of `n` sequential requests to `path`.
async fn counts(server: &TestServer, client: &reqwest::Client, path: &str, n: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let (status, body, _) = get_path(server, client, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        seen.push(count(&body));
    }
    seen
}

#[tokio::test]
async fn state_survives_on_a_reuse_route_and_never_on_a_normal_one() {
    let config = format!(
        "{}{}",
        route("/fresh", "counter"),
        reuse_route("/reused", "counter", 1000, "name = \"reused\"\n")
    );
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        let fresh = counts(&server, &client, "/fresh", 5).await;
        assert_eq!(
            fresh,
            [1, 1, 1, 1, 1],
            "{protocol}: a fresh instance per request"
        );
        let reused = counts(&server, &client, "/reused", 5).await;
        assert!(
            reused.windows(2).any(|w| w[1] == w[0] + 1),
            "{protocol}: one instance served consecutive requests: {reused:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn guest_output_is_tagged_with_the_request_being_served() {
    let config = reuse_route("/reused", "counter", 1000, "name = \"tagged\"\n");
    let server = TestServer::start(&config).await;
    for (_, client) in clients() {
        for _ in 0..3 {
            let (status, body, id) = get_path(&server, &client, "/reused").await;
            assert_eq!(status, 200);
            let printed = format!("stdout: counter: count={}", count(&body));
            let line = wait_for_log(&[&id, "route=tagged", "switchyard::guest"]).await;
            assert!(line.contains(&printed), "{line}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_line_written_through_several_handles_is_logged_once_whole() {
    let config = format!(
        "{}{}",
        route("/fresh", "counter").replace("[[route]]\n", "[[route]]\nname = \"split-fresh\"\n"),
        reuse_route("/reused", "counter", 1000, "name = \"split-reused\"\n")
    );
    let server = TestServer::start(&config).await;
    for (_, client) in clients() {
        for (path, route) in [
            ("/fresh?split", "split-fresh"),
            ("/reused?split", "split-reused"),
        ] {
            let (status, body, id) = get_path(&server, &client, path).await;
            assert_eq!(status, 200);
            let printed = format!("stdout: counter: count={}", count(&body));
            let route = format!("route={route}");
            wait_for_log(&[&id, &route, &printed]).await;
            // Six writes, one line: no fragment of it logged on its own.
            let lines = log_lines_with(&[&id, &route, "stdout:"]);
            assert_eq!(lines.len(), 1, "{lines:#?}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_trap_discards_the_instance_and_the_next_request_gets_a_fresh_one() {
    let config = reuse_route("/reused", "counter", 1000, "name = \"trapping\"\n");
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        let before = counts(&server, &client, "/reused", 3).await;
        assert!(before.iter().any(|&n| n > 1), "{protocol}: {before:?}");
        let (status, body, id) = get_path(&server, &client, "/reused?trap").await;
        assert_eq!(status, 500, "{protocol}: {body}");
        wait_for_log(&[&id, "route=trapping", "guest trapped"]).await;
        // The guest's panic message, tagged with the request that trapped.
        wait_for_log(&[&id, "stderr:", "trap requested"]).await;
        let after = counts(&server, &client, "/reused", 1).await;
        assert_eq!(after, [1], "{protocol}: a fresh instance after the trap");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_idle_instance_is_dropped_after_a_second() {
    let config = reuse_route("/reused", "counter", 1000, "");
    let server = TestServer::start(&config).await;
    let client = http1();
    assert_eq!(counts(&server, &client, "/reused", 2).await, [1, 2]);
    // The feature is a time: idle longer than IDLE_TIMEOUT (1 s).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        counts(&server, &client, "/reused", 1).await,
        [1],
        "an instance idle for 1.5 s served again"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_instance_serves_at_most_instance_reuse_requests() {
    let config = reuse_route("/reused", "counter", 3, "");
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        let seen = counts(&server, &client, "/reused", 10).await;
        assert!(seen.iter().all(|&n| n <= 3), "{protocol}: {seen:?}");
        assert!(seen.contains(&3), "{protocol}: {seen:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_deadline_answers_504_and_replaces_the_instance() {
    let config = format!(
        "{}{}",
        reuse_route("/misbehave", "misbehave", 1000, "timeout_ms = 500\n"),
        reuse_route(
            "/reused",
            "counter",
            1000,
            "timeout_ms = 500\nname = \"deadline\"\n"
        )
    );
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        // A guest that spins (stopped by the epoch deadline) and one blocked
        // in a host call (stopped by dropping the instance) both cost their
        // instance: the next request is served by a new one, count=1.
        for mode in ["loop", "sleep"] {
            let before = counts(&server, &client, "/reused", 2).await;
            assert!(
                before[1] > 1,
                "{protocol}: reused before ?{mode}: {before:?}"
            );
            let started = std::time::Instant::now();
            let (status, _, id) = get_path(&server, &client, &format!("/reused?{mode}")).await;
            assert_eq!(status, 504, "{protocol}: ?{mode}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(3),
                "{protocol}: ?{mode} answered after {:?}, not at the 500 ms deadline",
                started.elapsed()
            );
            wait_for_log(&[&id, "route=deadline", "deadline"]).await;
            wait_for_log(&[&id, "route=deadline", "reused instance discarded"]).await;
            let after = counts(&server, &client, "/reused", 1).await;
            assert_eq!(after, [1], "{protocol}: a fresh instance after ?{mode}");
        }

        let (status, _, id) = get_path(&server, &client, "/misbehave?mode=loop").await;
        assert_eq!(status, 504, "{protocol}");
        wait_for_log(&[&id, "deadline"]).await;
        // The same route answers the next request.
        let (status, body, _) = get_path(&server, &client, "/misbehave?mode=none").await;
        assert_eq!(status, 400, "{protocol}: {body}");
        assert!(body.contains("unknown or missing mode"), "{body}");

        // Streaming past the deadline: the response is cut, not completed.
        let response = get(&client, server.url("/misbehave?mode=slow-drip")).await;
        assert_eq!(response.status(), 200, "{protocol}");
        let mut body = response.bytes_stream();
        let mut cut = false;
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                cut = true;
                break;
            }
        }
        assert!(cut, "{protocol}: a stream past the deadline is cut short");
    }
    server.stop().await;
}

#[tokio::test]
async fn body_and_memory_limits_hold_on_a_reused_instance() {
    let config = format!(
        "{}{}",
        reuse_route(
            "/c/sha256",
            "sha256",
            1000,
            "max_request_body_bytes = 1000\n"
        ),
        reuse_route("/misbehave", "misbehave", 1000, "memory_mb = 16\n")
    );
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        assert_1000_byte_body_limit(&client, &server.url("/c/sha256"), protocol).await;

        let (status, _, id) = get_path(&server, &client, "/misbehave?mode=oom").await;
        assert_eq!(status, 500, "{protocol}");
        wait_for_log(&[&id, "ran out of memory", "limit is 16 MiB"]).await;
        let (status, _, _) = get_path(&server, &client, "/misbehave?mode=none").await;
        assert_eq!(status, 400, "{protocol}: served after the OOM");
    }
    server.stop().await;
}

/// Reuse routes run on a second engine (with wasmtime's concurrency support,
/// which the fresh path does without): turning `instance_reuse` on or off in
/// a reload moves the same bytes to the other engine instead of reusing code
/// compiled for the wrong one.
#[tokio::test]
async fn turning_instance_reuse_on_and_off_in_a_reload_moves_the_route() {
    let fresh = route("/flip", "counter");
    let server = TestServer::start_watching(&fresh).await;
    let client = http1();
    assert_eq!(counts(&server, &client, "/flip", 3).await, [1, 1, 1]);

    let until_generation = |wanted: u64| {
        let (server, client) = (&server, &client);
        async move {
            for _ in 0..200 {
                let response = get(client, server.url("/flip")).await;
                if generation(&response).parse::<u64>().unwrap() >= wanted {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            panic!("generation {wanted} never served");
        }
    };

    std::fs::write(
        &server.config_file,
        format!("{fresh}instance_reuse = 1000\n"),
    )
    .unwrap();
    until_generation(2).await;
    let reused = counts(&server, &client, "/flip", 5).await;
    assert!(
        reused.windows(2).any(|w| w[1] == w[0] + 1),
        "reused after the reload: {reused:?}"
    );

    std::fs::write(&server.config_file, &fresh).unwrap();
    until_generation(3).await;
    assert_eq!(counts(&server, &client, "/flip", 3).await, [1, 1, 1]);
    server.stop().await;
}
