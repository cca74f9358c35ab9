//! `counter-p3`: makes a wasi:http 0.3 instance's reuse and concurrency
//! visible. A p3 host may hand one instance many requests, several at a time;
//! this guest keeps, in statics of the instance, how many requests it has
//! started and how many run at once, and says so in every answer:
//!
//! `count={this request's number, 1-based} inflight={now} max_inflight={highest}`
//!
//! With `?wait=MS` a request first waits MS milliseconds on the monotonic
//! clock, an await that lets the instance's other requests run meanwhile, so
//! a test can hold several open at once and read the overlap off
//! `max_inflight`.

wit_bindgen::generate!({
    path: "../../../wit/p3",
    world: "switchyard:handler-p3/handler",
    generate_all,
});

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use wasi::clocks::monotonic_clock;
use wasi::http::types::{ErrorCode, Fields, Request, Response};

/// Requests this instance has started.
static SERVED: AtomicU64 = AtomicU64::new(0);
/// Requests this instance is running now.
static INFLIGHT: AtomicU64 = AtomicU64::new(0);
/// The highest `INFLIGHT` seen.
static MAX_INFLIGHT: AtomicU64 = AtomicU64::new(0);

/// One request counted in `INFLIGHT`, until it is answered or the host
/// cancels it (the handler's future is then dropped, and this with it).
struct InFlight;

impl InFlight {
    fn start() -> InFlight {
        let now = INFLIGHT.fetch_add(1, Relaxed) + 1;
        MAX_INFLIGHT.fetch_max(now, Relaxed);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        INFLIGHT.fetch_sub(1, Relaxed);
    }
}

struct CounterP3;

export!(CounterP3);

impl exports::wasi::http::handler::Guest for CounterP3 {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let count = SERVED.fetch_add(1, Relaxed) + 1;
        let _inflight = InFlight::start();
        let target = request.get_path_with_query().unwrap_or_default();
        if let Some(ms) = query_value(&target, "wait") {
            let Ok(ms) = ms.parse::<u64>() else {
                return Ok(text(400, format!("wait wants milliseconds, not {ms:?}\n")));
            };
            monotonic_clock::wait_for(ms.saturating_mul(1_000_000)).await;
        }
        let (inflight, max) = (INFLIGHT.load(Relaxed), MAX_INFLIGHT.load(Relaxed));
        Ok(text(
            200,
            format!("count={count} inflight={inflight} max_inflight={max}\n"),
        ))
    }
}

/// The value of the first `key=value` in the query of `target`.
fn query_value<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = target.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == key))
        .map(|(_, value)| value)
}

/// A `text/plain` response with `status` and body `text`, written by a
/// spawned task once the host reads it.
fn text(status: u16, text: String) -> Response {
    let headers = Fields::new();
    let _ = headers.append("content-type", b"text/plain; charset=utf-8");
    let (mut sink, contents) = wit_stream::new();
    let (trailers, trailers_rx) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(headers, Some(contents), trailers_rx);
    let _ = response.set_status_code(status);
    wit_bindgen::spawn_local(async move {
        if sink.write_all(text.into_bytes()).await.is_empty() {
            drop(sink); // close the stream before resolving the trailers
            let _ = trailers.write(Ok(None)).await;
        }
    });
    response
}
