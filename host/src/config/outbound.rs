//! `allowed_outbound_hosts`: the `scheme://host[:port]` patterns a route's
//! guests may send HTTP requests to, parsed once and matched against each
//! request's URL.
//!
//! Pure data, like the route patterns: the config checks every pattern
//! before the server starts, and the guest layer's outbound gate asks
//! [`AllowedHosts::grant`] for each request. Names are compared as
//! written, never resolved: the sender resolves them, and refuses private
//! addresses unless the grant names the address itself ([`Grant::Address`]).

use std::net::{Ipv4Addr, Ipv6Addr};

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

    /// How the allow-list allows a request to `uri`, if it does: by an IP
    /// address written in a pattern when any matching pattern is one, else
    /// by a name or wildcard.
    pub fn grant(&self, uri: &http::Uri) -> Option<Grant> {
        let target = Target::of(uri)?;
        let mut matching = self.0.iter().filter(|pattern| pattern.matches(&target));
        let first = matching.next()?;
        match first.host.is_address() || matching.any(|p| p.host.is_address()) {
            true => Some(Grant::Address),
            false => Some(Grant::Name),
        }
    }

    /// Whether nothing at all is allowed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How a request's URL was allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// A pattern names the URL's host as an IP address
    /// (`http://127.0.0.1:8081`, `http://[::1]:*`): the operator chose that
    /// very address, loopback or private as it may be.
    Address,
    /// By a name (`https://api.example.com`) or a wildcard (`*`,
    /// `*.example.com`), which says nothing about the addresses it resolves to.
    Name,
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
    /// Whether the pattern is one IP address: a dotted-quad IPv4 address
    /// (as Rust reads them: no `127.1`, no leading zeros) or a bracketed IPv6 one.
    fn is_address(&self) -> bool {
        match self {
            HostPattern::Exact(name) => name.parse::<Ipv4Addr>().is_ok(),
            HostPattern::Ipv6(_) => true,
            HostPattern::Any | HostPattern::Subdomain(_) => false,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(patterns: &[&str], url: &str) -> Option<Grant> {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        AllowedHosts::parse(&patterns)
            .unwrap()
            .grant(&url.parse().unwrap())
    }

    #[test]
    fn a_pattern_naming_the_address_grants_that_address() {
        let literal = ["http://127.0.0.1:*", "http://[::1]:8080"];
        assert_eq!(grant(&literal, "http://127.0.0.1:9/"), Some(Grant::Address));
        assert_eq!(grant(&literal, "http://[0::1]:8080/"), Some(Grant::Address));
        assert_eq!(grant(&literal, "http://localhost:9/"), None);
    }

    #[test]
    fn names_and_wildcards_grant_only_a_name() {
        assert_eq!(
            grant(&["http://*:*"], "http://127.0.0.1:9/"),
            Some(Grant::Name)
        );
        assert_eq!(grant(&["http://*:*"], "http://[::1]:9/"), Some(Grant::Name));
        assert_eq!(
            grant(&["http://localhost:*"], "http://localhost:9/"),
            Some(Grant::Name)
        );
        assert_eq!(
            grant(&["http://*.example.com"], "http://a.example.com/"),
            Some(Grant::Name)
        );
        // Not an address as Rust reads one: glibc would make it 127.0.0.1.
        assert_eq!(
            grant(&["http://127.1:*"], "http://127.1:9/"),
            Some(Grant::Name)
        );
    }

    #[test]
    fn any_matching_address_pattern_wins_over_a_wildcard() {
        let both = ["http://*:*", "http://127.0.0.1:8081"];
        assert_eq!(grant(&both, "http://127.0.0.1:8081/"), Some(Grant::Address));
        assert_eq!(grant(&both, "http://127.0.0.1:8082/"), Some(Grant::Name));
    }
}
