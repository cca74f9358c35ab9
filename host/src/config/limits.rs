//! Budgets: what one route's requests may use, and what the server accepts.
//!
//! Every key of [`Limits`] may be set in `[defaults]` and overridden per
//! `[[route]]`; [`ServerLimits`] come from `[server]`. The defaults are safe
//! for untrusted handlers and documented in README.md.

use ipnet::IpNet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// Component instances (requests in flight, over all routes) the engine's
/// instance pool has slots for (see `runtime/tuning.rs`): the default and
/// the most `[server] max_concurrent_requests` may be. One more fails to
/// instantiate, so the server must not admit more than this at once.
pub const MAX_INSTANCES: u32 = 1000;

/// Connections the admin listener serves at once, over and above
/// `[server] max_connections`: its own budget, so probes still answer while
/// the main port is full (the default `max_connections` leaves these file
/// descriptors free).
pub const ADMIN_MAX_CONNECTIONS: usize = 32;

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
    /// Whether allowed outbound names may resolve to loopback, private,
    /// link-local and other non-public addresses (`allow_private_networks`,
    /// default false; a pattern naming an IP address allows that address
    /// either way).
    pub allow_private_networks: bool,
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
            allow_private_networks: false,
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
    /// A connection with no request in flight for this long is closed (an
    /// HTTP/2 one with a GOAWAY); idle HTTP/2 connections are also pinged this
    /// often and closed if the ping is not answered within the same time
    /// (`idle_timeout_ms`, default 60 s).
    pub idle_timeout: Duration,
    /// Most request headers (`max_header_count`, default 100): 431.
    pub max_header_count: usize,
    /// Largest request head in bytes (`max_header_bytes`, default 64 KiB): 431.
    pub max_header_bytes: usize,
    /// Client connections open at once (`max_connections`); more are closed
    /// as soon as they are accepted. `None` (the default): sized to the
    /// process's open-file limit when the server starts (`serve/limit.rs`).
    pub max_connections: Option<usize>,
    /// How long a response may wait for its client to take the next piece
    /// before the connection is cut and the request's slots freed
    /// (`write_timeout_ms`, default 30 s). Time the handler or upstream takes
    /// to produce the body does not count.
    pub write_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (`trusted_proxies`, CIDRs
    /// or addresses, default none): from them the header is kept and the
    /// peer appended; from anyone else it is replaced by the peer address.
    pub trusted_proxies: Vec<IpNet>,
    /// The server's memory budget in bytes (`max_memory_mb`, default none):
    /// a config whose worst case (`config/memory.rs`) exceeds it is refused.
    pub max_memory: Option<u64>,
    /// Guests' linear memories behind guard pages, out-of-bounds accesses
    /// caught by the MMU (`guard_pages`, default false: explicit bounds
    /// checks). Read at start-up; see `runtime/tuning.rs` for the trade.
    pub guard_pages: bool,
}

impl ServerLimits {
    /// Whether `peer` is one of the `trusted_proxies`.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
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
            trusted_proxies: Vec::new(),
            max_connections: None,
            write_timeout: Duration::from_secs(30),
            max_memory: None,
            guard_pages: false,
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
    allow_private_networks: Option<bool>,
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
    trusted_proxies: Option<Vec<String>>,
    max_connections: Option<i64>,
    write_timeout_ms: Option<i64>,
    max_memory_mb: Option<i64>,
    guard_pages: Option<bool>,
    /// Read by `config/key_value.rs`, not a limit.
    pub(super) data_dir: Option<std::path::PathBuf>,
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
            allow_private_networks: self
                .allow_private_networks
                .unwrap_or(base.allow_private_networks),
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
            trusted_proxies: match self.trusted_proxies {
                Some(entries) => entries
                    .iter()
                    .map(|entry| proxy_network(entry))
                    .collect::<Result<_, _>>()?,
                None => d.trusted_proxies,
            },
            max_connections: match self.max_connections {
                Some(n) => Some(bounded("max_connections", n, 1, 1_000_000)? as usize),
                None => d.max_connections,
            },
            write_timeout: ms("write_timeout_ms", self.write_timeout_ms, d.write_timeout)?,
            max_memory: match self.max_memory_mb {
                Some(n) => Some(bounded("max_memory_mb", n, 1, 1 << 30)? << 20),
                None => d.max_memory,
            },
            guard_pages: self.guard_pages.unwrap_or(d.guard_pages),
        })
    }
}

/// One `trusted_proxies` entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a
/// single address.
fn proxy_network(entry: &str) -> Result<IpNet, String> {
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| {
            format!("`trusted_proxies`: {entry:?} is neither a CIDR (10.0.0.0/8) nor an IP address")
        })
}

#[cfg(test)]
mod server_tests {
    use super::*;

    fn server(text: &str) -> Result<ServerLimits, String> {
        toml::from_str::<RawServer>(text)
            .map_err(|e| e.to_string())?
            .resolve()
    }

    #[test]
    fn connection_keys_default_to_fd_sized_and_30_s() {
        let d = server("").unwrap();
        assert_eq!(d.max_connections, None);
        assert_eq!(d.write_timeout, Duration::from_secs(30));
        let set = server("max_connections = 8\nwrite_timeout_ms = 500\n").unwrap();
        assert_eq!(set.max_connections, Some(8));
        assert_eq!(set.write_timeout, Duration::from_millis(500));
    }

    #[test]
    fn connection_keys_out_of_range_name_the_key() {
        let e = server("max_connections = 0\n").unwrap_err();
        assert!(e.contains("`max_connections` = 0 is out of range"), "{e}");
        let e = server("write_timeout_ms = 0\n").unwrap_err();
        assert!(e.contains("`write_timeout_ms` = 0 is out of range"), "{e}");
    }
}
