//! DNS probes ([`ProbeKind::Dns`](preflight_model::plan::ProbeKind::Dns)): from a source
//! address, ask a server for the PTR of that address, then for the forward records (A for
//! IPv4, AAAA for IPv6) of every name the PTR gives, following CNAME chains both ways (RFC
//! 2317 classless reverse zones answer a PTR query with a CNAME into the delegated zone).
//!
//! Messages are built and parsed with `hickory-proto`; they go over a UDP socket bound to
//! the source address, so the query leaves from the address under test (a resolver library
//! would pick the source from the routing table). The host's tools (`dig`, the stub
//! resolver) are never used.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use preflight_model::probe::{DnsAnswer, DnsForward};
use tokio::net::UdpSocket;

/// Most CNAMEs followed for one lookup (a longer chain is reported as a loop).
pub const MAX_CHAIN: usize = 8;
/// Most PTR names looked up forward, and most addresses kept per name.
pub const MAX_NAMES: usize = 8;
/// Tries per query (each waits the probe timeout).
const TRIES: usize = 2;

/// One query's outcome: the server's answer records, or what went wrong.
enum Reply {
    /// NOERROR (possibly with no records) or NXDOMAIN (no records).
    Answer(Message),
    /// An answer with another response code (SERVFAIL, REFUSED, ...).
    Failed(ResponseCode),
    /// Nothing came back in time.
    Timeout,
}

/// Sends `name`/`rtype` to the connected server, waiting `timeout` per try for the answer
/// with the query's id (anything else arriving is dropped).
async fn ask(sock: &UdpSocket, name: &Name, rtype: RecordType, timeout: Duration) -> Reply {
    let mut msg = Message::new();
    let id: u16 = rand::random();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name.clone(), rtype));
    let Ok(bytes) = msg.to_vec() else {
        return Reply::Failed(ResponseCode::FormErr);
    };
    let mut buf = vec![0u8; 4096];
    for _ in 0..TRIES {
        if sock.send(&bytes).await.is_err() {
            return Reply::Timeout;
        }
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let n = match tokio::time::timeout_at(until, sock.recv(&mut buf)).await {
                Ok(Ok(n)) => n,
                // ICMP port unreachable surfaces as an error on a connected socket.
                Ok(Err(_)) | Err(_) => break,
            };
            let Ok(m) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if m.id() != id || m.message_type() != MessageType::Response {
                continue;
            }
            return match m.response_code() {
                ResponseCode::NoError | ResponseCode::NXDomain => Reply::Answer(m),
                c => Reply::Failed(c),
            };
        }
    }
    Reply::Timeout
}

fn text(name: &Name) -> String {
    let s = name.to_ascii();
    s.strip_suffix('.').unwrap_or(&s).to_string()
}

/// The records of type `rtype` that `name` ends at, following CNAMEs within an answer and
/// asking again for a CNAME target the answer does not resolve. `Err` says why not.
async fn resolve(
    sock: &UdpSocket,
    name: Name,
    rtype: RecordType,
    timeout: Duration,
    out: &mut DnsAnswer,
) -> Result<Vec<RData>, String> {
    let mut current = name;
    let mut hops = 0;
    loop {
        let m = match ask(sock, &current, rtype, timeout).await {
            Reply::Answer(m) => {
                out.answered = true;
                m
            }
            Reply::Failed(c) => {
                out.answered = true;
                return Err(format!("{rtype} {}: {c}", text(&current)));
            }
            Reply::Timeout => return Err(format!("{rtype} {}: no answer", text(&current))),
        };
        // Walk the chain inside this answer as far as it goes.
        let asked = current.clone();
        loop {
            let here: Vec<RData> = m
                .answers()
                .iter()
                .filter(|r| r.name() == &current && r.record_type() == rtype)
                .map(|r| r.data().clone())
                .collect();
            if !here.is_empty() {
                return Ok(here);
            }
            let next = m.answers().iter().find_map(|r| match r.data() {
                RData::CNAME(c) if r.name() == &current => Some(c.0.clone()),
                _ => None,
            });
            match next {
                Some(n) => {
                    hops += 1;
                    if hops > MAX_CHAIN {
                        return Err(format!(
                            "{rtype} lookup: more than {MAX_CHAIN} CNAMEs (a loop?)"
                        ));
                    }
                    out.chain
                        .push(format!("{} -> {}", text(&current), text(&n)));
                    current = n;
                }
                None => break,
            }
        }
        // No record for `current` in this answer: if a CNAME led here, ask for its target;
        // otherwise the name has none.
        if current == asked {
            return Ok(Vec::new());
        }
    }
}

/// The DNS probe from `source` to `server`: the PTR of `source`, then each name forward.
pub async fn lookup(source: IpAddr, server: SocketAddr, timeout: Duration) -> DnsAnswer {
    let mut out = DnsAnswer::default();
    let sock = match UdpSocket::bind(SocketAddr::new(source, 0)).await {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(format!("cannot bind {source}: {e}"));
            return out;
        }
    };
    if let Err(e) = sock.connect(server).await {
        out.error = Some(format!("cannot reach {server} from {source}: {e}"));
        return out;
    }
    let ptrs = match resolve(
        &sock,
        Name::from(source),
        RecordType::PTR,
        timeout,
        &mut out,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    for r in ptrs.into_iter().take(MAX_NAMES) {
        if let RData::PTR(p) = r {
            out.ptr.push(text(&p.0));
        }
    }
    let fwd = if source.is_ipv4() {
        RecordType::A
    } else {
        RecordType::AAAA
    };
    for name in out.ptr.clone() {
        let Ok(n) = Name::from_ascii(format!("{name}.")) else {
            continue;
        };
        match resolve(&sock, n, fwd, timeout, &mut out).await {
            Ok(rs) => {
                let addresses = rs
                    .into_iter()
                    .filter_map(|r| match r {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    })
                    .take(MAX_NAMES)
                    .collect();
                out.forward.push(DnsForward { name, addresses });
            }
            Err(e) => {
                out.forward.push(DnsForward {
                    name,
                    addresses: Vec::new(),
                });
                out.error.get_or_insert(e);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME, PTR};
    use hickory_proto::rr::Record;

    /// A tiny authoritative responder on loopback: answers from `records` (name, rdata),
    /// following nothing itself (the prober follows the CNAMEs).
    async fn responder(records: Vec<(&'static str, RData)>) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (n, from) = sock.recv_from(&mut buf).await.unwrap();
                let q = Message::from_vec(&buf[..n]).unwrap();
                let query = q.queries()[0].clone();
                let mut m = Message::new();
                m.set_id(q.id())
                    .set_message_type(MessageType::Response)
                    .add_query(query.clone());
                let mut any = false;
                for (name, data) in &records {
                    let nm = self::tests::name(name);
                    let t = data.record_type();
                    if nm == *query.name() && (t == query.query_type() || t == RecordType::CNAME) {
                        m.add_answer(Record::from_rdata(nm, 60, data.clone()));
                        any = true;
                    }
                }
                if !any {
                    m.set_response_code(ResponseCode::NXDomain);
                }
                sock.send_to(&m.to_vec().unwrap(), from).await.unwrap();
            }
        });
        addr
    }

    /// A name from its labels as bytes (RFC 2317 labels such as `0/26` are not hostnames).
    fn name(s: &str) -> Name {
        let labels: Vec<&[u8]> = s
            .trim_end_matches('.')
            .split('.')
            .map(str::as_bytes)
            .collect();
        let mut n = Name::from_labels(labels).unwrap();
        n.set_fqdn(true);
        n
    }

    #[tokio::test]
    async fn ptr_then_forward_through_an_rfc2317_cname() {
        let server = responder(vec![
            (
                "1.0.0.127.in-addr.arpa.",
                RData::CNAME(CNAME(name("1.0/26.0.0.127.in-addr.arpa."))),
            ),
            (
                "1.0/26.0.0.127.in-addr.arpa.",
                RData::PTR(PTR(name("host1.lab."))),
            ),
            ("host1.lab.", RData::A(A("127.0.0.1".parse().unwrap()))),
        ])
        .await;
        let a = lookup(
            "127.0.0.1".parse().unwrap(),
            server,
            Duration::from_millis(500),
        )
        .await;
        assert!(a.answered);
        assert_eq!(a.error, None);
        assert_eq!(a.ptr, vec!["host1.lab"]);
        assert_eq!(
            a.chain,
            // Presentation format: the `/` of the RFC 2317 label is escaped.
            vec!["1.0.0.127.in-addr.arpa -> 1.0\\/26.0.0.127.in-addr.arpa"]
        );
        assert_eq!(
            a.forward,
            vec![DnsForward {
                name: "host1.lab".into(),
                addresses: vec!["127.0.0.1".parse().unwrap()]
            }]
        );
    }

    #[tokio::test]
    async fn a_missing_ptr_is_an_answer_with_no_names() {
        let server = responder(vec![]).await;
        let a = lookup(
            "127.0.0.1".parse().unwrap(),
            server,
            Duration::from_millis(500),
        )
        .await;
        assert!(a.answered);
        assert!(a.ptr.is_empty());
        assert_eq!(a.error, None);
    }

    #[tokio::test]
    async fn a_cname_loop_is_reported_not_followed_forever() {
        let server = responder(vec![
            (
                "1.0.0.127.in-addr.arpa.",
                RData::CNAME(CNAME(name("x.lab."))),
            ),
            (
                "x.lab.",
                RData::CNAME(CNAME(name("1.0.0.127.in-addr.arpa."))),
            ),
        ])
        .await;
        let a = lookup(
            "127.0.0.1".parse().unwrap(),
            server,
            Duration::from_millis(500),
        )
        .await;
        assert!(a.answered);
        assert!(a.error.unwrap().contains("CNAMEs"));
    }

    #[tokio::test]
    async fn a_silent_server_is_not_answered() {
        // Bound, never read: the queries go nowhere.
        let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = lookup(
            "127.0.0.1".parse().unwrap(),
            quiet.local_addr().unwrap(),
            Duration::from_millis(100),
        )
        .await;
        assert!(!a.answered);
        assert!(a.error.unwrap().contains("no answer"));
    }

    #[tokio::test]
    async fn hostile_answers_are_dropped_not_trusted() {
        // A server answering garbage and wrong ids: treated as silent.
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (n, from) = sock.recv_from(&mut buf).await.unwrap();
                let _ = sock.send_to(&[0xff; 7], from).await;
                let mut m = Message::from_vec(&buf[..n]).unwrap();
                m.set_id(m.id().wrapping_add(1))
                    .set_message_type(MessageType::Response);
                let _ = sock.send_to(&m.to_vec().unwrap(), from).await;
            }
        });
        let a = lookup(
            "127.0.0.1".parse().unwrap(),
            addr,
            Duration::from_millis(100),
        )
        .await;
        assert!(!a.answered);
    }
}
