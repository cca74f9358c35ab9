//! Outbound HTTP from guests (`wasi:http/outgoing-handler`): denied unless a
//! route allows it.
//!
//! A handler gets no network unless the operator grants it. Each route has
//! one [`OutboundGate`]: the `scheme://host[:port]` patterns it may reach and
//! the limits on reaching them. A request outside the list fails inside the
//! guest with the wasi:http error code `HTTP-request-denied`, an error the
//! guest can handle rather than a trap, and the host logs which route tried to
//! reach which URL. An allowed request goes out through wasmtime-wasi-http's
//! default sender with the route's timeouts as upper bounds on the guest's
//! own, and holds one of the route's permits until its response body is done,
//! so a slow upstream cannot make one route hoard connections.

use crate::body::Holding;
use crate::chain::{self, Next};
use crate::state::RequestTag;
use http_body_util::BodyExt;
use std::future::Future;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// How much outbound traffic one route's guests may make.
#[derive(Clone, Copy, Debug)]
pub struct OutboundLimits {
    /// Requests in flight at once, counting each until its response body ends.
    pub max_concurrency: usize,
    /// Bounds the wait for a permit, then the connection itself.
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub between_bytes_timeout: Duration,
}

impl Default for OutboundLimits {
    /// The config's defaults: 16 at once, 5 s to connect, 30 s otherwise.
    fn default() -> OutboundLimits {
        OutboundLimits {
            max_concurrency: 16,
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(30),
            between_bytes_timeout: Duration::from_secs(30),
        }
    }
}

/// One route's outbound policy, shared by all of its requests.
pub struct OutboundGate {
    allowed: Vec<Pattern>,
    limits: OutboundLimits,
    permits: Arc<Semaphore>,
    denied: AtomicU64,
}

impl OutboundGate {
    /// A gate allowing `patterns` (as written in the config), or the first
    /// pattern that is not `scheme://host[:port]` and why.
    pub fn new(patterns: &[String], limits: OutboundLimits) -> Result<OutboundGate, String> {
        if limits.max_concurrency == 0 {
            return Err("outbound max concurrency must be at least 1".into());
        }
        let allowed = patterns
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<_, _>>()?;
        let permits = limits.max_concurrency.min(Semaphore::MAX_PERMITS);
        Ok(OutboundGate {
            allowed,
            limits,
            permits: Arc::new(Semaphore::new(permits)),
            denied: AtomicU64::new(0),
        })
    }

    /// A gate allowing nothing: what a route gets when it lists no hosts.
    pub fn deny_all() -> OutboundGate {
        OutboundGate::new(&[], OutboundLimits::default()).expect("no patterns, nonzero concurrency")
    }

    /// How many requests this gate has denied since it was made.
    pub fn denied(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }

    fn allows(&self, uri: &http::Uri) -> bool {
        let Some(target) = Target::of(uri) else {
            return false;
        };
        self.allowed.iter().any(|pattern| pattern.matches(&target))
    }

    /// The guest's timeouts, each capped by the route's.
    fn options(&self, guest: Option<RequestOptions>) -> RequestOptions {
        let guest = guest.unwrap_or_default();
        let cap =
            |asked: Option<Duration>, most: Duration| Some(asked.map_or(most, |a| a.min(most)));
        RequestOptions {
            connect_timeout: cap(guest.connect_timeout, self.limits.connect_timeout),
            first_byte_timeout: cap(guest.first_byte_timeout, self.limits.first_byte_timeout),
            between_bytes_timeout: cap(
                guest.between_bytes_timeout,
                self.limits.between_bytes_timeout,
            ),
        }
    }
}

/// One allow-list entry: `scheme://host[:port]`, lowercased.
#[derive(Debug, PartialEq)]
struct Pattern {
    https: bool,
    host: HostPattern,
    /// `None` is `*`: any port.
    port: Option<u16>,
}

#[derive(Debug, PartialEq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.suffix`, stored as `.suffix`: any name ending in it, not `suffix` itself.
    Subdomain(String),
    /// Compared as an address, so `[::1]` and `[0::1]` are the same host.
    Ipv6(Ipv6Addr),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let bad = |why: &str| format!("outbound host pattern {text:?} is invalid: {why}");
        let lower = text.to_ascii_lowercase();
        let (scheme, authority) = lower
            .split_once("://")
            .ok_or_else(|| bad("it must be scheme://host[:port]"))?;
        let https = match scheme {
            "http" => false,
            "https" => true,
            _ => return Err(bad("the scheme must be http or https")),
        };
        if let Some(c) = authority
            .chars()
            .find(|c| matches!(c, '/' | '?' | '#' | '@'))
        {
            return Err(bad(&format!(
                "'{c}' is not allowed, as a pattern has no path, query or user"
            )));
        }
        let host_end = match authority.starts_with('[') {
            true => {
                authority
                    .find(']')
                    .ok_or_else(|| bad("the IPv6 address has no closing ']'"))?
                    + 1
            }
            false => authority.find(':').unwrap_or(authority.len()),
        };
        let (host, rest) = authority.split_at(host_end);
        let port = match rest.strip_prefix(':') {
            None if rest.is_empty() => Some(if https { 443 } else { 80 }),
            None => return Err(bad("only ':port' may follow the IPv6 address")),
            Some("*") => None,
            Some(p) if p.contains(':') => {
                return Err(bad("an IPv6 address must be in brackets, as in [::1]"))
            }
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port != 0 => Some(port),
                _ => return Err(bad("the port must be a number from 1 to 65535, or *")),
            },
        };
        Ok(Pattern {
            https,
            host: HostPattern::parse(host).map_err(bad)?,
            port,
        })
    }

    fn matches(&self, target: &Target) -> bool {
        let host = &target.host;
        self.https == target.https
            && self.port.is_none_or(|port| port == target.port)
            && match &self.host {
                HostPattern::Any => true,
                HostPattern::Exact(name) => host == name,
                HostPattern::Subdomain(suffix) => {
                    host.len() > suffix.len() && host.ends_with(suffix.as_str())
                }
                HostPattern::Ipv6(ip) => Some(*ip) == bracketed_ipv6(host),
            }
    }
}

impl HostPattern {
    fn parse(host: &str) -> Result<HostPattern, &'static str> {
        if host == "*" {
            return Ok(HostPattern::Any);
        }
        if host.starts_with('[') {
            return bracketed_ipv6(host)
                .map(HostPattern::Ipv6)
                .ok_or("the text in brackets is not an IPv6 address");
        }
        let (name, subdomains) = match host.strip_prefix("*.") {
            Some(suffix) => (suffix, true),
            None => (host, false),
        };
        let label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if host.is_empty() {
            Err("the host is empty")
        } else if name.contains('*') {
            Err("'*' may only be the whole host, a leading '*.', or the whole port")
        } else if !name.split('.').all(label) {
            Err("the host is not a valid name or IP address")
        } else if subdomains {
            Ok(HostPattern::Subdomain(format!(".{name}")))
        } else {
            Ok(HostPattern::Exact(name.to_string()))
        }
    }
}

fn bracketed_ipv6(host: &str) -> Option<Ipv6Addr> {
    host.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// Where a request is going, normalized like a [`Pattern`].
struct Target {
    https: bool,
    host: String,
    port: u16,
}

impl Target {
    /// `None` for anything no pattern can allow: another scheme, no host, or
    /// userinfo (which only ever serves to disguise the host).
    fn of(uri: &http::Uri) -> Option<Target> {
        let https = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        if uri.authority()?.as_str().contains('@') {
            return None;
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Some(Target {
            https,
            host: uri.host()?.to_ascii_lowercase(),
            port,
        })
    }
}

/// The `WasiHttpHooks` of one request: its route's gate, who is asking, and
/// (for a middleware) what the reserved `next` authority leads to.
pub struct Outbound {
    tag: RequestTag,
    gate: Arc<OutboundGate>,
    pub(crate) next: Option<Next>,
}

impl Outbound {
    pub fn new(tag: RequestTag, gate: Arc<OutboundGate>) -> Outbound {
        Outbound {
            tag,
            gate,
            next: None,
        }
    }

    /// Log later requests under another request (a reused instance).
    pub fn retag(&mut self, tag: RequestTag) {
        self.tag = tag;
    }
}

type IoFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;
type SendFuture = Box<
    dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoFuture)>> + Send,
>;

impl WasiHttpHooks for Outbound {
    /// Let a guest queue up to 64 writes of at most 64 KiB (4 MiB) ahead of
    /// the connection instead of one: streaming went from 194 to 463 MB/s
    /// (bench/run.sh), while memory per response stays bounded.
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        64
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        64 << 10
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        // A middleware passing its request on: in-process, never the network.
        if let Some(next) = self.next.as_ref().filter(|_| chain::is_next(request.uri())) {
            let next = next.clone();
            return Box::new(async move {
                let response = next.send(request).await?;
                Ok((response, Box::new(async { Ok(()) }) as IoFuture))
            });
        }
        let (gate, tag, url) = (self.gate.clone(), self.tag.clone(), request.uri().clone());
        if !gate.allows(&url) {
            gate.denied.fetch_add(1, Ordering::Relaxed);
            crate::telemetry::limit_hit(&tag.route, "outbound_denied");
            let why = match gate.allowed.is_empty() {
                true => "no outbound hosts are allowed for this route",
                false => "the URL matches none of this route's allowed outbound hosts",
            };
            tracing::warn!(route = %tag.route, request_id = %tag.request_id, url = %url,
                "outbound request denied: {why}");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let options = gate.options(options);
        Box::new(async move {
            let wait = options
                .connect_timeout
                .unwrap_or(gate.limits.connect_timeout);
            let Ok(Ok(permit)) =
                tokio::time::timeout(wait, gate.permits.clone().acquire_owned()).await
            else {
                tracing::warn!(route = %tag.route, request_id = %tag.request_id, url = %url,
                    "outbound request refused: the route's outbound concurrency limit was reached");
                return Err(Error::ConnectionLimitReached);
            };
            // The default sender bounds the TCP connect and the first byte, not
            // the TLS handshake between them: bound the whole, too.
            let first_byte = options.first_byte_timeout;
            let bound = wait + first_byte.unwrap_or(gate.limits.first_byte_timeout);
            let send = wasmtime_wasi_http::default_send_request(request, Some(options));
            let (response, io) = tokio::time::timeout(bound, send)
                .await
                .map_err(|_| Error::ConnectionTimeout)??;
            let response = response.map(|body| {
                Holding {
                    body,
                    held: Some(permit),
                }
                .boxed_unsync()
            });
            Ok((response, Box::new(io) as IoFuture))
        })
    }
}

#[cfg(test)]
mod tests;
