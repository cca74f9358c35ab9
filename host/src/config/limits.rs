//! Budgets: what one route's requests may use, and what the server accepts.
//!
//! Every key of [`Limits`] may be set in `[defaults]` and overridden per
//! `[[route]]`; [`ServerLimits`] come from `[server]`. The defaults are safe
//! for untrusted handlers and documented in README.md.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Component instances (requests in flight, over all routes) the engine's
/// instance pool has slots for (see `runtime/tuning.rs`): the default and
/// the most `[server] max_concurrent_requests` may be. One more fails to
/// instantiate, so the server must not admit more than this at once.
pub const MAX_INSTANCES: u32 = 1000;

/// A route's budget. Every key may be set in `[defaults]` and per route.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Deadline for one request, from arrival to the end of the response
    /// (`timeout_ms`, default 30 s): 504 if no response was set, a cut
    /// stream otherwise.
    pub timeout: Duration,
    /// Linear memory one instance may use, all its memories together
    /// (`memory_mb`, default 128).
    pub memory_bytes: usize,
    /// Instances of this route running at once (`max_concurrency`, default 100).
    pub max_concurrency: usize,
    /// Largest request body (`max_request_body_bytes`, default 100 MiB): 413.
    pub max_request_body: u64,
    /// Where the guest may send HTTP requests (`allowed_outbound_hosts`,
    /// default none), e.g. `["https://api.example.com", "http://127.0.0.1:*"]`.
    pub allowed_outbound_hosts: Vec<String>,
    /// Outbound requests of one route in flight at once (`max_outbound_concurrency`, default 16).
    pub max_outbound_concurrency: usize,
    /// `outbound_connect_timeout_ms`, default 5 s.
    pub outbound_connect_timeout: Duration,
    /// `outbound_first_byte_timeout_ms`, default 30 s.
    pub outbound_first_byte_timeout: Duration,
    /// `outbound_between_bytes_timeout_ms`, default 30 s.
    pub outbound_between_bytes_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(30),
            memory_bytes: 128 << 20,
            max_concurrency: 100,
            max_request_body: 100 << 20,
            allowed_outbound_hosts: Vec::new(),
            max_outbound_concurrency: 16,
            outbound_connect_timeout: Duration::from_secs(5),
            outbound_first_byte_timeout: Duration::from_secs(30),
            outbound_between_bytes_timeout: Duration::from_secs(30),
        }
    }
}

/// Server-wide limits (`[server]`).
#[derive(Clone, Debug, PartialEq)]
pub struct ServerLimits {
    /// Instances running at once over all routes (`max_concurrent_requests`,
    /// default and maximum 1000: the instance pool's size).
    pub max_concurrent_requests: usize,
    /// How long a request may wait for a free slot before a 503
    /// (`queue_timeout_ms`, default 1 s).
    pub queue_timeout: Duration,
    /// Time a client has to send a request's headers; for HTTP/1.1 also how
    /// long an idle keep-alive connection stays open (`header_read_timeout_ms`,
    /// default 10 s).
    pub header_read_timeout: Duration,
    /// Idle HTTP/2 connections are pinged this often and closed if the ping
    /// is not answered within the same time (`idle_timeout_ms`, default 60 s).
    pub idle_timeout: Duration,
    /// Most request headers (`max_header_count`, default 100): 431.
    pub max_header_count: usize,
    /// Largest request head in bytes (`max_header_bytes`, default 64 KiB): 431.
    pub max_header_bytes: usize,
    /// The server's memory budget in bytes (`max_memory_mb`, default none):
    /// a config whose worst case (`config/memory.rs`) exceeds it is refused.
    pub max_memory: Option<u64>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_concurrent_requests: MAX_INSTANCES as usize,
            queue_timeout: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_count: 100,
            max_header_bytes: 64 << 10,
            max_memory: None,
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct RawLimits {
    timeout_ms: Option<i64>,
    memory_mb: Option<i64>,
    max_concurrency: Option<i64>,
    max_request_body_bytes: Option<i64>,
    allowed_outbound_hosts: Option<Vec<String>>,
    max_outbound_concurrency: Option<i64>,
    outbound_connect_timeout_ms: Option<i64>,
    outbound_first_byte_timeout_ms: Option<i64>,
    outbound_between_bytes_timeout_ms: Option<i64>,
    #[serde(flatten)]
    unknown: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    max_concurrent_requests: Option<i64>,
    queue_timeout_ms: Option<i64>,
    header_read_timeout_ms: Option<i64>,
    idle_timeout_ms: Option<i64>,
    max_header_count: Option<i64>,
    max_header_bytes: Option<i64>,
    max_memory_mb: Option<i64>,
}

/// `value` if within `min..=max`, else a message naming `key` and the range.
pub(crate) fn bounded(key: &str, value: i64, min: i64, max: i64) -> Result<u64, String> {
    if (min..=max).contains(&value) {
        Ok(value as u64)
    } else {
        Err(format!(
            "`{key}` = {value} is out of range ({min} to {max})"
        ))
    }
}

impl RawLimits {
    /// These keys on top of `base`.
    pub(crate) fn apply(self, base: &Limits) -> Result<Limits, String> {
        if let Some(key) = self.unknown.keys().next() {
            return Err(format!("unknown key `{key}`"));
        }
        let ms = |key, v: Option<i64>, d: Duration| -> Result<Duration, String> {
            v.map(|v| bounded(key, v, 1, 24 * 3600 * 1000).map(Duration::from_millis))
                .unwrap_or(Ok(d))
        };
        let count = |key, v: Option<i64>, d: usize| -> Result<usize, String> {
            v.map(|v| bounded(key, v, 1, 1_000_000).map(|v| v as usize))
                .unwrap_or(Ok(d))
        };
        Ok(Limits {
            timeout: ms("timeout_ms", self.timeout_ms, base.timeout)?,
            memory_bytes: match self.memory_mb {
                Some(mb) => (bounded("memory_mb", mb, 1, 4096)? as usize) << 20,
                None => base.memory_bytes,
            },
            max_concurrency: count(
                "max_concurrency",
                self.max_concurrency,
                base.max_concurrency,
            )?,
            max_request_body: match self.max_request_body_bytes {
                Some(n) => bounded("max_request_body_bytes", n, 0, i64::MAX)?,
                None => base.max_request_body,
            },
            allowed_outbound_hosts: self
                .allowed_outbound_hosts
                .unwrap_or_else(|| base.allowed_outbound_hosts.clone()),
            max_outbound_concurrency: count(
                "max_outbound_concurrency",
                self.max_outbound_concurrency,
                base.max_outbound_concurrency,
            )?,
            outbound_connect_timeout: ms(
                "outbound_connect_timeout_ms",
                self.outbound_connect_timeout_ms,
                base.outbound_connect_timeout,
            )?,
            outbound_first_byte_timeout: ms(
                "outbound_first_byte_timeout_ms",
                self.outbound_first_byte_timeout_ms,
                base.outbound_first_byte_timeout,
            )?,
            outbound_between_bytes_timeout: ms(
                "outbound_between_bytes_timeout_ms",
                self.outbound_between_bytes_timeout_ms,
                base.outbound_between_bytes_timeout,
            )?,
        })
    }
}

impl RawServer {
    pub(crate) fn resolve(self) -> Result<ServerLimits, String> {
        let d = ServerLimits::default();
        let ms = |key, v: Option<i64>, d: Duration| -> Result<Duration, String> {
            v.map(|v| bounded(key, v, 1, 24 * 3600 * 1000).map(Duration::from_millis))
                .unwrap_or(Ok(d))
        };
        Ok(ServerLimits {
            max_concurrent_requests: match self.max_concurrent_requests {
                // The pool has slots for this many instances; above it a
                // request would fail to instantiate instead of queueing.
                Some(n) => bounded("max_concurrent_requests", n, 1, MAX_INSTANCES.into())
                    .map_err(|e| format!("{e}: the instance pool has {} slots", MAX_INSTANCES))?
                    as usize,
                None => d.max_concurrent_requests,
            },
            queue_timeout: ms("queue_timeout_ms", self.queue_timeout_ms, d.queue_timeout)?,
            header_read_timeout: ms(
                "header_read_timeout_ms",
                self.header_read_timeout_ms,
                d.header_read_timeout,
            )?,
            idle_timeout: ms("idle_timeout_ms", self.idle_timeout_ms, d.idle_timeout)?,
            max_header_count: match self.max_header_count {
                Some(n) => bounded("max_header_count", n, 1, 10_000)? as usize,
                None => d.max_header_count,
            },
            max_header_bytes: match self.max_header_bytes {
                // hyper needs room for at least 8 KiB.
                Some(n) => bounded("max_header_bytes", n, 8192, 16 << 20)? as usize,
                None => d.max_header_bytes,
            },
            max_memory: match self.max_memory_mb {
                Some(n) => Some(bounded("max_memory_mb", n, 1, 1 << 30)? << 20),
                None => d.max_memory,
            },
        })
    }
}
