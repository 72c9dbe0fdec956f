//! The lab's DNS server (`[dns]` in a scenario): a small authoritative responder that one
//! lab host runs on UDP 53 while the check runs, so the DNS probes use only a server the lab
//! started inside its namespaces.
//!
//! Records ([`records`]): for every host address in a space, `HOST.SPACE.DOMAIN` A/AAAA →
//! the address and its PTR back; in a space listed in `rfc2317`, the PTR query is answered
//! with a CNAME into a classless zone (`N.0/PREFIX.C.B.A.in-addr.arpa`) holding the PTR. The
//! faults `dns-ptr-missing` and `dns-wrong-a` take a PTR out or point an A elsewhere.

use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::topology::{Fault, Topology};

/// A name from dotted text, labels taken as bytes (RFC 2317's `0/26` is not a hostname).
fn name(s: &str) -> Option<Name> {
    let labels: Vec<&[u8]> = s
        .trim_end_matches('.')
        .split('.')
        .map(str::as_bytes)
        .collect();
    let mut n = Name::from_labels(labels).ok()?;
    n.set_fqdn(true);
    Some(n)
}

/// The zone the lab serves, as (owner, data) records.
pub fn records(t: &Topology) -> Vec<(Name, RData)> {
    let Some(dns) = &t.dns else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for h in &t.hosts {
        for i in &h.interfaces {
            let (Some(addr), Some(space)) = (i.address, t.vlans[t.subnets[i.subnet].vlan].space)
            else {
                continue;
            };
            let space = &t.spaces[space].name;
            let Some(fqdn) = name(&format!("{}.{space}.{}", h.name, dns.domain)) else {
                continue;
            };
            let wrong = t.faults.iter().find_map(|f| match f {
                Fault::DnsWrongA {
                    host,
                    space: s,
                    address,
                } if *host == h.name && s == space => Some(*address),
                _ => None,
            });
            let forward = wrong.unwrap_or(addr);
            out.push((
                fqdn.clone(),
                match forward {
                    IpAddr::V4(v4) => RData::A(A(v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
                },
            ));
            let no_ptr = t.faults.iter().any(|f| {
                matches!(f, Fault::DnsPtrMissing { host, space: s } if *host == h.name && s == space)
            });
            if no_ptr {
                continue;
            }
            let reverse = Name::from(addr);
            match (addr, dns.rfc2317.iter().any(|s| s == space)) {
                (IpAddr::V4(v4), true) => {
                    let o = v4.octets();
                    let prefix = t.subnets[i.subnet].cidr.prefix_len();
                    let Some(classless) = name(&format!(
                        "{}.0/{prefix}.{}.{}.{}.in-addr.arpa",
                        o[3], o[2], o[1], o[0]
                    )) else {
                        continue;
                    };
                    out.push((reverse, RData::CNAME(CNAME(classless.clone()))));
                    out.push((classless, RData::PTR(PTR(fqdn))));
                }
                _ => out.push((reverse, RData::PTR(PTR(fqdn)))),
            }
        }
    }
    out
}

/// The answer to one query packet, `None` for one that is not a query.
pub fn answer(records: &[(Name, RData)], packet: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(packet).ok()?;
    if q.message_type() != MessageType::Query {
        return None;
    }
    let query = q.queries().first()?.clone();
    let mut m = Message::new();
    m.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_authoritative(true)
        .set_recursion_desired(q.recursion_desired())
        .add_query(query.clone());
    let mut any = false;
    for (owner, data) in records {
        let t = data.record_type();
        if owner == query.name() && (t == query.query_type() || t == RecordType::CNAME) {
            m.add_answer(Record::from_rdata(owner.clone(), 60, data.clone()));
            any = true;
        }
    }
    if !any && !records.iter().any(|(o, _)| o == query.name()) {
        m.set_response_code(ResponseCode::NXDomain);
    }
    m.to_vec().ok()
}

/// A running responder: stops (its thread ends within 200 ms) when dropped.
#[derive(Debug)]
pub struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Responder {
    /// Serves `records` on `sock` (already bound, e.g. inside a host's namespace).
    pub fn start(sock: UdpSocket, records: Vec<(Name, RData)>) -> std::io::Result<Responder> {
        sock.set_read_timeout(Some(Duration::from_millis(200)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(reply) = answer(&records, &buf[..n]) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        Ok(Responder {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn ask(records: &[(Name, RData)], q: &str, t: RecordType) -> Message {
        let mut m = Message::new();
        m.set_id(7).add_query(Query::query(name(q).unwrap(), t));
        Message::from_vec(&answer(records, &m.to_vec().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn answers_ptr_cname_and_nxdomain() {
        let fqdn = name("h1.oam.lab").unwrap();
        let classless = name("5.0/24.0.10.10.in-addr.arpa").unwrap();
        let records = vec![
            (fqdn.clone(), RData::A(A("10.10.0.5".parse().unwrap()))),
            (
                Name::from("10.10.0.5".parse::<IpAddr>().unwrap()),
                RData::CNAME(CNAME(classless.clone())),
            ),
            (classless, RData::PTR(PTR(fqdn))),
        ];
        let a = ask(&records, "h1.oam.lab", RecordType::A);
        assert_eq!(a.id(), 7);
        assert_eq!(a.answers().len(), 1);
        let p = ask(&records, "5.0.10.10.in-addr.arpa", RecordType::PTR);
        assert!(matches!(p.answers()[0].data(), RData::CNAME(_)));
        let n = ask(&records, "nothing.lab", RecordType::A);
        assert_eq!(n.response_code(), ResponseCode::NXDomain);
        // An existing name without the asked type: NOERROR, no records.
        let e = ask(&records, "h1.oam.lab", RecordType::AAAA);
        assert_eq!(e.response_code(), ResponseCode::NoError);
        assert!(e.answers().is_empty());
    }

    #[test]
    fn hostile_packets_get_no_answer() {
        assert!(answer(&[], &[]).is_none());
        assert!(answer(&[], &[0xff; 3]).is_none());
        assert!(
            answer(&[], &[0u8; 12]).is_none(),
            "a query with no question"
        );
    }
}
