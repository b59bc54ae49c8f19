//! Which addresses are public: [`not_public`] names why an address is not, from IANA's
//! special-purpose address registries (IPv4 and IPv6, as of 2026) — everything a registry
//! marks not globally reachable, plus multicast, broadcast and IPv6 outside global unicast
//! (`2000::/3`).
//!
//! IPv6 addresses that carry an IPv4 address are judged by the IPv4 address they reach:
//! mapped (`::ffff:0:0/96`), SIIT's IPv4-translated (`::ffff:0:0:0/96`), NAT64's well-known
//! prefix (`64:ff9b::/96` — in a VPC with DNS64, an AWS NAT gateway translates it to the
//! IPv4 address inside), 6to4 (`2002::/16`) and Teredo (`2001::/32`: its server and its
//! client). A translation prefix whose layout the host cannot know — local-use NAT64
//! (`64:ff9b:1::/48`, any prefix length) — is refused whole, as the deprecated
//! IPv4-compatible (`::/96`) and site-local (`fec0::/10`) ranges are.
//!
//! The same table is in the README's fences table; keep them together.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is not a public address, or `None` when it is.
pub fn not_public(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4).map(str::to_owned),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

/// IPv4 ranges that are not globally reachable (IANA IPv4 Special-Purpose Address Registry),
/// multicast and broadcast.
fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, d] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "unspecified (\"this network\", 0.0.0.0/8)",
        (10, ..) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "carrier-grade NAT (shared, 100.64.0.0/10)",
        (127, ..) => "loopback",
        (169, 254, _) => "link-local (169.254.0.0/16, where the instance metadata and credentials endpoints live)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        // IETF protocol assignments, but for the two globally reachable anycast addresses.
        (192, 0, 0) if d != 9 && d != 10 => "IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation (TEST-NET)",
        (192, 88, 99) => "deprecated 6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, ..) => "multicast",
        (255, 255, 255) if d == 255 => "broadcast",
        (240..=255, ..) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address carries, by a translation whose layout is fixed.
fn embedded_v4(ip: Ipv6Addr) -> Option<(&'static str, Ipv4Addr)> {
    let s = ip.segments();
    let low32 = Ipv4Addr::from(u128::from(ip) as u32);
    let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return Some(("IPv4-mapped (::ffff:0:0/96)", low32));
    }
    if s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 {
        return Some(("IPv4-translated (SIIT, ::ffff:0:0:0/96)", low32));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(("NAT64 (64:ff9b::/96)", low32));
    }
    if s[0] == 0x2002 {
        return Some(("6to4 (2002::/16)", v4(s[1], s[2])));
    }
    None
}

fn v6_kind(ip: Ipv6Addr) -> Option<String> {
    let s = ip.segments();
    if let Some((form, v4)) = embedded_v4(ip) {
        return v4_kind(v4).map(|kind| format!("{form} address of {v4}, which is {kind}"));
    }
    // Teredo: the server's IPv4 address in bits 32..64, the client's (inverted) in the last 32.
    if s[0] == 0x2001 && s[1] == 0 {
        let server = Ipv4Addr::from((u32::from(s[2]) << 16) | u32::from(s[3]));
        let client = Ipv4Addr::from(!(u128::from(ip) as u32));
        for (role, v4) in [("server", server), ("client", client)] {
            if let Some(kind) = v4_kind(v4) {
                return Some(format!("Teredo (2001::/32) address whose {role} is {v4}, which is {kind}"));
            }
        }
        return None;
    }
    let kind = if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if s[..6] == [0, 0, 0, 0, 0, 0] {
        "IPv4-compatible (deprecated, ::/96)"
    } else if s[..3] == [0x64, 0xff9b, 1] {
        "local-use NAT64 (64:ff9b:1::/48, not globally reachable)"
    } else if s[..4] == [0x100, 0, 0, 0] {
        "discard-only (100::/64)"
    } else if s[..4] == [0x100, 0, 0, 1] {
        "dummy prefix (100:0:0:1::/64)"
    } else if s[0] == 0x2001 && s[1] == 0xdb8 {
        "documentation (2001:db8::/32)"
    } else if s[0] == 0x2001 && s[1] < 0x200 && !globally_reachable_protocol_assignment(s) {
        "IETF protocol assignment (2001::/23)"
    } else if s[0] & 0xfff0 == 0x3ff0 {
        "documentation (3fff::/20)"
    } else if s[0] == 0x5f00 {
        "segment routing (SRv6 SIDs, 5f00::/16)"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "private (unique local, fc00::/7)"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link-local (fe80::/10)"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "site-local (deprecated, fec0::/10)"
    } else if ip.is_multicast() {
        "multicast"
    } else if s[0] & 0xe000 != 0x2000 {
        "not global unicast (outside 2000::/3)"
    } else {
        return None;
    };
    Some(kind.to_owned())
}

/// The parts of 2001::/23 IANA marks globally reachable: port control and TURN anycast
/// (2001:1::1, ::2, ::3), AMT (2001:3::/32), AS112 (2001:4:112::/48), ORCHIDv2 (2001:20::/28).
fn globally_reachable_protocol_assignment(s: [u16; 8]) -> bool {
    match s[1] {
        0x1 => s[2..7] == [0, 0, 0, 0, 0] && (1..=3).contains(&s[7]),
        0x3 => true,
        0x4 => s[2] == 0x112,
        0x20..=0x2f => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(ip: &str) -> Option<String> {
        not_public(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_special_purpose_ranges_are_named() {
        for (ip, kind) in [
            ("0.1.2.3", "unspecified"),
            ("10.1.2.3", "private"),
            ("100.64.0.1", "carrier-grade"),
            ("100.127.255.254", "carrier-grade"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local"),
            ("169.254.170.2", "link-local"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.8", "IETF protocol"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("192.88.99.1", "6to4 relay"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.254", "reserved"),
            ("255.255.255.255", "broadcast"),
        ] {
            let found = why(ip).unwrap_or_else(|| panic!("{ip} passed as public"));
            assert!(found.contains(kind), "{ip}: {found}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "192.0.0.9", "192.0.0.10", "198.20.0.1"] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_by_the_ipv4_address_it_reaches() {
        for (ip, form, kind) in [
            ("::ffff:127.0.0.1", "IPv4-mapped", "loopback"),
            ("::ffff:169.254.169.254", "IPv4-mapped", "link-local"),
            ("::ffff:0:7f00:1", "SIIT", "loopback"),
            ("::ffff:0:a00:5", "SIIT", "private"),
            ("64:ff9b::7f00:1", "NAT64", "loopback"),
            ("64:ff9b::a9fe:a9fe", "NAT64", "link-local"),
            ("64:ff9b::a00:5", "NAT64", "private"),
            ("2002:7f00:1::", "6to4", "loopback"),
            ("2002:a9fe:a9fe::1", "6to4", "link-local"),
            ("2002:c0a8:101::", "6to4", "private"),
        ] {
            let found = why(ip).unwrap_or_else(|| panic!("{ip} passed as public"));
            assert!(found.contains(form) && found.contains(kind), "{ip}: {found}");
        }
        // Carrying a public IPv4 address, they are public.
        for ip in ["::ffff:8.8.8.8", "::ffff:0:808:808", "64:ff9b::808:808", "2002:808:808::1"] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }

    #[test]
    fn teredo_is_judged_by_its_server_and_its_client() {
        // Server 127.0.0.1; client 8.8.8.8 (stored inverted: f7f7:f7f7).
        let loopback_server = why("2001:0:7f00:1::f7f7:f7f7").unwrap();
        assert!(
            loopback_server.contains("Teredo") && loopback_server.contains("server is 127.0.0.1"),
            "{loopback_server}"
        );
        // Server 8.8.8.8; client 10.0.0.5 (inverted: f5ff:fffa).
        let private_client = why("2001:0:808:808::f5ff:fffa").unwrap();
        assert!(private_client.contains("client is 10.0.0.5"), "{private_client}");
        // Both public.
        assert_eq!(why("2001:0:808:808::f7f7:f7f7"), None);
    }

    #[test]
    fn ipv6_special_purpose_ranges_are_named() {
        for (ip, kind) in [
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::7f00:1", "IPv4-compatible"),
            ("64:ff9b:1::a00:5", "local-use NAT64"),
            ("64:ff9b:1:ffff::8.8.8.8", "local-use NAT64"),
            ("100::1", "discard-only"),
            ("100:0:0:1::1", "dummy"),
            ("2001:2::1", "IETF protocol"),
            ("2001:10::1", "IETF protocol"),
            ("2001:1::4", "IETF protocol"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("3fff:fff::1", "documentation"),
            ("5f00::1", "segment routing"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("feff::1", "site-local"),
            ("ff02::1", "multicast"),
            ("4000::1", "outside 2000::/3"),
            ("1::1", "outside 2000::/3"),
        ] {
            let found = why(ip).unwrap_or_else(|| panic!("{ip} passed as public"));
            assert!(found.contains(kind), "{ip}: {found}");
        }
        for ip in [
            "2606:4700::1111",
            "2a00:1450::1",
            "2001:1::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2620:4f:8000::1",
        ] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }
}
