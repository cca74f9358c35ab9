//! A guest that traps or never answers gets a 500 for that request only; the
//! log says which route and request it was, and other routes keep serving.

use crate::common::*;

fn config() -> String {
    [route("/misbehave", "misbehave"), route("/hello", "hello")].concat()
}

async fn expect_500_and_log(mode: &str, log_needle: &str) {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        let response = get(&client, server.url(&format!("/misbehave?mode={mode}"))).await;
        assert_eq!(response.status(), 500, "{protocol} {mode}");
        let request_id = request_id(&response);
        let body = response.text().await.unwrap();
        assert!(body.starts_with("internal server error"), "{body}");
        assert!(
            !body.contains("wasm"),
            "no guest internals in the body: {body}"
        );
        let line = wait_for_log(&[&request_id, "route=misbehave", log_needle]).await;
        assert!(line.contains("ERROR"), "{line}");

        // The next request to another route still succeeds.
        let hello = get(&client, server.url("/hello")).await;
        assert_eq!(hello.status(), 200, "{protocol}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_trap_gives_500_and_the_log_names_route_and_request() {
    expect_500_and_log("trap", "guest trapped").await;
}

#[tokio::test]
async fn a_guest_that_never_sets_a_response_gives_500() {
    expect_500_and_log("noresponse", "without setting a response").await;
}

#[tokio::test]
async fn a_trap_after_streaming_began_cuts_the_response_short() {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        let response = get(&client, server.url("/misbehave?mode=late-trap")).await;
        assert_eq!(
            response.status(),
            200,
            "{protocol}: headers were already sent"
        );
        let request_id = request_id(&response);
        let body = response.bytes().await;
        assert!(
            body.is_err(),
            "{protocol}: the client must see an incomplete body, got {body:?}"
        );
        wait_for_log(&[&request_id, "route=misbehave", "cutting the response short"]).await;
        let hello = get(&client, server.url("/hello")).await;
        assert_eq!(hello.status(), 200);
    }
    server.stop().await;
}

#[tokio::test]
async fn guest_output_is_logged_with_route_and_request_id() {
    let server = TestServer::start(&config()).await;
    let response = get(&http1(), server.url("/misbehave?mode=trap")).await;
    let request_id = request_id(&response);
    // Rust's panic message goes to the guest's stderr.
    let line = wait_for_log(&[&request_id, "route=misbehave", "stderr:"]).await;
    assert!(line.contains("panicked"), "{line}");
    server.stop().await;
}
