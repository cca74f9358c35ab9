//! The server's Prometheus metrics: their names in one place, the recorder,
//! and the few helpers the request path calls.
//!
//! Recording goes through the `metrics` facade, which does nothing until a
//! recorder is installed; [`install`] installs the Prometheus recorder once
//! per process, when the admin listener starts (without a listener nobody
//! could scrape, so nothing is recorded). The admin listener renders the
//! text format itself: the exporter's own HTTP listener is not compiled in.
//!
//! Every per-route series carries a `route` label (the route's name; `-` for
//! requests no route matched). The series every request records are
//! resolved once per route ([`RouteMetrics`]); the rare ones (limits,
//! refusals) are looked up when they happen.

pub mod log_writer;
mod route;
pub mod trace;

pub use route::RouteMetrics;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Requests answered, by `route` and `status` class (`2xx` … `5xx`).
pub const REQUESTS: &str = "switchyard_requests_total";
/// Seconds from arrival until the response body ended, by `route`.
pub const REQUEST_DURATION: &str = "switchyard_request_duration_seconds";
/// Requests whose response is not finished yet, by `route`.
pub const IN_FLIGHT: &str = "switchyard_requests_in_flight";
/// Seconds to create a guest instance for one request, by `route`.
pub const INSTANTIATION: &str = "switchyard_instantiation_seconds";
/// Request body bytes the guest read, by `route`.
pub const BYTES_IN: &str = "switchyard_request_body_bytes_total";
/// Response body bytes sent to clients, by `route`.
pub const BYTES_OUT: &str = "switchyard_response_body_bytes_total";
/// Snapshots swapped in (hot reloads and admin uploads/deletes that changed something).
pub const RELOADS: &str = "switchyard_reloads_total";
/// Reloads that failed and left the previous version serving.
pub const RELOAD_FAILURES: &str = "switchyard_reload_failures_total";
/// Requests stopped by a limit, by `route` and `limit`: `timeout`,
/// `memory`, `host_memory`, `concurrency`, `request_body`, `outbound_denied`.
pub const LIMIT_HITS: &str = "switchyard_limit_hits_total";
/// Guest outbound requests refused for where they would connect, by `route`
/// and `class`: an address range (`loopback`, `private`, `link-local`, ...,
/// see `guest/outbound/address.rs`), `own-listener` (this server or its
/// admin listener) or `hops` (too many nested calls through servers).
pub const OUTBOUND_REFUSED: &str = "switchyard_outbound_refused_total";
/// Connections closed as soon as they were accepted because the listener
/// was at its cap, by `listener` (`main`: `[server] max_connections`;
/// `admin`: the admin listener's own budget).
pub const CONNECTIONS_REFUSED: &str = "switchyard_connections_refused_total";
/// Responses aborted because their client stopped reading for
/// `[server] write_timeout_ms`, by `route`.
pub const CLIENTS_STALLED: &str = "switchyard_clients_stalled_total";
/// Instances stopped by a memory budget, by `route` and `budget`: `linear`
/// (`memory_mb`) or `host` (header maps and body buffers, `guest/budget.rs`).
pub const MEMORY_BUDGET_HITS: &str = "switchyard_memory_budget_hits_total";

/// Log lines dropped because the log queue was full (stderr slower than
/// the server: see `telemetry/log_writer.rs`).
pub const LOG_LINES_DROPPED: &str = "switchyard_log_lines_dropped_total";

/// Guest instances alive in a route's instance pool (every 0.3 component's,
/// and a 0.2 component's with `instance_reuse`), by `route`.
pub const POOLED_INSTANCES: &str = "switchyard_pooled_instances";

/// wasi:keyvalue calls, by `store`, `op` (`get`, `set`, ..., `increment`,
/// `get-many`) and `outcome`: `ok`, `refused` (a limit: key or value size,
/// batch size), `timeout` or `error` (the backend failed).
pub const KV_OPERATIONS: &str = "switchyard_kv_operations_total";
/// Seconds one wasi:keyvalue call spent in its backend, by `store` and `op`.
pub const KV_DURATION: &str = "switchyard_kv_operation_duration_seconds";

/// Spans that never reached the trace collector, by `reason`: `queue_full`
/// (the export queue was full: the collector is slow, down or hanging) or
/// `export_failed` (the collector refused the batch or could not be
/// reached). See `telemetry/trace/export.rs`.
pub const TRACE_SPANS_DROPPED: &str = "switchyard_trace_spans_dropped_total";
/// Spans the trace collector accepted.
pub const TRACE_SPANS_EXPORTED: &str = "switchyard_trace_spans_exported_total";

/// Latency buckets (seconds): 0.5 ms to 30 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Install the Prometheus recorder (once per process) and return its handle.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if let Err(error) = metrics::set_global_recorder(recorder) {
                tracing::warn!(
                    "another metrics recorder is installed; /metrics stays empty: {error}"
                );
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(REQUESTS, "Requests answered, by route and status class.");
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time from arrival until the response body ended."
    );
    describe_gauge!(IN_FLIGHT, "Requests whose response is not finished yet.");
    describe_histogram!(
        INSTANTIATION,
        Unit::Seconds,
        "Time to create a guest instance for one request."
    );
    describe_gauge!(
        POOLED_INSTANCES,
        "Guest instances alive in a route's instance pool (0.3 components, instance_reuse)."
    );
    describe_counter!(BYTES_IN, Unit::Bytes, "Request body bytes read by guests.");
    describe_counter!(BYTES_OUT, Unit::Bytes, "Response body bytes sent.");
    describe_counter!(RELOADS, "Route table swaps (hot reload or admin API).");
    describe_counter!(RELOAD_FAILURES, "Reloads that kept the previous version.");
    describe_counter!(
        LIMIT_HITS,
        "Requests stopped by a limit, by route and limit."
    );
    describe_counter!(
        OUTBOUND_REFUSED,
        "Guest outbound requests refused for their destination address, by route and class."
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections closed at once because the listener was at its cap."
    );
    describe_counter!(
        CLIENTS_STALLED,
        "Responses aborted because the client stopped reading (write timeout)."
    );
    describe_counter!(
        LOG_LINES_DROPPED,
        "Log lines dropped because stderr could not keep up (the log queue was full)."
    );
    describe_counter!(
        KV_OPERATIONS,
        "wasi:keyvalue calls, by store, operation and outcome."
    );
    describe_histogram!(
        KV_DURATION,
        Unit::Seconds,
        "Time one wasi:keyvalue call spent in its backend, by store and operation."
    );
    describe_counter!(
        TRACE_SPANS_DROPPED,
        "Spans lost before the trace collector, by reason (queue_full, export_failed)."
    );
    describe_counter!(TRACE_SPANS_EXPORTED, "Spans the trace collector accepted.");
    describe_counter!(
        MEMORY_BUDGET_HITS,
        "Instances stopped by a memory budget (linear or host), by route and budget."
    );
}

/// The metrics in Prometheus text format, with the log's drop count as of now.
pub fn render(handle: &PrometheusHandle) -> String {
    metrics::counter!(LOG_LINES_DROPPED).absolute(log_writer::dropped_lines());
    handle.render()
}

/// Count a request stopped by `limit` on `route`.
pub fn limit_hit(route: &str, limit: &'static str) {
    metrics::counter!(LIMIT_HITS, "route" => route.to_string(), "limit" => limit).increment(1);
}

/// Count a guest outbound request refused for where it would connect.
pub fn outbound_refused(route: &str, class: &'static str) {
    metrics::counter!(OUTBOUND_REFUSED, "route" => route.to_string(), "class" => class)
        .increment(1);
}

/// Count a connection closed at once because `listener` was full.
pub fn connection_refused(listener: &'static str) {
    metrics::counter!(CONNECTIONS_REFUSED, "listener" => listener).increment(1);
}

/// Count a response aborted because its client stopped reading.
pub fn client_stalled(route: &str) {
    metrics::counter!(CLIENTS_STALLED, "route" => route.to_string()).increment(1);
}

/// Count an instance of `route` stopped by its `budget` (`linear` or `host`).
pub fn memory_budget_hit(route: &str, budget: &'static str) {
    metrics::counter!(MEMORY_BUDGET_HITS, "route" => route.to_string(), "budget" => budget)
        .increment(1);
}

/// Count a reload (`ok`) or a failed one.
pub fn reloaded(ok: bool) {
    match ok {
        true => metrics::counter!(RELOADS).increment(1),
        false => metrics::counter!(RELOAD_FAILURES).increment(1),
    }
}

/// Count one wasi:keyvalue call on `store` and how long its backend took.
pub fn kv_call(store: &str, op: &'static str, outcome: &'static str, took: std::time::Duration) {
    let store = store.to_string();
    metrics::counter!(KV_OPERATIONS, "store" => store.clone(), "op" => op, "outcome" => outcome)
        .increment(1);
    metrics::histogram!(KV_DURATION, "store" => store, "op" => op).record(took.as_secs_f64());
}
