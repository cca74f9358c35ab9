//! Which IP addresses a guest may not reach by name: loopback, private,
//! link-local and the other ranges that are not the public internet.
//!
//! The allow-list matches a URL's text, so `http://*:*`, `*.example.com`, a
//! DNS name that resolves to `127.0.0.1` or glibc's `2130706433` would all
//! reach the host's own network (cloud metadata at 169.254.169.254, the
//! admin listener, a database on 10.0.0.5). The sender resolves the name
//! first and asks [`classify`] about every address it got; one in a
//! [`Class`] is refused unless the route allows it. IPv6 forms that carry an
//! IPv4 address (`::ffff:127.0.0.1`, `::127.0.0.1`, `64:ff9b::7f00:1`) are
//! judged by the IPv4 address inside.
//!
//! [`OwnAddresses`] are the server's own listeners (main and admin): never
//! reachable from a guest, whatever the route allows, so a guest cannot
//! call the admin API or loop through its own server.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// A range a guest may not reach by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`; and IPv6 site-local `fec0::/10`.
    Private,
    /// `169.254/16` (cloud metadata lives here), `fe80::/10`.
    LinkLocal,
    /// IPv6 unique-local `fc00::/7`.
    UniqueLocal,
    /// Carrier-grade NAT, `100.64/10`.
    SharedAddressSpace,
    /// `0.0.0.0/8` ("this network": Linux connects `0.0.0.0` to itself), `::`.
    ThisNetwork,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255` and the rest of `240/4`.
    Reserved,
    /// `192.0.0/24`: IETF protocol assignments.
    ProtocolAssignment,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`.
    Documentation,
    /// `198.18/15`, `2001:2::/48`.
    Benchmarking,
    /// IPv6 discard-only `100::/64`.
    Discard,
}

impl Class {
    /// The name the log line and the metric's `class` label use.
    pub fn name(self) -> &'static str {
        match self {
            Class::Loopback => "loopback",
            Class::Private => "private",
            Class::LinkLocal => "link-local",
            Class::UniqueLocal => "unique-local",
            Class::SharedAddressSpace => "shared-address-space",
            Class::ThisNetwork => "this-network",
            Class::Multicast => "multicast",
            Class::Reserved => "reserved",
            Class::ProtocolAssignment => "protocol-assignment",
            Class::Documentation => "documentation",
            Class::Benchmarking => "benchmarking",
            Class::Discard => "discard",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The range `ip` is in, or `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => Class::ThisNetwork,
        (127, ..) => Class::Loopback,
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => Class::Private,
        (169, 254, _) => Class::LinkLocal,
        (100, 64..=127, _) => Class::SharedAddressSpace,
        (192, 0, 0) => Class::ProtocolAssignment,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Class::Documentation,
        (198, 18..=19, _) => Class::Benchmarking,
        (224..=239, ..) => Class::Multicast,
        (240..=255, ..) => Class::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    let s = ip.segments();
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 1] => Class::Loopback,
        [0, 0, 0, 0, 0, 0, 0, 0] => Class::ThisNetwork,
        [0x100, 0, 0, 0, ..] => Class::Discard,
        [0x2001, 0xdb8, ..] => Class::Documentation,
        [0x2001, 2, 0, ..] => Class::Benchmarking,
        _ if s[0] & 0xffc0 == 0xfe80 => Class::LinkLocal,
        _ if s[0] & 0xffc0 == 0xfec0 => Class::Private,
        _ if s[0] & 0xfe00 == 0xfc00 => Class::UniqueLocal,
        _ if s[0] & 0xff00 == 0xff00 => Class::Multicast,
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped
/// `::ffff:a.b.c.d`, the deprecated IPv4-compatible `::a.b.c.d` (not `::`
/// or `::1`, which are IPv6's own), and NAT64's `64:ff9b::a.b.c.d`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] => Some(v4),
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, ..] => Some(v4),
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(v4),
        _ => None,
    }
}

/// The same address as IPv4 when it is an IPv4-mapped IPv6 address, so
/// `[::ffff:127.0.0.1]:8080` and `127.0.0.1:8080` compare equal.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The addresses this process listens on (the server's and the admin
/// listener's), shared by every route's outbound gate.
///
/// Filled in as listeners bind, after the routes are loaded, so it is a
/// shared set rather than a value fixed when a gate is made.
#[derive(Clone, Debug, Default)]
pub struct OwnAddresses(Arc<Mutex<Vec<SocketAddr>>>);

impl OwnAddresses {
    /// Count `addr` as ours until the returned guard is dropped.
    pub fn hold(&self, addr: SocketAddr) -> OwnAddress {
        self.lock().push(canonical(addr));
        OwnAddress {
            set: self.clone(),
            addr: canonical(addr),
        }
    }

    /// Whether a connection to `target` would reach one of our listeners: the
    /// same address and port; or the port of a listener on all interfaces
    /// (`0.0.0.0`, `::`) at a loopback, private or unspecified address, the
    /// ways the host reaches itself.
    pub fn reaches(&self, target: SocketAddr) -> bool {
        let target = canonical(target);
        let local_alias = classify(target.ip()).is_some();
        self.lock().iter().any(|own| {
            own.port() == target.port()
                && (own.ip() == target.ip()
                    || target.ip().is_unspecified()
                    || (own.ip().is_unspecified() && local_alias))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SocketAddr>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One listener's place in [`OwnAddresses`], removed when dropped (the
/// listener closed, so its port may become someone else's).
#[derive(Debug)]
pub struct OwnAddress {
    set: OwnAddresses,
    addr: SocketAddr,
}

impl Drop for OwnAddress {
    fn drop(&mut self) {
        let mut addrs = self.set.lock();
        if let Some(i) = addrs.iter().position(|a| *a == self.addr) {
            addrs.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> Option<Class> {
        classify(ip.parse().unwrap_or_else(|_| panic!("{ip} is an address")))
    }

    #[test]
    fn every_ipv4_range_has_its_class_at_both_ends() {
        for (first, last, expected) in [
            ("0.0.0.0", "0.255.255.255", Class::ThisNetwork),
            ("10.0.0.0", "10.255.255.255", Class::Private),
            ("100.64.0.0", "100.127.255.255", Class::SharedAddressSpace),
            ("127.0.0.0", "127.255.255.255", Class::Loopback),
            ("169.254.0.0", "169.254.255.255", Class::LinkLocal),
            ("172.16.0.0", "172.31.255.255", Class::Private),
            ("192.0.0.0", "192.0.0.255", Class::ProtocolAssignment),
            ("192.0.2.0", "192.0.2.255", Class::Documentation),
            ("192.168.0.0", "192.168.255.255", Class::Private),
            ("198.18.0.0", "198.19.255.255", Class::Benchmarking),
            ("198.51.100.0", "198.51.100.255", Class::Documentation),
            ("203.0.113.0", "203.0.113.255", Class::Documentation),
            ("224.0.0.0", "239.255.255.255", Class::Multicast),
            ("240.0.0.0", "255.255.255.255", Class::Reserved),
        ] {
            assert_eq!(class(first), Some(expected), "{first}");
            assert_eq!(class(last), Some(expected), "{last}");
        }
    }

    #[test]
    fn the_neighbours_of_each_ipv4_range_are_public() {
        for ip in [
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "203.0.112.255",
            "223.255.255.255",
            "8.8.8.8",
            "93.184.215.14",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_ipv6_range_has_its_class() {
        for (ip, expected) in [
            ("::1", Class::Loopback),
            ("::", Class::ThisNetwork),
            ("fe80::1", Class::LinkLocal),
            ("febf:ffff::1", Class::LinkLocal),
            ("fec0::1", Class::Private),
            ("fc00::1", Class::UniqueLocal),
            ("fdff:ffff::1", Class::UniqueLocal),
            ("ff02::1", Class::Multicast),
            ("2001:db8::1", Class::Documentation),
            ("2001:2::1", Class::Benchmarking),
            ("100::1", Class::Discard),
        ] {
            assert_eq!(class(ip), Some(expected), "{ip}");
        }
        for ip in [
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "fbff::1",
            "2001:db9::1",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_are_judged_by_it() {
        for (ip, expected) in [
            ("::ffff:127.0.0.1", Some(Class::Loopback)),
            ("::ffff:7f00:1", Some(Class::Loopback)),
            ("::ffff:169.254.169.254", Some(Class::LinkLocal)),
            ("::ffff:10.1.2.3", Some(Class::Private)),
            ("::ffff:100.64.0.1", Some(Class::SharedAddressSpace)),
            ("::ffff:0.0.0.0", Some(Class::ThisNetwork)),
            ("::ffff:224.0.0.1", Some(Class::Multicast)),
            ("::127.0.0.1", Some(Class::Loopback)),
            ("::192.168.1.1", Some(Class::Private)),
            ("64:ff9b::169.254.169.254", Some(Class::LinkLocal)),
            ("64:ff9b::7f00:1", Some(Class::Loopback)),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::8.8.8.8", None),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn own_addresses_are_reached_by_every_local_spelling() {
        let own = OwnAddresses::default();
        let _main = own.hold("127.0.0.1:8080".parse().unwrap());
        let _all = own.hold("0.0.0.0:9091".parse().unwrap());
        let reaches = |t: &str| own.reaches(t.parse().unwrap());
        assert!(reaches("127.0.0.1:8080"));
        assert!(reaches("[::ffff:127.0.0.1]:8080"));
        assert!(reaches("0.0.0.0:8080"));
        assert!(reaches("[::]:8080"));
        assert!(reaches("127.0.0.1:9091"));
        assert!(reaches("10.0.0.7:9091"));
        assert!(!reaches("127.0.0.2:8080"), "another loopback address");
        assert!(!reaches("127.0.0.1:8081"), "another port");
        assert!(!reaches("93.184.215.14:9091"), "a public host's port");
    }

    #[test]
    fn a_dropped_listener_is_no_longer_ours() {
        let own = OwnAddresses::default();
        let addr = "127.0.0.1:8080".parse().unwrap();
        let (first, _second) = (own.hold(addr), own.hold(addr));
        drop(first);
        assert!(own.reaches(addr), "the other holder still counts");
        let other = "127.0.0.1:8081".parse().unwrap();
        drop(own.hold(other));
        assert!(!own.reaches(other));
    }
}
