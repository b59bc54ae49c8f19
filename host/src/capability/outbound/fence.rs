//! The address fence: which resolved addresses a request may connect to. A request's name
//! passing the allow-list is not enough — the address it resolves to is checked too, and the
//! connection goes to exactly the address checked (`send.rs` never resolves twice), so DNS
//! answers cannot smuggle a request onto the host's own network.
//!
//! Refused unless an allow-list entry names the address itself (an IP literal, e.g.
//! `http://127.0.0.1:*`): every address that is not public (`address_kind.rs`: loopback,
//! private, link-local — the instance metadata and container credentials endpoints —, the
//! rest of IANA's special-purpose ranges, and IPv6 forms that carry such an IPv4 address).
//! The Lambda runtime API (`AWS_LAMBDA_RUNTIME_API`, which hands out invocations and takes
//! their results; its address from `platform/environment.rs`) needs an entry naming its exact
//! address and port. The host's own listening addresses (`serve`'s listener: the operator
//! API, the console, every plugin's routes past the chain depth limit) are refused whatever
//! the allow-list says ([`refuse_own_listener`]).

use super::address_kind::not_public;
use super::allow_list::{AllowList, Target};
use std::net::{IpAddr, SocketAddr};
use std::sync::RwLock;

/// The addresses this process listens on, refused to every plugin.
static OWN_LISTENERS: RwLock<Vec<SocketAddr>> = RwLock::new(Vec::new());

/// Refuses `listening` (and, for an unspecified address such as `0.0.0.0:8080`, every
/// address of this machine's interfaces and loopback on that port) to every plugin from
/// now on. Called by `serve` once it has bound its listener.
pub fn refuse_own_listener(listening: SocketAddr) {
    let mut own = vec![listening];
    if listening.ip().is_unspecified() {
        own.push(SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), listening.port()));
        own.push(SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), listening.port()));
        match if_addrs::get_if_addrs() {
            Ok(interfaces) => own.extend(interfaces.iter().map(|i| SocketAddr::new(i.ip(), listening.port()))),
            Err(error) => tracing::warn!(%error, "cannot list this machine's addresses to fence off its listener"),
        }
    }
    OWN_LISTENERS.write().unwrap_or_else(|p| p.into_inner()).extend(own);
}

/// Whether `addr` is one this process listens on. Any address on the listener's port
/// counts when the listener is unspecified and `addr` is not public (a loopback alias
/// such as 127.0.0.2 reaches it too).
fn is_own_listener(addr: SocketAddr) -> bool {
    let own = OWN_LISTENERS.read().unwrap_or_else(|p| p.into_inner());
    own.iter().any(|listener| {
        listener.port() == addr.port()
            && (canonical(listener.ip()) == addr.ip()
                || (listener.ip().is_unspecified() && not_public(addr.ip()).is_some())
                || (listener.ip().is_loopback() && addr.ip().is_loopback()))
    })
}

/// Checks one resolved address of `target`: `Ok`, or why it is refused.
pub fn check(
    allow: &AllowList,
    target: &Target,
    addr: SocketAddr,
    runtime_api: Option<SocketAddr>,
) -> Result<(), String> {
    let ip = canonical(addr.ip());
    if is_own_listener(SocketAddr::new(ip, addr.port())) {
        return Err(format!("{addr} is this host's own listener (its console and operator API); no entry reaches it"));
    }
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
            "{addr} is not a public address: {kind}; only an allowed_outbound_hosts entry naming it (e.g. \"{}://{}:{}\") reaches it",
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
    use std::net::Ipv4Addr;

    const INSTANCE_METADATA: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

    use super::super::allow_list::for_tests as list;

    fn target(host: &str, port: u16) -> Target {
        Target { https: false, host: host.into(), port }
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

    #[test]
    fn the_hosts_own_listener_is_refused_whatever_the_allow_list_says() {
        // A port no other test of this process uses: the set is process-wide.
        let listener: SocketAddr = "127.0.0.1:1077".parse().unwrap();
        let named = list(&["http://127.0.0.1:*", "*://*:*"]);
        assert_eq!(check(&named, &target("127.0.0.1", 1077), listener, None), Ok(()));
        refuse_own_listener(listener);
        for addr in ["127.0.0.1:1077", "[::ffff:127.0.0.1]:1077", "127.0.0.2:1077"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let refused = check(&named, &target("127.0.0.1", 1077), addr, None).unwrap_err();
            assert!(refused.contains("own listener"), "{addr}: {refused}");
        }
        // Other ports of the address are not the listener.
        let other: SocketAddr = "127.0.0.1:1078".parse().unwrap();
        assert_eq!(check(&named, &target("127.0.0.1", 1078), other, None), Ok(()));
        // A listener on every interface: any non-public address on its port.
        refuse_own_listener("0.0.0.0:1079".parse().unwrap());
        for addr in ["127.0.0.1:1079", "10.1.2.3:1079", "[::1]:1079"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert!(check(&named, &target("x", 1079), addr, None).is_err(), "{addr}");
        }
    }

    #[test]
    fn an_ipv4_address_carried_in_ipv6_is_refused_by_any_wildcard() {
        let everything = list(&["*://*:*"]);
        for addr in [
            "[64:ff9b::7f00:1]:80",
            "[64:ff9b::a9fe:a9fe]:80",
            "[64:ff9b:1::a00:5]:80",
            "[2002:7f00:1::]:80",
            "[::ffff:0:7f00:1]:80",
            "[fec0::1]:80",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            let refused = check(&everything, &target("svc.example", 80), addr, None).unwrap_err();
            assert!(refused.contains("not a public address"), "{addr}: {refused}");
        }
    }
}
