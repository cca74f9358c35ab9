//! Handlers in Python, JavaScript, C and Zig serve beside Rust, on one
//! server, with real requests and real results. All four share this one test
//! binary so the large Python and JavaScript components compile once.

use crate::common::*;
use std::time::Duration;
use tokio::sync::OnceCell;

/// One server for every test here: Python and JS components take seconds to
/// compile, so they are loaded once.
async fn server() -> &'static TestServer {
    static SERVER: OnceCell<TestServer> = OnceCell::const_new();
    SERVER
        .get_or_init(|| async {
            let config = [
                route("/py/items", "items"),
                route("/js/...", "greet"),
                route("/c/sha256", "sha256"),
                route("/zig/...", "primes"),
                route("/hello", "hello"),
            ]
            .concat();
            // The server must outlive each test's runtime: give it its own.
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Runtime::new().unwrap();
                runtime.block_on(async move {
                    let server = TestServer::start(&config).await;
                    sender.send(server).unwrap();
                    std::future::pending::<()>().await
                })
            });
            tokio::task::spawn_blocking(move || receiver.recv().unwrap())
                .await
                .unwrap()
        })
        .await
}

#[tokio::test]
async fn python_sums_a_json_list_over_both_protocols() {
    let server = server().await;
    for (protocol, client) in clients() {
        let response = client
            .post(server.url("/py/items"))
            .header("content-type", "application/json")
            .body(r#"{"items": [1, 2, 3.5]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{protocol}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["count"], 3, "{protocol}: {body}");
        assert_eq!(body["sum"], 6.5, "{protocol}: {body}");
    }
}

#[tokio::test]
async fn python_explains_bad_json_with_a_400() {
    let server = server().await;
    let client = http1();
    for (input, says) in [
        (r#"{"items": [1, 2"#, "JSON"),
        (r#"{"things": []}"#, "items"),
        (r#"{"items": "1,2"}"#, "items"),
        (r#"{"items": [1, true, 3]}"#, "items[1]"),
    ] {
        let response = post(&client, server.url("/py/items"), input).await;
        assert_eq!(response.status(), 400, "{input}");
        let body: serde_json::Value = response.json().await.unwrap();
        let error = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{input}: {body}"));
        assert!(error.contains(says), "{input}: {error}");
    }
}

#[tokio::test]
async fn javascript_greets_with_escaped_html_and_json() {
    let server = server().await;
    for (protocol, client) in clients() {
        let response = get(
            &client,
            server.url("/js/?name=%3Cscript%3Ealert(1)%3C/script%3E"),
        )
        .await;
        assert_eq!(response.status(), 200, "{protocol}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = response.text().await.unwrap();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "unescaped: {html}");

        let json: serde_json::Value = get(&client, server.url("/js/api?name=x"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(json["greeting"], "Hello, x!", "{protocol}: {json}");
        let missing = get(&client, server.url("/js/nope")).await;
        assert_eq!(missing.status(), 404);
    }
}

/// 10 MiB of a fixed pattern and its SHA-256 (computed with `sha256sum`).
fn ten_mib() -> Vec<u8> {
    (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect()
}

#[tokio::test]
async fn c_digests_a_10_mib_body_over_both_protocols() {
    use sha2::Digest;
    let server = server().await;
    let body = ten_mib();
    let expected = hex::encode(sha2::Sha256::digest(&body));
    for (protocol, client) in clients() {
        let response = post(&client, server.url("/c/sha256"), body.clone()).await;
        let digest = expect_text(response, 200, protocol).await;
        assert_eq!(digest.trim(), expected, "{protocol}");
    }
    let (_, abc) = post_text(&http1(), server.url("/c/sha256"), "abc").await;
    assert_eq!(
        abc.trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[tokio::test]
async fn zig_lists_primes_and_rejects_bad_limits() {
    let server = server().await;
    for (protocol, client) in clients() {
        let response = get(&client, server.url("/zig/primes?limit=30")).await;
        assert_eq!(response.status(), 200, "{protocol}");
        assert_eq!(response.headers()["x-prime-count"], "10");
        let primes: Vec<u32> = response
            .text()
            .await
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29], "{protocol}");
    }
    let big = get(&http1(), server.url("/zig/primes?limit=1000000")).await;
    assert_eq!(big.headers()["x-prime-count"], "78498");
    assert_eq!(big.text().await.unwrap().lines().count(), 78498);
    let bad = get(&http1(), server.url("/zig/primes?limit=-5")).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn every_language_answers_concurrently() {
    let server = server().await;
    let client = http2();
    let requests = (0..8).map(|i| {
        let client = client.clone();
        async move {
            let response = match i % 5 {
                0 => client
                    .post(server.url("/py/items"))
                    .body(r#"{"items":[1]}"#),
                1 => client.get(server.url("/js/api?name=y")),
                2 => client.post(server.url("/c/sha256")).body("abc"),
                3 => client.get(server.url("/zig/primes?limit=10")),
                _ => client.get(server.url("/hello")),
            }
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
            response.status().as_u16()
        }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
}
