//! One route's metric handles, resolved once when the route is loaded.
//!
//! Recording through the `metrics` macros looks each series up by name and
//! labels on every call: the label strings are built, hashed and compared
//! in the recorder's registry. A request records six or seven series, so
//! the request path resolves them here instead, once per route per load
//! (a reload builds new handles), and each request only adds to an atomic.
//!
//! Handles made before a recorder is installed record nothing, so the
//! server installs its recorder (`telemetry::install`, when the admin
//! listener starts) before it loads any route.

use super::{BYTES_IN, BYTES_OUT, INSTANTIATION, IN_FLIGHT, POOLED_INSTANCES};
use super::{REQUESTS, REQUEST_DURATION};
use metrics::{Counter, Gauge, Histogram};
use std::sync::Arc;
use std::time::Duration;

/// The `status` labels of [`REQUESTS`], indexed by [`class_of`].
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Where `status` falls in [`STATUS_CLASSES`] (anything past 499 is `5xx`).
fn class_of(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// The request-path series of one route (label `route`).
pub struct RouteMetrics {
    /// For `Debug`: the route's name.
    route: Arc<str>,
    /// [`REQUESTS`] by status class, as [`STATUS_CLASSES`].
    requests: [Counter; 5],
    duration: Histogram,
    in_flight: Gauge,
    bytes_in: Counter,
    bytes_out: Counter,
    instantiation: Histogram,
    pooled: Gauge,
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteMetrics")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl RouteMetrics {
    /// The handles of `route`'s series.
    pub fn new(route: &str) -> Arc<RouteMetrics> {
        let route = route.to_string();
        let requests = STATUS_CLASSES
            .map(|class| metrics::counter!(REQUESTS, "route" => route.clone(), "status" => class));
        Arc::new(RouteMetrics {
            route: route.as_str().into(),
            requests,
            duration: metrics::histogram!(REQUEST_DURATION, "route" => route.clone()),
            in_flight: metrics::gauge!(IN_FLIGHT, "route" => route.clone()),
            bytes_in: metrics::counter!(BYTES_IN, "route" => route.clone()),
            bytes_out: metrics::counter!(BYTES_OUT, "route" => route.clone()),
            instantiation: metrics::histogram!(INSTANTIATION, "route" => route.clone()),
            pooled: metrics::gauge!(POOLED_INSTANCES, "route" => route),
        })
    }

    /// The series of requests no route matched (route `-`).
    pub fn unmatched() -> Arc<RouteMetrics> {
        RouteMetrics::new("-")
    }

    /// One request answered with `status`, its body ended after `took`,
    /// `bytes` of it sent.
    pub fn answered(&self, status: u16, took: Duration, bytes: u64) {
        self.requests[class_of(status)].increment(1);
        self.duration.record(took.as_secs_f64());
        if bytes > 0 {
            self.bytes_out.increment(bytes);
        }
    }

    /// A request entered (`1.0`) or left (`-1.0`) the route.
    pub fn in_flight(&self, delta: f64) {
        self.in_flight.increment(delta);
    }

    /// Request body bytes a guest read.
    pub fn bytes_in(&self, bytes: u64) {
        if bytes > 0 {
            self.bytes_in.increment(bytes);
        }
    }

    /// One guest instantiation took `took`.
    pub fn instantiated(&self, took: Duration) {
        self.instantiation.record(took.as_secs_f64());
    }

    /// One more (`1.0`) or one fewer (`-1.0`) instance alive in the route's pool.
    pub fn pooled_instances(&self, delta: f64) {
        self.pooled.increment(delta);
    }
}
