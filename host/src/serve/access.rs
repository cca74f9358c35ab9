//! The access log line and the per-request metrics, written when the
//! response body ends.
//!
//! A response's size and duration are only known once its body has been
//! sent, which for a streaming guest is long after the head. So the record
//! rides along with the body ([`AccessBody`]) and is written exactly once:
//! when the body ends, fails (the response was cut short), or is dropped
//! unfinished (the client went away, or hyper never needed to poll it, or
//! the connection cut a client that stopped reading: `client stalled`).

use crate::body::{Progress, ResponseBody};
use crate::telemetry::trace::Span;
use crate::telemetry::{self, RouteMetrics};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use opentelemetry::KeyValue;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;
use tracing::field::display;

/// Longest incoming `x-request-id` the server adopts.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether an incoming `x-request-id` is safe to adopt: 1 to
/// [`MAX_REQUEST_ID_LEN`] characters from `A-Z a-z 0-9 . _ : -`, so it can
/// appear in logs and headers as it is.
pub fn valid_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// What the access line says about one request, except its size.
pub struct AccessRecord {
    pub request_id: Arc<str>,
    pub method: http::Method,
    pub path: String,
    /// The matched route's name; `None` when no route matched.
    pub route: Option<Arc<str>>,
    pub generation: Option<u64>,
    pub status: u16,
    pub started: Instant,
    /// The route's series (`-`'s when none matched); the in-flight count
    /// ends when the record does.
    pub in_flight: InFlight,
    /// The response's progress towards its client, when the connection
    /// watches it (`serve/connection.rs`): says whether it was cut for
    /// stalling.
    pub progress: Option<Arc<Progress>>,
    /// The request's server span, ended with the record.
    pub trace: Option<Span>,
}

impl AccessRecord {
    fn route_label(&self) -> &str {
        self.route.as_deref().unwrap_or("-")
    }
}

/// One request in flight on a route, for as long as this lives: it rides in
/// the [`AccessRecord`], so it ends when the access line is written, or when
/// the request is abandoned before it has a response.
pub struct InFlight(Arc<RouteMetrics>);

impl InFlight {
    /// Count a request in `metrics`' route (`-`'s for no route).
    pub fn enter(metrics: Arc<RouteMetrics>) -> InFlight {
        metrics.in_flight(1.0);
        InFlight(metrics)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight(-1.0);
    }
}

/// A response body that counts its bytes and writes the access record when
/// it is done.
pub struct AccessBody {
    inner: ResponseBody,
    record: Option<AccessRecord>,
    bytes: u64,
}

impl AccessBody {
    /// Wrap `response`'s body; `record.status` is taken from the response.
    pub fn wrap(
        response: hyper::Response<ResponseBody>,
        mut record: AccessRecord,
    ) -> hyper::Response<ResponseBody> {
        record.status = response.status().as_u16();
        response.map(|inner| {
            AccessBody {
                inner,
                record: Some(record),
                bytes: 0,
            }
            .boxed_unsync()
        })
    }

    fn finish(&mut self, outcome: &'static str) {
        let Some(record) = self.record.take() else {
            return;
        };
        let elapsed = record.started.elapsed();
        let trace_id = record.trace.as_ref().map(|span| display(span.trace_id()));
        tracing::info!(
            target: "switchyard::access",
            request_id = %record.request_id,
            trace_id,
            method = %record.method,
            path = %record.path,
            route = %record.route_label(),
            generation = record.generation.unwrap_or(0),
            status = record.status,
            bytes = self.bytes,
            micros = elapsed.as_micros() as u64,
            outcome = %outcome,
            "request"
        );
        (record.in_flight.0).answered(record.status, elapsed, self.bytes);
        if let Some(span) = &record.trace {
            span.set(KeyValue::new(
                "http.response.status_code",
                record.status as i64,
            ));
            span.set(KeyValue::new("http.response.body.size", self.bytes as i64));
            span.set(KeyValue::new("switchyard.outcome", outcome));
            if record.status >= 500 {
                span.fail(format!("HTTP {}", record.status));
            } else if outcome == "cut short" {
                span.fail("the response was cut short");
            }
            span.end();
        }
        // `record` (and with it the in-flight count) ends here.
    }
}

impl Body for AccessBody {
    type Data = Bytes;
    type Error = anyhow::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, anyhow::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.finish("complete");
                }
            }
            Some(Err(_)) => this.finish("cut short"),
            None => this.finish("complete"),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AccessBody {
    fn drop(&mut self) {
        let stalled = (self.record.as_ref())
            .and_then(|record| record.progress.as_ref())
            .is_some_and(|progress| progress.stalled());
        let outcome = if self.inner.is_end_stream() {
            "complete"
        } else if stalled {
            if let Some(record) = &self.record {
                telemetry::client_stalled(record.route_label());
            }
            "client stalled"
        } else {
            "client gone"
        };
        self.finish(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::valid_request_id;

    #[test]
    fn plain_ids_are_adopted() {
        for id in [
            "abc",
            "0af7651916cd43dd8448eb211c80319c",
            "req-1.2_3:4",
            "A",
        ] {
            assert!(valid_request_id(id.as_bytes()), "{id}");
        }
    }

    #[test]
    fn the_length_bound_is_128_inclusive() {
        // The bound is what the docs and the integration tests promise:
        // 128 characters, the 128th still adopted.
        assert_eq!(super::MAX_REQUEST_ID_LEN, 128);
        let at_bound = "a".repeat(128);
        assert!(valid_request_id(at_bound.as_bytes()));
        // Every allowed character at the bound, not only letters.
        let mixed = "Az09._:-".repeat(16);
        assert_eq!(mixed.len(), 128);
        assert!(valid_request_id(mixed.as_bytes()));
        let past_bound = "a".repeat(129);
        assert!(!valid_request_id(past_bound.as_bytes()));
    }

    #[test]
    fn hostile_or_oversized_ids_are_refused() {
        let long = "a".repeat(super::MAX_REQUEST_ID_LEN + 1);
        for id in [
            "",
            "a b",
            "a\"b",
            "x\ny",
            "<script>",
            "id=1;",
            "é",
            long.as_str(),
        ] {
            assert!(!valid_request_id(id.as_bytes()), "{id:?}");
        }
    }
}
