//! Traces: the real binary exporting OTLP/HTTP to a real receiver
//! (`common/otlp.rs`, decoding the protobuf with the OpenTelemetry types).
//! One trace per request through its chain, the caller's `traceparent`
//! continued and handed on to upstreams and guests' outbound targets,
//! failures as error spans, a collector that is down or stuck costing
//! requests nothing (and its losses counted), and no export at all when
//! nothing asks for one.

use crate::common::otlp::{Received, Receiver};
use crate::common::upstream::Upstream;
use crate::common::*;
use crate::metrics::sample;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The trace and parent a test client sends in its `traceparent`.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn caller_traceparent() -> String {
    format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")
}

/// `text` written as the config of a fresh folder.
fn config_file(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// Export settings that send each batch within 100 ms.
fn exporting_to(receiver: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ]
}

fn spawn(config: &Path, extra: &[&str], env: &[(&'static str, String)]) -> Process {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Process::spawn_env(config, extra, &env)
}

fn chain_config() -> String {
    let declare = |name: &str| {
        format!(
            "[[middleware]]\nname = \"{name}\"\ncomponent = \"{}\"\n",
            component(name).display()
        )
    };
    declare("add-header")
        + &format!(
            "[[route]]\npath = \"/mw/echo/...\"\nname = \"mw-echo\"\nmiddleware = [\"add-header\"]\ncomponent = \"{}\"\n",
            component("echo").display()
        )
}

/// The one span of `spans` named `name`.
fn named<'a>(spans: &'a [Received], name: &str) -> &'a Received {
    let found: Vec<_> = spans.iter().filter(|s| s.span.name == name).collect();
    assert_eq!(found.len(), 1, "one span {name:?} in {spans:#?}");
    found[0]
}

fn stderr_with(server: &Process, needles: &[&str]) -> Option<String> {
    let lines = server.stderr.lock().unwrap();
    lines
        .iter()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .cloned()
}

async fn wait_stderr(server: &Process, needles: &[&str]) -> String {
    for _ in 0..200 {
        if let Some(line) = stderr_with(server, needles) {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no log line with {needles:?}: {:#?}",
        server.stderr.lock().unwrap()
    );
}

#[tokio::test]
async fn a_request_through_a_chain_is_one_trace_of_server_middleware_and_handler_spans() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir, &chain_config());
    let server = spawn(&config, &["--no-watch"], &exporting_to(&receiver.url));

    for (protocol, client) in clients() {
        // Without a traceparent: a new trace, rooted at the server span.
        let response = client
            .post(server.url("/mw/echo/deep?x=1"))
            .body("ping")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{protocol}");
        let request_id = request_id(&response);
        assert_eq!(response.text().await.unwrap(), "ping", "{protocol}");

        let root = receiver
            .span("the server span", |s| {
                s.attribute("switchyard.request_id").as_deref() == Some(request_id.as_str())
            })
            .await;
        let spans = receiver.trace(&root.trace_id(), 3).await;
        assert_eq!(spans.len(), 3, "{protocol}: {spans:#?}");
        let server_span = named(&spans, "POST /mw/echo/...");
        let middleware = named(&spans, "middleware add-header");
        let handler = named(&spans, "handler mw-echo");
        assert_eq!(server_span.span.kind, 2, "SERVER");
        assert!(server_span.span.parent_span_id.is_empty(), "a root span");
        assert_eq!(middleware.parent_id(), server_span.span_id(), "{protocol}");
        assert_eq!(handler.parent_id(), middleware.span_id(), "{protocol}");
        assert_eq!(server_span.service, "switchyard");
        let version = if protocol == "HTTP/2" { "2" } else { "1.1" };
        for (key, value) in [
            ("http.request.method", "POST"),
            ("http.route", "/mw/echo/..."),
            ("url.path", "/mw/echo/deep"),
            ("url.scheme", "http"),
            ("network.protocol.version", version),
            ("http.response.status_code", "200"),
            ("http.request.body.size", "4"),
            ("http.response.body.size", "4"),
            ("switchyard.route", "mw-echo"),
            ("switchyard.generation", "1"),
            ("switchyard.outcome", "complete"),
            ("client.address", "127.0.0.1"),
        ] {
            assert_eq!(
                server_span.attribute(key).as_deref(),
                Some(value),
                "{protocol} {key}"
            );
        }
        for (span, component, role) in [
            (middleware, "add-header", "middleware"),
            (handler, "mw-echo", "handler"),
        ] {
            assert_eq!(span.span.kind, 1, "INTERNAL");
            assert_eq!(
                span.attribute("switchyard.component").as_deref(),
                Some(component)
            );
            assert_eq!(span.attribute("switchyard.role").as_deref(), Some(role));
            assert_eq!(
                span.attribute("switchyard.generation").as_deref(),
                Some("1")
            );
            assert_eq!(
                span.attribute("switchyard.outcome").as_deref(),
                Some("complete")
            );
            assert_eq!(
                span.attribute("switchyard.instance").as_deref(),
                Some("fresh")
            );
            let micros: u64 = span
                .attribute("switchyard.instantiation_us")
                .unwrap()
                .parse()
                .unwrap();
            assert!(micros > 0 && micros < 10_000_000, "{micros}");
            assert!(!span.failed(), "{span:#?}");
        }
        // The access line names the trace.
        let trace_field = format!("trace_id={}", root.trace_id());
        wait_stderr(&server, &[&request_id, &trace_field, "request"]).await;
    }

    // With one: the caller's trace, continued under its span.
    let response = http1()
        .get(server.url("/mw/echo/continued"))
        .header("traceparent", caller_traceparent())
        .header("tracestate", "vendor=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let spans = receiver.trace(CALLER_TRACE, 3).await;
    let server_span = named(&spans, "GET /mw/echo/...");
    assert_eq!(server_span.parent_id(), CALLER_SPAN);
    assert_eq!(server_span.span.trace_state, "vendor=abc");
}

#[tokio::test]
async fn upstreams_and_guests_outbound_targets_see_the_same_trace() {
    let receiver = Receiver::start().await;
    let upstream = Upstream::start().await;
    let port = upstream.url.rsplit(':').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[[route]]\npath = \"/up/...\"\nname = \"up\"\nupstream = \"{}\"\n\
         [[route]]\npath = \"/fetch\"\nname = \"fetch\"\ncomponent = \"{}\"\n\
         allowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]\n",
        upstream.url,
        component("fetch").display()
    );
    let config = config_file(&dir, &text);
    let server = spawn(&config, &["--no-watch"], &exporting_to(&receiver.url));
    let traceparent_of = |parts: &http::request::Parts| {
        let value = parts.headers["traceparent"].to_str().unwrap().to_string();
        let fields: Vec<String> = value.split('-').map(str::to_string).collect();
        assert_eq!(fields.len(), 4, "{value}");
        fields
    };

    // The upstream hop: the caller's trace, under the hop's client span.
    let response = http1()
        .get(server.url("/up/thing"))
        .header("traceparent", caller_traceparent())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = traceparent_of(&upstream.last());
    assert_eq!(seen[1], CALLER_TRACE);
    assert_ne!(
        seen[2], CALLER_SPAN,
        "the proxy's own span is the upstream's parent"
    );
    let spans = receiver.trace(CALLER_TRACE, 2).await;
    let server_span = named(&spans, "GET /up/...");
    let hop = named(&spans, "GET");
    assert_eq!(hop.span.kind, 3, "CLIENT");
    assert_eq!(hop.span_id(), seen[2]);
    assert_eq!(hop.parent_id(), server_span.span_id());
    assert_eq!(
        hop.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        hop.attribute("url.full"),
        Some(format!("{}/up/thing", upstream.url))
    );

    // A guest's outbound request: the same trace, under the handler's span.
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let url = format!("{}/target?secret=1", upstream.url);
    let response = http1()
        .get(server.url(&format!("/fetch?url={url}")))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let seen = traceparent_of(&upstream.last());
    assert_eq!(seen[1], trace);
    let spans = receiver.trace(trace, 3).await;
    let handler = named(&spans, "handler fetch");
    let call = named(&spans, "GET");
    assert_eq!(call.span.kind, 3, "CLIENT");
    assert_eq!(call.parent_id(), handler.span_id());
    assert_eq!(call.span_id(), seen[2]);
    assert_eq!(
        call.attribute("url.full"),
        Some(format!("{}/target", upstream.url))
    );
    assert_eq!(call.attribute("server.port"), Some(port.clone()));

    // A guest that sets its own traceparent keeps it.
    let own = "00-11111111111111111111111111111111-2222222222222222-01";
    let response = http1()
        .get(server.url(&format!(
            "/fetch?url={}/own&traceparent={own}",
            upstream.url
        )))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last().uri.path(), "/own");
    assert_eq!(upstream.last().headers["traceparent"], own);
    let kept = receiver
        .span("the call with the guest's own traceparent", |s| {
            s.attribute("switchyard.guest_traceparent").as_deref() == Some("true")
        })
        .await;
    assert_eq!(
        kept.trace_id(),
        trace,
        "the call's span is still in the request's trace"
    );
}

#[tokio::test]
async fn traps_and_timeouts_are_error_spans() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The endpoint and name from the config file alone.
    let text = format!(
        "[telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"edge\"\n\
         [[route]]\npath = \"/bad\"\nname = \"bad\"\ncomponent = \"{}\"\ntimeout_ms = 500\n",
        receiver.url,
        component("misbehave").display()
    );
    let config = config_file(&dir, &text);
    let server = spawn(
        &config,
        &["--no-watch"],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100".into())],
    );
    wait_stderr(&server, &["exporting traces over OTLP", &receiver.url]).await;

    for (mode, status, outcome) in [
        ("trap", 500, "trap"),
        ("loop", 504, "timeout"),
        ("late-trap", 200, "trap"),
    ] {
        let response = get(&http1(), server.url(&format!("/bad?mode={mode}"))).await;
        assert_eq!(response.status(), status, "{mode}");
        let request_id = request_id(&response);
        let _ = response.bytes().await;
        let root = receiver
            .span(mode, |s| {
                s.attribute("switchyard.request_id").as_deref() == Some(&request_id)
            })
            .await;
        assert_eq!(root.service, "edge");
        let spans = receiver.trace(&root.trace_id(), 2).await;
        let handler = named(&spans, "handler bad");
        assert!(handler.failed(), "{mode}: {handler:#?}");
        assert_eq!(
            handler.attribute("switchyard.outcome").as_deref(),
            Some(outcome),
            "{mode}"
        );
        let message = &handler.span.status.as_ref().unwrap().message;
        assert!(!message.is_empty(), "{mode}: the status says why");
        let server_span = named(&spans, "GET /bad");
        assert_eq!(
            server_span.attribute("http.response.status_code"),
            Some(status.to_string())
        );
        // A 5xx, or a 200 whose body was cut short, fails the server span too.
        assert!(server_span.failed(), "{mode}: {server_span:#?}");
        if mode == "late-trap" {
            assert_eq!(
                server_span.attribute("switchyard.outcome").as_deref(),
                Some("cut short")
            );
        }
    }
}

/// `rounds` GETs of `/hello`, each answered 200 within a second (the
/// exporter's timeout is 30 s: an export on the request path would show).
async fn every_request_unhurt(server: &Process, rounds: usize) {
    let client = http1();
    for i in 0..rounds {
        let started = Instant::now();
        let response = get(&client, server.url("/hello")).await;
        assert_eq!(response.status(), 200, "request {i}");
        let _ = response.bytes().await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "request {i} took {:?}",
            started.elapsed()
        );
    }
}

async fn dropped(server: &Process, reason: &str) -> f64 {
    let url = format!("http://{}/metrics", server.admin.unwrap());
    let text = get(&http1(), url).await.text().await.unwrap();
    sample(
        &text,
        "switchyard_trace_spans_dropped_total",
        &[("reason", reason)],
    )
}

#[tokio::test]
async fn a_collector_that_is_down_or_hangs_costs_requests_nothing_and_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir, &route("/hello", "hello"));
    let admin = ["--no-watch", "--admin-listen", "127.0.0.1:0"];

    // Down: nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let server = spawn(&config, &admin, &exporting_to(&down));
    every_request_unhurt(&server, 200).await;
    wait_stderr(
        &server,
        &[
            "trace export failed",
            "switchyard_trace_spans_dropped_total",
        ],
    )
    .await;
    let mut lost = 0.0;
    for _ in 0..100 {
        lost = dropped(&server, "export_failed").await;
        if lost > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(lost > 0.0, "failed exports are counted");
    drop(server);

    // Hanging: the first export never returns; the queue (16) fills.
    let stuck = Receiver::hanging().await;
    let mut env = exporting_to(&stuck.url);
    env.push(("OTEL_BSP_MAX_QUEUE_SIZE", "16".into()));
    env.push(("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4".into()));
    env.push(("OTEL_EXPORTER_OTLP_TIMEOUT", "30000".into()));
    let server = spawn(&config, &admin, &env);
    every_request_unhurt(&server, 300).await;
    let full = dropped(&server, "queue_full").await;
    // 600 spans; at most 16 queued and one batch stuck in the exporter.
    assert!(
        full >= 500.0,
        "spans past the queue are dropped and counted: {full}"
    );
    assert!(
        stuck.connections() >= 1,
        "the exporter did reach the stuck collector"
    );
}

#[tokio::test]
async fn with_export_off_nothing_connects_and_nothing_is_added() {
    let receiver = Receiver::start().await;
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[[route]]\npath = \"/up/...\"\nname = \"up\"\nupstream = \"{}\"\n",
        upstream.url
    );
    let config = config_file(&dir, &text);
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url.clone());
    for env in [
        vec![],
        vec![endpoint.clone(), ("OTEL_SDK_DISABLED", "true".to_string())],
        vec![
            endpoint.clone(),
            ("OTEL_TRACES_EXPORTER", "none".to_string()),
        ],
    ] {
        let mut env = env;
        env.push(("OTEL_BSP_SCHEDULE_DELAY", "100".into()));
        let server = spawn(&config, &["--no-watch"], &env);
        let response = http1()
            .get(server.url("/up/x"))
            .header("traceparent", caller_traceparent())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let request_id = request_id(&response);
        // The caller's traceparent passes through untouched.
        assert_eq!(
            upstream.last().headers["traceparent"],
            caller_traceparent().as_str()
        );
        let line = wait_stderr(&server, &[&request_id, "request"]).await;
        assert!(!line.contains("trace_id"), "{env:?}: {line}");
        assert!(
            stderr_with(&server, &["exporting traces"]).is_none(),
            "{env:?}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            receiver.connections(),
            0,
            "{env:?}: nothing connected to the collector"
        );
    }
    assert!(receiver.spans().is_empty());

    // A protocol this build cannot speak fails the start with one line.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "none"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.url)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: Switchyard exports OTLP over http/protobuf only"
        ),
        "{stderr}"
    );
}
