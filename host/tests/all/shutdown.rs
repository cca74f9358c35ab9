//! SIGTERM: the listener closes, an in-flight streaming response finishes,
//! and the process exits 0.

use crate::common::*;
use futures::StreamExt;
use std::time::Duration;

#[tokio::test]
async fn sigterm_lets_an_in_flight_stream_finish_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, route("/stream", "stream")).unwrap();
    let mut server = Process::spawn(&config, &[]);

    let response = get(
        &http1(),
        server.url("/stream?bytes=8000&chunk=1000&delay_ms=200"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = body.next().await.unwrap().unwrap().len();

    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // New connections are refused once shutdown has begun.
    assert!(
        http1()
            .get(server.url("/stream?bytes=1"))
            .send()
            .await
            .is_err(),
        "the listener should be closed"
    );
    while let Some(chunk) = body.next().await {
        received += chunk.expect("the in-flight body must complete").len();
    }
    assert_eq!(received, 8000);

    let status = tokio::task::spawn_blocking(move || server.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
