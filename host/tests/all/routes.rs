//! Every default Rust route answers correctly over HTTP/1.1 and HTTP/2, and
//! routing picks exact over wildcard, the longest wildcard, or 404.

use crate::common::*;

fn config() -> String {
    [
        route("/hello", "hello"),
        route("/echo", "echo"),
        route("/stream", "stream"),
        format!(
            "{}env = {{ GREETING = \"hi there\", QUOTED = \"a\\\"b\" }}\n",
            route("/env", "env")
        ),
        route("/api/...", "hello"),
        "name = \"api\"\n".into(),
        route("/api/exact", "env"),
        "name = \"api-exact\"\n".into(),
        route("/api/v2/...", "echo"),
        "name = \"api-v2\"\n".into(),
    ]
    .concat()
}

#[tokio::test]
async fn hello_says_its_method_and_path_over_both_protocols() {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        let response = get(&client, server.url("/hello?x=1")).await;
        assert_eq!(response.status(), 200, "{protocol}");
        let expected = if protocol == "HTTP/2" {
            reqwest::Version::HTTP_2
        } else {
            reqwest::Version::HTTP_11
        };
        assert_eq!(response.version(), expected);
        assert!(response.headers().contains_key("x-request-id"));
        let body = response.text().await.unwrap();
        assert!(body.contains("GET /hello?x=1"), "{protocol}: {body}");

        let (_, body) = post_text(&client, server.url("/hello"), "").await;
        assert!(body.contains("POST /hello"), "{protocol}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn echo_returns_body_and_request_headers_over_both_protocols() {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        let response = client
            .post(server.url("/echo"))
            .header("x-custom", "FooBar")
            .header("content-type", "text/x-test")
            .body("ping pong")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{protocol}");
        assert_eq!(
            response.headers()["x-echo-x-custom"],
            "FooBar",
            "{protocol}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "text/x-test",
            "{protocol}"
        );
        assert_eq!(response.text().await.unwrap(), "ping pong", "{protocol}");
    }
    server.stop().await;
}

#[tokio::test]
async fn stream_sends_the_requested_bytes_over_both_protocols() {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        let response = get(&client, server.url("/stream?bytes=100000&chunk=7000")).await;
        assert_eq!(response.status(), 200, "{protocol}");
        let body = response.bytes().await.unwrap();
        assert_eq!(body.len(), 100_000, "{protocol}");
        assert!(
            body.iter()
                .enumerate()
                .all(|(i, &b)| b == b'a' + (i % 26) as u8),
            "{protocol}: unexpected content"
        );
        let bad = get(&client, server.url("/stream?bytes=lots")).await;
        assert_eq!(bad.status(), 400, "{protocol}");
    }
    server.stop().await;
}

#[tokio::test]
async fn env_shows_exactly_the_configured_variables_over_both_protocols() {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        let response = get(&client, server.url("/env")).await;
        assert_eq!(response.status(), 200, "{protocol}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body = response.text().await.unwrap();
        assert_eq!(
            body.trim(),
            r#"{"GREETING":"hi there","QUOTED":"a\"b"}"#,
            "{protocol}: the guest must see its route's env and nothing of the host's"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn exact_route_beats_wildcard_and_longest_wildcard_wins() {
    let server = TestServer::start(&config()).await;
    let client = http1();
    let get = |path: &str| get_text(&client, server.url(path));
    // /api/... → hello, which names the path it saw.
    let (status, body) = get("/api/items/7").await;
    assert_eq!(
        (status, body.contains("GET /api/items/7")),
        (200, true),
        "{body}"
    );
    let (status, body) = get("/api").await;
    assert_eq!((status, body.contains("GET /api")), (200, true), "{body}");
    // /api/exact → env (JSON), not the wildcard.
    let (status, body) = get("/api/exact").await;
    assert_eq!((status, body.trim()), (200, "{}"));
    // /api/v2/... → echo (empty body for a GET), the longer wildcard.
    let (status, body) = get("/api/v2/x").await;
    assert_eq!((status, body.as_str()), (200, ""));
    // /apix is not under /api/.
    let (status, body) = get("/apix").await;
    assert_eq!(status, 404);
    assert!(body.contains("not found"), "{body}");
    let (status, _) = get("/hello/extra").await;
    assert_eq!(status, 404);
    server.stop().await;
}
