//! [`DnsServer`]: a name server on 127.0.0.1 (UDP) for tests that need names to resolve
//! where the test says — to addresses the host must refuse, or nowhere at all (a name
//! under `hang.test` is never answered: the server the adversary points a plugin's lookups
//! at). The host asks it when started with `PLUGHOST_DNS_SERVERS=<addr>`.
//!
//! It speaks just enough DNS (RFC 1035) for a stub resolver's A and AAAA queries: one
//! question, answered from its table with the question echoed; an unknown name gets an
//! empty NOERROR answer (no address of that family).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct DnsServer {
    pub addr: SocketAddr,
    /// Queries received (answered or not).
    pub queries: Arc<AtomicUsize>,
}

impl DnsServer {
    /// Serves `records` (name -> addresses; names without the final dot) on a thread for the
    /// rest of the test process.
    pub fn start(records: &[(&str, IpAddr)]) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
        let addr = socket.local_addr().unwrap();
        let mut table: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for (name, ip) in records {
            table.entry(name.to_ascii_lowercase()).or_default().push(*ip);
        }
        let queries = Arc::new(AtomicUsize::new(0));
        let counted = queries.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            while let Ok((len, from)) = socket.recv_from(&mut buffer) {
                counted.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = answer(&buffer[..len], &table) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        Self { addr, queries }
    }
}

/// The reply to one query, or `None` to stay silent (`*.hang.test`, or not a query we read).
fn answer(query: &[u8], table: &BTreeMap<String, Vec<IpAddr>>) -> Option<Vec<u8>> {
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    // The question: labels up to the root, then type and class.
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let question_end = at + 4;
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let name = labels.join(".");
    if name == "hang.test" || name.ends_with(".hang.test") {
        return None;
    }
    let answers: Vec<&IpAddr> = table
        .get(&name)
        .into_iter()
        .flatten()
        .filter(|ip| matches!((qtype, ip), (1, IpAddr::V4(_)) | (28, IpAddr::V6(_))))
        .collect();
    let mut reply = Vec::with_capacity(question_end + answers.len() * 28);
    reply.extend_from_slice(&query[..2]); // id
    reply.extend_from_slice(&[0x81, 0x80]); // a response, recursion desired and available, NOERROR
    reply.extend_from_slice(&1u16.to_be_bytes()); // one question
    reply.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional records
    reply.extend_from_slice(query.get(12..question_end)?);
    for ip in answers {
        reply.extend_from_slice(&[0xc0, 0x0c]); // the name: a pointer to the question's
        let (rtype, data): (u16, Vec<u8>) = match ip {
            IpAddr::V4(v4) => (1, v4.octets().to_vec()),
            IpAddr::V6(v6) => (28, v6.octets().to_vec()),
        };
        reply.extend_from_slice(&rtype.to_be_bytes());
        reply.extend_from_slice(&1u16.to_be_bytes()); // class IN
        reply.extend_from_slice(&60u32.to_be_bytes()); // TTL
        reply.extend_from_slice(&(data.len() as u16).to_be_bytes());
        reply.extend_from_slice(&data);
    }
    Some(reply)
}
