//! `allowed_outbound_hosts`: which URLs a plugin may send requests to — Spin's syntax and
//! meaning, parsed once when the manifest loads, matched on every request.
//!
//! ```toml
//! allowed_outbound_hosts = [
//!   "https://api.stripe.com",           # that host, port 443
//!   "https://*.example.com:8443",       # any subdomain (not example.com itself), port 8443
//!   "http://127.0.0.1:*",               # a loopback address, named explicitly, any port
//!   "http://localhost:8000..8010",      # ports 8000 to 8009 (end exclusive, as in Spin)
//!   "*://api.example.com",              # http on 80 and https on 443
//!   "http://pricing.plughost.internal", # another plugin of this deployment, in-process
//!   { host = "https://billing.internal.example.com", trace = true },  # also gets x-request-id and traceparent
//! ]
//! ```
//!
//! Rules: a scheme is required (`http`, `https` or `*`); the host is a name, an IP
//! address, `*` or `*.domain`; the port is a number, `a..b`, `*`, or absent (the
//! scheme's default). Paths are refused. A wildcard host never matches
//! `*.plughost.internal`: calling another plugin is always named. Addresses that are not
//! public are refused unless an entry names them (`fence.rs`).

use std::net::IpAddr;

/// The suffix of in-process service names: `http://<plugin>.plughost.internal/...`.
pub const INTERNAL_SUFFIX: &str = ".plughost.internal";

/// A plugin's parsed `allowed_outbound_hosts` (empty: no network).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<AllowedHost>,
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// As written in the manifest (for messages).
    original: String,
    scheme: SchemeRule,
    host: HostRule,
    port: PortRule,
    /// Requests to it carry the request's `x-request-id` and `traceparent`.
    trace: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemeRule {
    Any,
    Http,
    Https,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    Any,
    /// `*.example.com`, stored as `.example.com`.
    Subdomain(String),
    Name(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortRule {
    Any,
    /// No port written: the request's scheme's default.
    Default,
    One(u16),
    /// `start..end`, end exclusive.
    Range(u16, u16),
}

/// Where a request goes, as the allow-list sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// Lower case; an IPv6 address without brackets.
    pub host: String,
    /// Explicit, or the scheme's default.
    pub port: u16,
}

impl Target {
    /// The scheme as written in URLs.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// The plugin an in-process name (`<plugin>.plughost.internal`) calls.
    pub fn internal_plugin(&self) -> Option<&str> {
        self.host.strip_suffix(INTERNAL_SUFFIX).filter(|plugin| !plugin.is_empty() && !plugin.contains('.'))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => write!(f, "{}://[{ip}]:{}", self.scheme(), self.port),
            _ => write!(f, "{}://{}:{}", self.scheme(), self.host, self.port),
        }
    }
}

impl AllowList {
    /// Parses the manifest value: a list of strings or `{ host = "...", trace = true }`.
    pub fn parse(value: &toml::Value) -> Result<Self, String> {
        let toml::Value::Array(items) = value else {
            return Err("must be a list, e.g. `allowed_outbound_hosts = [\"https://api.example.com\"]`".into());
        };
        let mut entries = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let at = |m: String| format!("[{index}]: {m}");
            let (text, trace) = match item {
                toml::Value::String(text) => (text.as_str(), false),
                toml::Value::Table(table) => {
                    if let Some(unknown) = table.keys().find(|k| *k != "host" && *k != "trace") {
                        return Err(at(format!("unknown field `{unknown}` (expected `host` and `trace`)")));
                    }
                    let host = table.get("host").and_then(toml::Value::as_str);
                    let host = host.ok_or_else(|| at("needs `host = \"<scheme>://<host>[:<port>]\"`".into()))?;
                    let trace = match table.get("trace") {
                        None => false,
                        Some(toml::Value::Boolean(trace)) => *trace,
                        Some(_) => return Err(at("`trace` must be true or false".into())),
                    };
                    (host, trace)
                }
                _ => return Err(at("must be a string like \"https://api.example.com\"".into())),
            };
            entries.push(AllowedHost::parse(text, trace).map_err(|m| at(format!("`{text}`: {m}")))?);
        }
        Ok(Self { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries as the manifest wrote them (`+trace` marks those that propagate it).
    pub fn describe(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| if e.trace { format!("{} +trace", e.original) } else { e.original.clone() })
            .collect()
    }

    /// The entry that allows `target`, if any.
    pub fn allowing(&self, target: &Target) -> Option<&AllowedHost> {
        self.entries.iter().find(|entry| entry.allows(target))
    }

    /// Whether an entry names `ip` itself as its host, for `target`'s scheme and port —
    /// what lets a request (by that address, or by a name resolving to it) reach an
    /// address that is not public. With `exact_port`, the entry must also name that port
    /// alone (no range or `*`): how the Lambda runtime API is reached, if ever.
    pub fn names_address(&self, target: &Target, ip: IpAddr, exact_port: bool) -> bool {
        self.entries.iter().any(|entry| {
            entry.host == HostRule::Ip(ip)
                && entry.allows_scheme_and_port(target)
                && (!exact_port || entry.port == PortRule::One(target.port))
        })
    }
}

/// The allow-list's view of a request URI: `None` unless it is http(s) with a host and
/// no user info (`user@host` would reach the wire in the `Host` header).
pub fn target_of(uri: &http::Uri) -> Option<Target> {
    if uri.authority()?.as_str().contains('@') {
        return None;
    }
    let https = match uri.scheme_str()? {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Some(Target { https, host, port })
}

/// An allow-list of plain string entries, for unit tests (here and in `capability/outbound/`).
#[cfg(test)]
pub(crate) fn for_tests(entries: &[&str]) -> AllowList {
    let value = toml::Value::Array(entries.iter().map(|e| toml::Value::String((*e).into())).collect());
    AllowList::parse(&value).expect("a valid allow-list")
}

impl AllowedHost {
    fn parse(text: &str, trace: bool) -> Result<Self, String> {
        let original = text.trim().to_owned();
        if original == "*" {
            return Err("a bare `*` is not allowed: name the hosts, or if you really mean every \
                        public host write `https://*` (or `*://*:*`)"
                .into());
        }
        let (scheme, rest) = original
            .split_once("://")
            .ok_or("needs a scheme, e.g. `https://api.example.com` (or `*://` for http and https)")?;
        let scheme = match scheme {
            "*" => SchemeRule::Any,
            "http" => SchemeRule::Http,
            "https" => SchemeRule::Https,
            other => return Err(format!("scheme `{other}` is not supported (use http, https or *)")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('#') {
            return Err("paths are not allowed: an entry names a scheme, host and port".into());
        }
        if rest.contains('@') {
            return Err("user info (`user@`) is not allowed".into());
        }
        let (host, port) = split_host_port(rest)?;
        let host = HostRule::parse(host)?;
        let port = match port {
            None => PortRule::Default,
            Some("*") => PortRule::Any,
            Some(port) => match port.split_once("..") {
                Some((start, end)) => {
                    let (start, end) = (parse_port(start)?, parse_port(end)?);
                    if start >= end {
                        return Err(format!("port range `{port}` is empty (the end is exclusive)"));
                    }
                    PortRule::Range(start, end)
                }
                None => PortRule::One(parse_port(port)?),
            },
        };
        if matches!(host, HostRule::Name(ref name) | HostRule::Subdomain(ref name) if name.ends_with(INTERNAL_SUFFIX))
            && scheme != SchemeRule::Http
        {
            return Err("plugins of this deployment are called over `http://<plugin>.plughost.internal`".into());
        }
        Ok(Self { original, scheme, host, port, trace })
    }

    fn allows(&self, target: &Target) -> bool {
        let internal = target.host.ends_with(INTERNAL_SUFFIX);
        let host = match &self.host {
            // In-process calls are always named, never reached by a wildcard.
            HostRule::Any => !internal,
            HostRule::Subdomain(suffix) => {
                target.host.ends_with(suffix.as_str()) && (!internal || suffix.as_str() == INTERNAL_SUFFIX)
            }
            HostRule::Name(name) => *name == target.host,
            HostRule::Ip(ip) => target.host.parse::<IpAddr>().is_ok_and(|host| host == *ip),
        };
        host && self.allows_scheme_and_port(target)
    }

    fn allows_scheme_and_port(&self, target: &Target) -> bool {
        let scheme = match self.scheme {
            SchemeRule::Any => true,
            SchemeRule::Http => !target.https,
            SchemeRule::Https => target.https,
        };
        let port = match self.port {
            PortRule::Any => true,
            PortRule::Default => target.port == if target.https { 443 } else { 80 },
            PortRule::One(port) => target.port == port,
            PortRule::Range(start, end) => (start..end).contains(&target.port),
        };
        scheme && port
    }

    /// Whether requests it allows carry the trace headers.
    pub fn trace(&self) -> bool {
        self.trace
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.original)
    }
}

impl HostRule {
    fn parse(host: &str) -> Result<Self, String> {
        if host.is_empty() {
            return Err("no host".into());
        }
        if host == "*" {
            return Ok(Self::Any);
        }
        if let Some(ip) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return ip.parse().map(Self::Ip).map_err(|_| format!("`{host}` is not an IPv6 address"));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        let host = host.to_ascii_lowercase();
        let (name, wildcard) = match host.strip_prefix("*.") {
            Some(domain) => (domain, true),
            None => (host.as_str(), false),
        };
        if name.contains('*') {
            return Err("`*` may only stand for the whole host or, as `*.`, its subdomains".into());
        }
        let valid = name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !valid || name.len() > 253 {
            return Err(format!("`{name}` is not a host name"));
        }
        Ok(if wildcard { Self::Subdomain(format!(".{name}")) } else { Self::Name(name.to_owned()) })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` (a bare IPv6 address is ambiguous and refused).
fn split_host_port(rest: &str) -> Result<(&str, Option<&str>), String> {
    if rest.starts_with('[') {
        let end = rest.find(']').ok_or("an IPv6 address needs its closing `]`")?;
        let (host, after) = rest.split_at(end + 1);
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(format!("unexpected `{after}` after the address")),
        };
    }
    match rest.split_once(':') {
        Some((_, port)) if port.contains(':') => Err("write an IPv6 address in brackets: `http://[::1]:8080`".into()),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((rest, None)),
    }
}

fn parse_port(port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("port `{port}` is not a number in 1..=65535 (or `*`, or a range `a..b`)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::for_tests as list;

    /// The target as `send_request` reads it from a request's URI.
    fn target(url: &str) -> Target {
        target_of(&url.parse().unwrap()).unwrap()
    }

    fn allows(entries: &[&str], url: &str) -> bool {
        list(entries).allowing(&target(url)).is_some()
    }

    #[test]
    fn exact_hosts_use_the_schemes_default_port_unless_one_is_named() {
        assert!(allows(&["https://api.stripe.com"], "https://api.stripe.com/v1/charges"));
        assert!(allows(&["https://api.stripe.com/"], "https://API.stripe.com:443/"));
        assert!(!allows(&["https://api.stripe.com"], "http://api.stripe.com/"));
        assert!(!allows(&["https://api.stripe.com"], "https://api.stripe.com:8443/"));
        assert!(!allows(&["https://api.stripe.com"], "https://evil-api.stripe.com/"));
        assert!(allows(&["*://api.example.com"], "http://api.example.com/"));
        assert!(allows(&["*://api.example.com"], "https://api.example.com/"));
        assert!(!allows(&["*://api.example.com"], "https://api.example.com:80/"));
    }

    #[test]
    fn wildcards_cover_subdomains_ports_and_ranges() {
        let entries = ["https://*.example.com:8443"];
        assert!(allows(&entries, "https://a.example.com:8443/"));
        assert!(allows(&entries, "https://a.b.example.com:8443/"));
        assert!(!allows(&entries, "https://example.com:8443/"), "the domain itself is not a subdomain");
        assert!(!allows(&entries, "https://badexample.com:8443/"));
        assert!(!allows(&entries, "https://a.example.com/"));
        assert!(allows(&["http://127.0.0.1:*"], "http://127.0.0.1:9/"));
        assert!(allows(&["http://localhost:8000..8010"], "http://localhost:8009/"));
        assert!(!allows(&["http://localhost:8000..8010"], "http://localhost:8010/"));
        assert!(allows(&["https://*"], "https://anything.example.org/"));
        assert!(allows(&["http://[::1]:8080"], "http://[::1]:8080/"));
    }

    #[test]
    fn plugins_of_the_deployment_are_reached_only_when_named() {
        assert!(allows(&["http://pricing.plughost.internal"], "http://pricing.plughost.internal/v1"));
        assert!(!allows(&["http://pricing.plughost.internal"], "http://orders.plughost.internal/"));
        assert!(allows(&["http://*.plughost.internal"], "http://orders.plughost.internal/"));
        assert!(!allows(&["*://*:*"], "http://orders.plughost.internal/"), "a wildcard host never chains");
        assert!(!allows(&["http://*.internal"], "http://orders.plughost.internal/"));
        assert_eq!(target("http://orders.plughost.internal/").internal_plugin(), Some("orders"));
        assert_eq!(target("http://a.b.plughost.internal/").internal_plugin(), None);
        assert_eq!(target("https://example.com/").internal_plugin(), None);
    }

    #[test]
    fn malformed_entries_say_what_is_wrong() {
        let error =
            |entry: &str| AllowList::parse(&toml::Value::Array(vec![toml::Value::String(entry.into())])).unwrap_err();
        assert!(error("*").contains("bare `*`"), "{}", error("*"));
        assert!(error("api.example.com").contains("needs a scheme"));
        assert!(error("ftp://example.com").contains("scheme `ftp`"));
        assert!(error("https://example.com/v1").contains("paths are not allowed"));
        assert!(error("https://example.com:http").contains("not a number"));
        assert!(error("https://example.com:0").contains("not a number"));
        assert!(error("https://example.com:9..9").contains("empty"));
        assert!(error("https://ex*ample.com").contains("`*` may only"));
        assert!(error("https://user@example.com").contains("user info"));
        assert!(error("http://::1:80").contains("brackets"));
        assert!(error("https://pricing.plughost.internal").contains("http://<plugin>.plughost.internal"));
        let not_list = AllowList::parse(&toml::Value::String("https://x".into())).unwrap_err();
        assert!(not_list.contains("must be a list"));
    }

    #[test]
    fn trace_is_marked_per_entry() {
        let value: toml::Value = toml::from_str::<toml::Table>(
            r#"hosts = ["https://a.example.com", { host = "https://b.example.com", trace = true }]"#,
        )
        .unwrap()["hosts"]
            .clone();
        let list = AllowList::parse(&value).unwrap();
        assert!(!list.allowing(&target("https://a.example.com/")).unwrap().trace());
        assert!(list.allowing(&target("https://b.example.com/")).unwrap().trace());
        let bad: toml::Value =
            toml::from_str::<toml::Table>(r#"h = [{ host = "https://b", tracing = true }]"#).unwrap()["h"].clone();
        assert!(AllowList::parse(&bad).unwrap_err().contains("unknown field `tracing`"));
    }

    #[test]
    fn only_an_entry_naming_the_address_reaches_it() {
        let named = list(&["http://localhost:*", "http://127.0.0.1:*", "http://10.0.0.5:8080"]);
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(named.names_address(&target("http://127.0.0.1:9001/"), loopback, false));
        assert!(
            !named.names_address(&target("http://127.0.0.1:9001/"), loopback, true),
            "a port wildcard is not exact"
        );
        let private: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(named.names_address(&target("http://10.0.0.5:8080/"), private, true));
        // `localhost` resolving to 127.0.0.1 reaches it only because an entry names 127.0.0.1.
        let by_name = named.allowing(&target("http://localhost:3000/")).unwrap();
        assert_eq!(by_name.to_string(), "http://localhost:*");
        assert!(named.names_address(&target("http://localhost:3000/"), loopback, false));
        let only_name = list(&["http://localhost:*"]);
        assert!(!only_name.names_address(&target("http://localhost:3000/"), loopback, false));
        let other_port = list(&["http://localhost:*", "http://127.0.0.1:8080"]);
        assert!(!other_port.names_address(&target("http://localhost:3000/"), loopback, false));
    }
}
