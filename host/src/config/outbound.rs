//! `allowed_outbound_hosts`: the `scheme://host[:port]` patterns a route's
//! guests may send HTTP requests to, parsed once and matched against each
//! request's URL.
//!
//! Pure data, like the route patterns: the config checks every pattern
//! before the server starts, and the guest layer's outbound gate asks
//! [`AllowedHosts::allows`] for each request. Names are compared as
//! written, never resolved.

use std::net::Ipv6Addr;

/// A route's allow-list, in config order.
#[derive(Debug, Default, PartialEq)]
pub struct AllowedHosts(Vec<Pattern>);

impl AllowedHosts {
    /// The patterns as written in the config, or the first that is not
    /// `scheme://host[:port]` and why.
    pub fn parse(patterns: &[String]) -> Result<AllowedHosts, String> {
        patterns
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<_, _>>()
            .map(AllowedHosts)
    }

    /// Whether any pattern allows a request to `uri`.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(target) = Target::of(uri) else {
            return false;
        };
        self.0.iter().any(|pattern| pattern.matches(&target))
    }

    /// Whether nothing at all is allowed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
