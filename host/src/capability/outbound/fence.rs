//! The address fence: which resolved addresses a request may connect to. A request's name
//! passing the allow-list is not enough — the address it resolves to is checked too, and the
//! connection goes to exactly the address checked (`send.rs` never resolves twice), so DNS
//! answers cannot smuggle a request onto the host's own network.
//!
//! Refused unless an allow-list entry names the address itself (an IP literal, e.g.
//! `http://127.0.0.1:*`): loopback, private (RFC 1918, unique local), link-local
//! (169.254.0.0/16 — the instance metadata and container credentials endpoints — and
//! fe80::/10), carrier-grade NAT, unspecified, broadcast and multicast addresses, and IPv4
//! addresses wrapped in IPv6. The Lambda runtime API (`AWS_LAMBDA_RUNTIME_API`, which
//! hands out invocations and takes their results; its address from `lambda/environment.rs`)
//! needs an entry naming its exact address and port.

use super::allow_list::{AllowList, Target};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Why an address is not public, or `None` when it is.
pub fn not_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            // ::ffff:10.0.0.1 and friends reach the IPv4 address.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_kind(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if v6.segments()[..6] == [0, 0, 0, 0, 0, 0] {
                Some("an IPv4-compatible IPv6 address")
            } else {
                None
            }
        }
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local (where the instance metadata and credentials endpoints live)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT (shared)")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if ip.is_multicast() || a >= 240 {
        Some("multicast or reserved")
    } else {
        None
    }
}

/// Checks one resolved address of `target`: `Ok`, or why it is refused.
pub fn check(
    allow: &AllowList,
    target: &Target,
    addr: SocketAddr,
    runtime_api: Option<SocketAddr>,
) -> Result<(), String> {
    let ip = canonical(addr.ip());
    if runtime_api.is_some_and(|api| canonical(api.ip()) == ip && api.port() == addr.port()) {
        if allow.names_address(target, ip, true) {
            return Ok(());
        }
        return Err(format!("{addr} is the Lambda runtime API"));
    }
    match not_public(ip) {
        None => Ok(()),
        Some(_) if allow.names_address(target, ip, false) => Ok(()),
        Some(kind) => Err(format!(
            "{addr} is a {kind} address; only an allowed_outbound_hosts entry naming it (e.g. \"{}://{}:{}\") reaches it",
            target.scheme(),
            bracketed(ip),
            addr.port()
        )),
    }
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they reach.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    const INSTANCE_METADATA: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
    const MAPPED_LOOPBACK: Ipv6Addr = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1);

    use super::super::allow_list::for_tests as list;

    fn target(host: &str, port: u16) -> Target {
        Target { https: false, host: host.into(), port }
    }

    #[test]
    fn addresses_that_are_not_public_are_named() {
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("169.254.170.2", "link-local"),
            ("100.64.0.1", "carrier-grade"),
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("fd00::1", "unique local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::", "unspecified"),
        ] {
            let found = not_public(ip.parse().unwrap()).unwrap_or_else(|| panic!("{ip} passed as public"));
            assert!(found.contains(kind), "{ip}: {found}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1", "100.128.0.1"] {
            assert_eq!(not_public(ip.parse().unwrap()), None, "{ip}");
        }
        assert!(not_public(IpAddr::V4(INSTANCE_METADATA)).is_some());
        assert!(not_public(IpAddr::V6(MAPPED_LOOPBACK)).is_some());
    }

    #[test]
    fn a_name_resolving_to_a_private_address_is_refused_unless_the_address_is_named() {
        let by_name = list(&["http://internal.example.com:*"]);
        let addr: SocketAddr = "10.0.0.7:80".parse().unwrap();
        let refused = check(&by_name, &target("internal.example.com", 80), addr, None).unwrap_err();
        assert!(refused.contains("private") && refused.contains("\"http://10.0.0.7:80\""), "{refused}");
        let named = list(&["http://10.0.0.7:*"]);
        assert_eq!(check(&named, &target("10.0.0.7", 80), addr, None), Ok(()));
        let public: SocketAddr = "93.184.216.34:80".parse().unwrap();
        assert_eq!(check(&by_name, &target("internal.example.com", 80), public, None), Ok(()));
    }

    #[test]
    fn the_metadata_address_is_refused_by_any_wildcard() {
        let everything = list(&["*://*:*"]);
        let metadata = SocketAddr::new(IpAddr::V4(INSTANCE_METADATA), 80);
        let refused = check(&everything, &target("169.254.169.254", 80), metadata, None).unwrap_err();
        assert!(refused.contains("link-local"), "{refused}");
        let mapped: SocketAddr = "[::ffff:169.254.169.254]:80".parse().unwrap();
        assert!(check(&everything, &target("::ffff:169.254.169.254", 80), mapped, None).is_err());
    }

    #[test]
    fn the_runtime_api_needs_its_exact_address_and_port() {
        let api: SocketAddr = "127.0.0.1:9001".parse().unwrap();
        let any_port = list(&["http://127.0.0.1:*"]);
        let refused = check(&any_port, &target("127.0.0.1", 9001), api, Some(api)).unwrap_err();
        assert!(refused.contains("runtime API"), "{refused}");
        // Other ports of the same address are ordinary loopback addresses.
        let other: SocketAddr = "127.0.0.1:9002".parse().unwrap();
        assert_eq!(check(&any_port, &target("127.0.0.1", 9002), other, Some(api)), Ok(()));
        let exact = list(&["http://127.0.0.1:9001"]);
        assert_eq!(check(&exact, &target("127.0.0.1", 9001), api, Some(api)), Ok(()));
    }
}
