//! Observability: `/metrics` moves with traffic (status classes, latency and
//! instantiation histograms, bytes, in-flight, reloads, limit hits, the
//! `route="-"` of unrouted requests), `/healthz` and `/readyz` (503 while
//! the real binary compiles its routes), the access log in human and JSON
//! form with its generation and outcome, and request ids taken from the
//! client when valid.
//!
//! The metrics recorder is one per process and test binaries run tests in
//! parallel, so every in-process test here uses route names of its own and
//! compares before/after values of its own series; exact counts of series
//! any test may move (reloads, `route="-"`) come from the real binary.

use crate::common::*;
use futures::StreamExt;
use std::time::{Duration, Instant};

/// The sum of every sample of `name` whose labels include all of `labels`
/// (0 when there is none).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let wanted = metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            wanted.then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

/// A server with an admin listener to scrape: in-process, or the real
/// binary (whose metrics are its own, so its counts are exact: in this
/// test process, other tests move the unlabelled series too).
trait Scraped {
    fn metrics_url(&self) -> String;
}

impl Scraped for TestServer {
    fn metrics_url(&self) -> String {
        self.admin_url("/metrics")
    }
}

impl Scraped for Process {
    fn metrics_url(&self) -> String {
        let admin = self.admin.expect("started with --admin-listen");
        format!("http://{admin}/metrics")
    }
}

async fn scrape(server: &impl Scraped) -> String {
    let response = get(&http1(), server.metrics_url()).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().await.unwrap()
}

/// Scrape until `check` holds (the access record is written when the server
/// finishes the body, which may be just after the client has it all).
async fn scrape_until(server: &impl Scraped, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = scrape(server).await;
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what}; last scrape:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// GET `url` sending `x-request-id: id`.
async fn get_as(client: &reqwest::Client, url: String, id: &str) -> reqwest::Response {
    client
        .get(url)
        .header("x-request-id", id)
        .send()
        .await
        .unwrap()
}

fn named(path: &str, handler: &str, name: &str) -> String {
    format!("{}name = \"{name}\"\n", route(path, handler))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_bytes_latency_and_limit_hits() {
    let config = format!(
        "{}{}max_request_body_bytes = 1024\n{}timeout_ms = 500\nmemory_mb = 64\n{}",
        named("/m/hello", "hello", "m-hello"),
        named("/m/echo", "echo", "m-echo"),
        named("/m/misbehave", "misbehave", "m-misbehave"),
        named("/m/fetch", "fetch", "m-fetch"),
    );
    let server = TestServer::start_with_admin(&config, None).await;
    let before = scrape(&server).await;
    let client = http1();

    let mut hello_bytes = 0;
    for _ in 0..3 {
        let response = get(&client, server.url("/m/hello")).await;
        assert_eq!(response.status(), 200);
        hello_bytes += response.bytes().await.unwrap().len();
    }
    let echoed = post(&client, server.url("/m/echo"), vec![b'x'; 100]).await;
    assert_eq!(echoed.status(), 200);
    assert_eq!(echoed.bytes().await.unwrap().len(), 100);
    let too_big = post(&client, server.url("/m/echo"), vec![b'x'; 2000]).await;
    assert_eq!(too_big.status(), 413);
    let refusal_bytes = too_big.bytes().await.unwrap().len();
    for (mode, status) in [("trap", 500), ("loop", 504), ("oom", 500)] {
        let response = get(&client, server.url(&format!("/m/misbehave?mode={mode}"))).await;
        assert_eq!(response.status(), status, "mode={mode}");
        response.bytes().await.unwrap();
    }
    // Past the deadline mid-stream: a 200 cut short, also a timeout.
    let dripping = get(&client, server.url("/m/misbehave?mode=slow-drip")).await;
    assert_eq!(dripping.status(), 200);
    assert!(dripping.bytes().await.is_err(), "the stream is cut short");
    let denied = get(&client, server.url("/m/fetch?url=http://127.0.0.2:9/x")).await;
    assert_eq!(denied.status(), 502);
    denied.bytes().await.unwrap();

    let after = scrape_until(&server, "all 10 requests counted", |text| {
        ["m-hello", "m-echo", "m-misbehave", "m-fetch"]
            .iter()
            .map(|r| sample(text, "switchyard_requests_total", &[("route", r)]))
            .sum::<f64>()
            == 10.0
    })
    .await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    // The cut stream had sent its 200 head: m-misbehave's one 2xx.
    for (route, status, want) in [
        ("m-hello", "2xx", 3.0),
        ("m-echo", "2xx", 1.0),
        ("m-echo", "4xx", 1.0),
        ("m-misbehave", "5xx", 3.0),
        ("m-fetch", "5xx", 1.0),
        ("m-misbehave", "2xx", 1.0),
    ] {
        let labels = [("route", route), ("status", status)];
        let got = delta("switchyard_requests_total", &labels);
        assert_eq!(got, want, "requests {labels:?}");
    }

    let latency = "switchyard_request_duration_seconds_count";
    assert_eq!(delta(latency, &[("route", "m-hello")]), 3.0);
    assert_eq!(
        delta(
            "switchyard_request_duration_seconds_bucket",
            &[("route", "m-hello"), ("le", "+Inf")]
        ),
        3.0
    );
    assert!(
        delta(
            "switchyard_request_duration_seconds_sum",
            &[("route", "m-misbehave")]
        ) >= 0.5
    );
    // The 413 was refused before any instance was made.
    assert_eq!(
        delta(
            "switchyard_instantiation_seconds_count",
            &[("route", "m-hello")]
        ),
        3.0
    );
    assert_eq!(
        delta(
            "switchyard_instantiation_seconds_count",
            &[("route", "m-echo")]
        ),
        1.0
    );

    assert_eq!(
        delta(
            "switchyard_response_body_bytes_total",
            &[("route", "m-hello")]
        ),
        hello_bytes as f64
    );
    // The echoed 100 bytes and the host's 413 text, exactly.
    assert_eq!(
        delta(
            "switchyard_response_body_bytes_total",
            &[("route", "m-echo")]
        ),
        (100 + refusal_bytes) as f64
    );
    assert_eq!(
        delta(
            "switchyard_request_body_bytes_total",
            &[("route", "m-echo")]
        ),
        100.0
    );

    for (route, limit, want) in [
        ("m-echo", "request_body", 1.0),
        ("m-misbehave", "timeout", 2.0),
        ("m-misbehave", "memory", 1.0),
        ("m-fetch", "outbound_denied", 1.0),
    ] {
        let labels = [("route", route), ("limit", limit)];
        let got = delta("switchyard_limit_hits_total", &labels);
        assert_eq!(got, want, "limit hits {labels:?}");
    }
    assert_eq!(
        sample(
            &after,
            "switchyard_requests_in_flight",
            &[("route", "m-hello")]
        ),
        0.0
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_gauge_follows_a_streaming_response_and_a_full_route_is_a_limit_hit() {
    let config = format!(
        "{}max_concurrency = 1\n[server]\nqueue_timeout_ms = 50\n",
        named("/m/stream", "stream", "m-stream")
    );
    let server = TestServer::start_with_admin(&config, None).await;
    let in_flight = |text: &str| {
        sample(
            text,
            "switchyard_requests_in_flight",
            &[("route", "m-stream")],
        )
    };
    let full = |text: &str| {
        sample(
            text,
            "switchyard_limit_hits_total",
            &[("route", "m-stream"), ("limit", "concurrency")],
        )
    };
    let response = get(
        &http1(),
        server.url("/m/stream?bytes=4&chunk=1&delay_ms=300"),
    )
    .await;
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    let during = scrape(&server).await;
    assert_eq!(in_flight(&during), 1.0, "{during}");
    // The only slot is taken: a second request waits 50 ms, then 503.
    let refused = get(&http1(), server.url("/m/stream?bytes=1")).await;
    assert_eq!(refused.status(), 503);
    refused.bytes().await.unwrap();
    let after = scrape_until(&server, "the 503 counted", |text| {
        sample(
            text,
            "switchyard_requests_total",
            &[("route", "m-stream"), ("status", "5xx")],
        ) == 1.0
    })
    .await;
    assert_eq!(full(&after) - full(&during), 1.0, "{after}");
    while let Some(chunk) = body.next().await {
        chunk.unwrap();
    }
    scrape_until(&server, "in-flight back to 0", |text| {
        in_flight(text) == 0.0
    })
    .await;
    server.stop().await;
}

const TOKEN: &str = "metrics-admin-token-0123456789";

/// Replace `file` with `bytes` as build tools do: written aside, renamed over.
fn replace(file: &std::path::Path, bytes: &[u8]) {
    let aside = file.with_extension("wasm.tmp");
    std::fs::write(&aside, bytes).unwrap();
    std::fs::rename(&aside, file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_and_reload_failures_are_counted() {
    // The real binary, watching, with the admin API on: exact counts.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m-reload.wasm");
    std::fs::copy(component("hello"), &file).unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "[[route]]\npath = \"/m/reload\"\nname = \"m-reload\"\ncomponent = \"{}\"\n",
            file.display()
        ),
    )
    .unwrap();
    let server = Process::spawn_env(
        &config,
        &["--admin-listen", "127.0.0.1:0"],
        &[("SWITCHYARD_ADMIN_TOKEN", TOKEN)],
    );
    let reloads = |text: &str| sample(text, "switchyard_reloads_total", &[]);
    let failures = |text: &str| sample(text, "switchyard_reload_failures_total", &[]);
    let start = scrape(&server).await;
    assert_eq!((reloads(&start), failures(&start)), (0.0, 0.0), "{start}");

    // A rebuilt component, hot-reloaded: one swap.
    replace(&file, &std::fs::read(component("hello-v2")).unwrap());
    stderr_line(&server, &["route 'm-reload' reloaded: generation 1 → 2"]);
    let reloaded = scrape_until(&server, "the hot reload counted", |t| reloads(t) == 1.0).await;
    assert_eq!(failures(&reloaded), 0.0, "{reloaded}");

    // A swap through the admin API: counted too, before its answer.
    let put = http1()
        .put(format!(
            "http://{}/admin/routes/m-reload/component",
            server.admin.unwrap()
        ))
        .bearer_auth(TOKEN)
        .body(std::fs::read(component("hello")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let put: serde_json::Value = put.json().await.unwrap();
    assert_eq!(put["generation"], 3, "{put}");
    let swapped = scrape(&server).await;
    assert_eq!(
        (reloads(&swapped), failures(&swapped)),
        (2.0, 0.0),
        "{swapped}"
    );

    // A broken write keeps generation 3: only the failures grow.
    replace(&file, b"not a component");
    stderr_line(&server, &["route=m-reload", "reload failed"]);
    let failed = scrape_until(&server, "a reload failure counted", |t| failures(t) >= 1.0).await;
    assert_eq!(
        reloads(&failed),
        2.0,
        "a failed reload is no swap: {failed}"
    );
    let (status, generation, body) = get_generation(&http1(), server.url("/m/reload")).await;
    assert_eq!((status, generation.as_str()), (200, "3"), "{body}");
}

#[tokio::test]
async fn healthz_and_readyz() {
    let server = TestServer::start_with_admin(&named("/m/ready", "hello", "m-ready"), None).await;
    let client = http1();
    let health = get(&client, server.admin_url("/healthz")).await;
    assert_eq!(health.status(), 200);
    let ready = get_text(&client, server.admin_url("/readyz")).await;
    assert_eq!(ready, (200, "ready: 1 routes loaded\n".to_string()));
    let other = get(&client, server.admin_url("/nope")).await;
    assert_eq!(other.status(), 404);
    // The admin listener does not serve routes, nor the main one metrics.
    let route = get(&client, server.admin_url("/m/ready")).await;
    assert_eq!(route.status(), 404);
    let metrics = get(&client, server.url("/metrics")).await;
    assert_eq!(metrics.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn readyz_is_503_until_the_routes_are_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, named("/m/late", "hello", "m-late")).unwrap();
    let config = switchyard::Config::load(&file).unwrap();
    let admin = std::sync::Arc::new(switchyard::admin::Admin::new(&config, None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(switchyard::admin::serve(listener, admin.clone()));
    let client = http1();
    let loading = get(&client, format!("{url}/readyz")).await;
    assert_eq!(loading.status(), 503);
    let health = get(&client, format!("{url}/healthz")).await;
    assert_eq!(health.status(), 200);

    let service = tokio::task::spawn_blocking(move || switchyard::load(host(), &config))
        .await
        .unwrap()
        .unwrap();
    admin.ready(service.registry().clone());
    let ready = get(&client, format!("{url}/readyz")).await;
    assert_eq!(ready.status(), 200);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_is_not_ready_while_it_compiles_its_routes() {
    // The Python component compiles for seconds, with an empty cache.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, named("/py/items", "items", "m-items")).unwrap();
    let cache = dir.path().join("cache");
    let mut server = Started::spawn(
        &config,
        &[
            "--no-watch",
            "--admin-listen",
            "127.0.0.1:0",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    );
    let admin = server.wait_printed("admin listening on http://", Duration::from_secs(60));
    let client = http1();
    // Poll until the main listener is announced: the routes are loaded.
    let deadline = Instant::now() + SLOW_START;
    let (mut statuses, mut healthy_while_loading) = (Vec::new(), false);
    while server.printed("listening on http://").is_none() {
        assert!(
            Instant::now() < deadline,
            "routes not loaded in {SLOW_START:?}"
        );
        let (status, text) = get_text(&client, format!("http://{admin}/readyz")).await;
        if status == 503 {
            assert_eq!(text, "not ready: loading routes\n");
            if !healthy_while_loading {
                let health = get(&client, format!("http://{admin}/healthz")).await;
                assert_eq!(health.status(), 200, "/healthz while loading");
                healthy_while_loading = true;
            }
        }
        statuses.push(status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        statuses.first() == Some(&503),
        "/readyz must be 503 while the route compiles: {statuses:?}"
    );
    // 503 until ready, then 200 for good (ready comes just before the line).
    let turned = statuses
        .iter()
        .position(|&s| s != 503)
        .unwrap_or(statuses.len());
    assert!(statuses[turned..].iter().all(|&s| s == 200), "{statuses:?}");
    let ready = get_text(&client, format!("http://{admin}/readyz")).await;
    assert_eq!(ready, (200, "ready: 1 routes loaded\n".to_string()));
}

#[tokio::test]
async fn unrouted_requests_are_counted_under_route_dash() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, named("/m/routed", "hello", "m-routed")).unwrap();
    let server = Process::spawn(&config, &["--no-watch", "--admin-listen", "127.0.0.1:0"]);
    let client = http1();
    for i in 0..3 {
        let response = get_as(&client, server.url("/m/nowhere"), &format!("unrouted-{i}")).await;
        assert_eq!(response.status(), 404);
        response.bytes().await.unwrap();
    }
    let routed = get(&client, server.url("/m/routed")).await;
    assert_eq!(routed.status(), 200);
    routed.bytes().await.unwrap();
    let requests =
        |text: &str, labels: &[(&str, &str)]| sample(text, "switchyard_requests_total", labels);
    let text = scrape_until(&server, "all 4 requests counted", |t| {
        requests(t, &[]) == 4.0
    })
    .await;
    assert_eq!(
        requests(&text, &[("route", "-"), ("status", "4xx")]),
        3.0,
        "{text}"
    );
    assert_eq!(requests(&text, &[("route", "-")]), 3.0, "{text}");
    assert_eq!(
        requests(&text, &[("route", "m-routed"), ("status", "2xx")]),
        1.0,
        "{text}"
    );
    let line = stderr_line(&server, &["switchyard::access", "request_id=unrouted-0 "]);
    for field in ["route=-", "status=404", "path=/m/nowhere"] {
        assert!(line.contains(field), "no {field} in {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_line_outcome_is_complete_cut_short_or_client_gone() {
    let config = format!(
        "{}{}{}",
        named("/m/outcome/hello", "hello", "m-outcome-hello"),
        named("/m/outcome/misbehave", "misbehave", "m-outcome-misbehave"),
        named("/m/outcome/stream", "stream", "m-outcome-stream"),
    );
    let server = TestServer::start(&config).await;
    // The access line of the request with `id`, once written.
    let access = |id: String| async move {
        wait_for_log(&["switchyard::access", &format!("request_id={id} ")]).await
    };
    for (protocol, client) in clients() {
        let tag = if protocol == "HTTP/1.1" { "h1" } else { "h2" };

        let id = format!("outcome-{tag}-whole");
        let response = get_as(&client, server.url("/m/outcome/hello"), &id).await;
        assert_eq!(response.status(), 200);
        let size = response.bytes().await.unwrap().len();
        let line = access(id).await;
        for field in ["outcome=complete", &format!("bytes={size}")] {
            assert!(line.contains(field), "{protocol}: no {field} in {line}");
        }

        // The guest sends 200 and three `partial\n` chunks, then traps.
        let id = format!("outcome-{tag}-trapped");
        let url = server.url("/m/outcome/misbehave?mode=late-trap");
        let response = get_as(&client, url, &id).await;
        assert_eq!(response.status(), 200);
        assert!(response.bytes().await.is_err(), "{protocol}: not cut");
        let line = access(id).await;
        for field in ["outcome=cut short", "status=200", "bytes=24"] {
            assert!(line.contains(field), "{protocol}: no {field} in {line}");
        }

        // 100 one-byte chunks, 100 ms apart: the client leaves after one.
        let id = format!("outcome-{tag}-left");
        let url = server.url("/m/outcome/stream?bytes=100&chunk=1&delay_ms=100");
        let response = get_as(&client, url, &id).await;
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        body.next().await.unwrap().unwrap();
        drop(body);
        let line = access(id).await;
        assert!(line.contains("outcome=client gone"), "{protocol}: {line}");
    }
    server.stop().await;
}

#[tokio::test]
async fn access_line_has_size_and_adopts_a_valid_request_id() {
    let server = TestServer::start(&named("/m/access", "hello", "m-access")).await;
    let client = http1();
    let response = get_as(&client, server.url("/m/access"), "client-id.42:a_b").await;
    assert_eq!(request_id(&response), "client-id.42:a_b");
    let size = response.bytes().await.unwrap().len();
    let line = wait_for_log(&["switchyard::access", "request_id=client-id.42:a_b"]).await;
    for field in [
        "method=GET",
        "path=/m/access",
        "route=m-access",
        "status=200",
        "generation=1",
        &format!("bytes={size}"),
        "micros=",
    ] {
        assert!(line.contains(field), "no {field} in {line}");
    }

    let long = "a".repeat(200);
    for hostile in ["has space", "quote\"d", "semi;colon", long.as_str()] {
        let response = get_as(&client, server.url("/m/access"), hostile).await;
        let id = request_id(&response);
        assert_ne!(id, hostile);
        assert!(!id.is_empty() && id.len() <= 128, "{id}");
        wait_for_log(&["switchyard::access", &format!("request_id={id}")]).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_line_generation_follows_a_reload() {
    let server = TestServer::start_watching("").await;
    let file = server.path("m-gen.wasm");
    std::fs::copy(component("hello"), &file).unwrap();
    std::fs::write(
        &server.config_file,
        format!(
            "[[route]]\npath = \"/m/gen\"\nname = \"m-gen\"\ncomponent = \"{}\"\n",
            file.display()
        ),
    )
    .unwrap();
    wait_for_log(&["route=m-gen", "route added"]).await;
    let client = http1();
    let first = get_as(&client, server.url("/m/gen"), "generation-one").await;
    assert_eq!(first.status(), 200);
    first.bytes().await.unwrap();
    let line = wait_for_log(&["switchyard::access", "request_id=generation-one "]).await;
    assert!(line.contains("route=m-gen generation=1 "), "{line}");

    replace(&file, &std::fs::read(component("hello-v2")).unwrap());
    wait_for_log(&["route 'm-gen' reloaded: generation 1 → 2"]).await;
    let second = get_as(&client, server.url("/m/gen"), "generation-two").await;
    assert_eq!(generation(&second), "2");
    second.bytes().await.unwrap();
    let line = wait_for_log(&["switchyard::access", "request_id=generation-two "]).await;
    assert!(line.contains("route=m-gen generation=2 "), "{line}");
    server.stop().await;
}

#[test]
fn json_logs_from_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, named("/hello", "hello", "hello")).unwrap();
    let process = Process::spawn(
        &config,
        &["--log-format", "json", "--admin-listen", "127.0.0.1:0"],
    );
    let admin = process.admin.expect("an admin listening line");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (size, metrics) = runtime.block_on(async {
        let client = http1();
        let response = get_as(&client, process.url("/hello"), "json-test-1").await;
        assert_eq!(request_id(&response), "json-test-1");
        let size = response.bytes().await.unwrap().len();
        let (_, metrics) = get_text(&client, format!("http://{admin}/metrics")).await;
        (size, metrics)
    });
    assert!(metrics.contains("switchyard_requests_total"), "{metrics}");

    let deadline = Instant::now() + Duration::from_secs(5);
    let access = loop {
        let lines = process.stderr.lock().unwrap().clone();
        let parsed: Vec<serde_json::Value> = lines
            .iter()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect();
        if let Some(access) = parsed
            .into_iter()
            .find(|v| v["request_id"] == "json-test-1")
        {
            break access;
        }
        assert!(Instant::now() < deadline, "no access line in {lines:#?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(access["target"], "switchyard::access");
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["path"], "/hello");
    assert_eq!(access["route"], "hello");
    assert_eq!(access["status"], 200);
    assert_eq!(access["generation"], 1);
    assert_eq!(access["bytes"], size as u64);
    assert!(access["micros"].as_u64().is_some(), "{access}");
}
