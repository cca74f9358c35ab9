//! Outbound HTTP from guests: denied unless granted, and the guest sees an
//! error it can handle (the fetch handler answers 502 with the error code).

use crate::common::*;

#[tokio::test]
async fn outbound_requests_are_denied_by_default() {
    // A real upstream the guest would reach if it were allowed to.
    let upstream = TestServer::start(&route("/hello", "hello")).await;
    let server = TestServer::start(&route("/fetch", "fetch")).await;
    for (protocol, client) in clients() {
        let target = upstream.url("/hello");
        let response = get(&client, server.url(&format!("/fetch?url={target}"))).await;
        assert_eq!(response.status(), 502, "{protocol}");
        let request_id = request_id(&response);
        let body = response.text().await.unwrap();
        assert!(
            body.starts_with("HTTP-request-denied"),
            "{protocol}: {body}"
        );
        let line = wait_for_log(&[&request_id, "route=fetch", "outbound request denied"]).await;
        assert!(line.contains(&target), "{line}");
    }
    server.stop().await;
    upstream.stop().await;
}
