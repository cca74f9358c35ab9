//! SIGTERM and SIGINT: the listener closes while an in-flight streaming
//! response goes on, the stream finishes, and the process exits 0. When
//! `--shutdown-timeout` runs out first, the stream is cut and the process
//! exits anyway.

use crate::common::*;
use futures::{Stream, StreamExt};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A server whose `/stream` route is the `stream` handler.
fn stream_server(extra: &[&str]) -> (tempfile::TempDir, Process) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, route("/stream", "stream")).unwrap();
    let server = Process::spawn(&config, extra);
    (dir, server)
}

/// Wait until a new connection to `addr` is refused; fail after 5 s.
async fn wait_until_refused(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => return,
            // A connection still in the backlog when the listener closed is
            // reset: closing, not yet closed for the next one. Try again.
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!("connecting to {addr}: {error}"),
            Ok(_) => assert!(
                Instant::now() < deadline,
                "{addr} still accepts connections 5 s after the signal"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The bytes of `body` that arrive with no gap of 100 ms or more, and how
/// the body ended meanwhile, if it did (`Some(Err)`: cut short).
async fn read_what_is_there<S, E>(body: &mut S) -> (usize, Option<Result<(), E>>)
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
{
    let mut received = 0;
    loop {
        match tokio::time::timeout(Duration::from_millis(100), body.next()).await {
            Err(_) => return (received, None),
            Ok(Some(Ok(chunk))) => received += chunk.len(),
            Ok(Some(Err(error))) => return (received, Some(Err(error))),
            Ok(None) => return (received, Some(Ok(()))),
        }
    }
}

/// Wait up to `limit` for the process to exit: its exit code.
async fn exit_code(server: Process, limit: Duration) -> Option<i32> {
    tokio::task::spawn_blocking(move || {
        let mut server = server;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} after the signal; stderr: {:#?}",
                server.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap()
}

/// `signal` closes the listener while a 2.1 s stream is in flight; the
/// stream still finishes whole and the process exits 0.
async fn drains_on(signal: &str) {
    let (_dir, server) = stream_server(&[]);
    let response = get(
        &http1(),
        server.url("/stream?bytes=8000&chunk=1000&delay_ms=300"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = body.next().await.unwrap().unwrap().len();

    server.signal(signal);
    wait_until_refused(server.addr).await;
    // The listener closed while the stream was still going, not after it.
    let (so_far, ended) = read_what_is_there(&mut body).await;
    received += so_far;
    match ended {
        None => assert!(received < 8000, "{received}"),
        Some(Ok(())) => {
            panic!("the stream was over ({received} bytes) before new connections were refused")
        }
        Some(Err(error)) => panic!("the stream was cut after {received} bytes: {error}"),
    }
    while let Some(chunk) = body.next().await {
        received += chunk.expect("the in-flight body must complete").len();
    }
    assert_eq!(received, 8000);

    let logged = format!("SIG{signal} received");
    let lines = server.stderr.clone();
    assert_eq!(exit_code(server, Duration::from_secs(10)).await, Some(0));
    let lines = lines.lock().unwrap();
    assert!(
        lines.iter().any(|l| l.contains(&logged)),
        "no {logged:?} in {lines:#?}"
    );
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_stream_finish_then_exits_zero() {
    drains_on("TERM").await;
}

#[tokio::test]
async fn sigint_lets_an_in_flight_stream_finish_then_exits_zero() {
    drains_on("INT").await;
}

#[tokio::test]
async fn a_stream_longer_than_the_shutdown_timeout_is_cut() {
    let (_dir, server) = stream_server(&["--shutdown-timeout", "1"]);
    // 10 chunks a second apart: about 9 s more after the first.
    let response = get(
        &http1(),
        server.url("/stream?bytes=10000&chunk=1000&delay_ms=1000"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = body.next().await.unwrap().unwrap().len();

    let signalled = Instant::now();
    server.signal("TERM");
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => received += chunk.len(),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    })
    .await
    .expect("the stream is still going 5 s after SIGTERM with --shutdown-timeout 1");
    let cut_after = signalled.elapsed();
    assert!(
        ended.is_err(),
        "the stream ended cleanly after {received} bytes"
    );
    assert!(received < 10000, "{received}");
    assert!(
        cut_after >= Duration::from_millis(900),
        "cut after {cut_after:?}, before the 1 s timeout"
    );

    let lines = server.stderr.clone();
    // The timeout is a graceful end for the process: serve returns Ok.
    assert_eq!(exit_code(server, Duration::from_secs(3)).await, Some(0));
    let exited_after = signalled.elapsed();
    assert!(
        exited_after < Duration::from_secs(3),
        "exited {exited_after:?} after SIGTERM"
    );
    let lines = lines.lock().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("shutdown timeout reached")),
        "{lines:#?}"
    );
}
