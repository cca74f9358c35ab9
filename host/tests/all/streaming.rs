//! Bodies stream both ways: the client sees the first chunk while the guest
//! is still writing, and a 64 MiB echo goes through without the server
//! holding it in memory.

use crate::common::*;
use futures::StreamExt;
use std::time::{Duration, Instant};

#[tokio::test]
async fn first_chunk_arrives_long_before_the_handler_finishes() {
    let server = TestServer::start(&route("/stream", "stream")).await;
    for (protocol, client) in clients() {
        // 6 chunks, 250 ms apart: the guest needs at least 1.25 s in all.
        let started = Instant::now();
        let response = get(
            &client,
            server.url("/stream?bytes=6000&chunk=1000&delay_ms=250"),
        )
        .await;
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        let mut arrivals = Vec::new();
        let mut total = 0;
        while let Some(chunk) = body.next().await {
            total += chunk.unwrap().len();
            arrivals.push(started.elapsed());
        }
        assert_eq!(total, 6000, "{protocol}");
        let first = arrivals[0];
        let last = *arrivals.last().unwrap();
        assert!(
            last >= Duration::from_millis(1200),
            "{protocol}: the guest sleeps 1.25 s in all, finished after {last:?}"
        );
        assert!(
            last - first >= Duration::from_millis(900),
            "{protocol}: first chunk at {first:?}, last at {last:?}: the body was not streamed"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn echo_of_64_mib_is_identical_and_the_server_does_not_buffer_it() {
    const TOTAL: usize = 64 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, route("/echo", "echo")).unwrap();
    let server = Process::spawn(&config, &[]);

    let client = http1();
    // Warm up: the first request maps code and allocator arenas.
    let warm = post(&client, server.url("/echo"), vec![7u8; 1024 * 1024]).await;
    assert_eq!(warm.bytes().await.unwrap().len(), 1024 * 1024);
    let (_, peak_before) = server.rss_kib();

    let response = post(&client, server.url("/echo"), patterned_body(TOTAL)).await;
    assert_eq!(response.status(), 200);
    assert_patterned(response, TOTAL, "echo").await;

    let (_, peak_after) = server.rss_kib();
    let growth_mib = (peak_after.saturating_sub(peak_before)) as f64 / 1024.0;
    assert!(
        growth_mib < 24.0,
        "peak RSS grew by {growth_mib:.1} MiB while echoing 64 MiB: the body was buffered"
    );
}
