//! Name lookups for outgoing requests, on a path of their own:
//!
//! - asynchronous (hickory-resolver, reading the system's `/etc/resolv.conf` and hosts
//!   file), so a DNS server that never answers holds a timer and a socket — never a thread
//!   of tokio's blocking pool, where `getaddrinfo` would wait (and where embedded storage
//!   once waited behind it: one plugin's hung lookups made another's storage calls time
//!   out);
//! - at most [`MAX_LOOKUPS_PER_PLUGIN`] of one plugin's lookups in flight ([`Lookups`]), so
//!   one plugin's flood cannot take the sockets or the resolver's queue from another;
//! - each cut off at the request's deadline by the caller (`send.rs`).
//!
//! `PLUGHOST_DNS_SERVERS` (`10.0.0.2:53,10.0.0.3:53`) replaces the system's name servers:
//! for operators who run their own, and for tests that answer with a server of their own.

use futures::future::BoxFuture;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// Looks a name up: [`system_resolver`] in production, a fixed table in unit tests.
pub type Resolver = Arc<dyn Fn(String, u16) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> + Send + Sync>;

/// One plugin's lookups in flight at most (across its concurrent requests).
pub const MAX_LOOKUPS_PER_PLUGIN: usize = 8;

/// A plugin's share of lookups: held for the duration of each lookup.
#[derive(Clone)]
pub struct Lookups(Arc<tokio::sync::Semaphore>);

impl Default for Lookups {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(MAX_LOOKUPS_PER_PLUGIN)))
    }
}

impl Lookups {
    /// Waits for one of the plugin's lookup slots (the caller bounds the wait by the deadline).
    pub async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        // The semaphore is never closed.
        self.0.clone().acquire_owned().await.expect("a plugin's lookup semaphore is never closed")
    }
}

/// The process's resolver: built once, on first use (a request that sends nothing never
/// reads the configuration).
pub fn system_resolver() -> Resolver {
    static SYSTEM: OnceLock<Resolver> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let resolver = Arc::new(build(std::env::var("PLUGHOST_DNS_SERVERS").ok().as_deref()));
            Arc::new(move |host: String, port: u16| {
                let resolver = resolver.clone();
                Box::pin(async move {
                    let found = resolver.lookup_ip(host.as_str()).await.map_err(std::io::Error::other)?;
                    Ok(found.iter().map(|ip| SocketAddr::new(ip, port)).collect())
                })
            })
        })
        .clone()
}

/// The resolver for `servers` (a comma-separated list of `ip:port`), or the system's
/// configuration. If neither can be read, only the hosts file and `localhost` resolve,
/// and the reason is logged.
fn build(servers: Option<&str>) -> TokioResolver {
    let provider = TokioConnectionProvider::default();
    let mut builder = match servers.map(parse_servers) {
        Some(Ok(servers)) => {
            let mut config = ResolverConfig::new();
            for server in servers {
                config.add_name_server(NameServerConfig::new(server, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(server, Protocol::Tcp));
            }
            TokioResolver::builder_with_config(config, provider)
        }
        Some(Err(why)) => {
            tracing::error!("PLUGHOST_DNS_SERVERS: {why}; outbound names resolve only from the hosts file");
            TokioResolver::builder_with_config(ResolverConfig::new(), provider)
        }
        None => TokioResolver::builder_tokio().unwrap_or_else(|error| {
            tracing::error!(%error, "cannot read the system's DNS configuration; outbound names resolve only from the hosts file");
            TokioResolver::builder_with_config(ResolverConfig::new(), TokioConnectionProvider::default())
        }),
    };
    // Both families, as getaddrinfo answers: the fence judges every address a name has.
    builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    builder.build()
}

fn parse_servers(text: &str) -> Result<Vec<SocketAddr>, String> {
    let servers: Vec<SocketAddr> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("`{s}` is not an ip:port address")))
        .collect::<Result<_, _>>()?;
    if servers.is_empty() {
        return Err("names no server".into());
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_servers_are_read_as_ip_port_lists() {
        let servers = parse_servers("127.0.0.1:5353, [::1]:53").unwrap();
        assert_eq!(servers, ["127.0.0.1:5353".parse().unwrap(), "[::1]:53".parse().unwrap()]);
        assert!(parse_servers("dns.example:53").unwrap_err().contains("`dns.example:53`"));
        assert!(parse_servers(" , ").is_err());
    }

    #[tokio::test]
    async fn a_plugin_has_at_most_its_share_of_lookups_in_flight() {
        let lookups = Lookups::default();
        let mut held = Vec::new();
        for _ in 0..MAX_LOOKUPS_PER_PLUGIN {
            held.push(lookups.slot().await);
        }
        let next = tokio::time::timeout(std::time::Duration::from_millis(100), lookups.slot()).await;
        assert!(next.is_err(), "a lookup past the plugin's share must wait");
        // Another plugin's share is its own.
        let other = Lookups::default();
        assert!(tokio::time::timeout(std::time::Duration::from_millis(100), other.slot()).await.is_ok());
        held.pop();
        assert!(tokio::time::timeout(std::time::Duration::from_millis(100), lookups.slot()).await.is_ok());
    }
}
