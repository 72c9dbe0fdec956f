//! ICMP echo packets: building requests, parsing replies and the copies the error queue returns.
//!
//! Every request carries our own 16-byte token after the ICMP header:
//! `[run nonce u32][job u32][attempt u32][slot token u32]`, so a reply is matched by the
//! per-socket sequence number first and then checked against the token (a late reply that
//! lands on a reused sequence number is recognised and not miscounted).

/// Bytes of our token at the start of the payload; the smallest payload we send.
pub const TOKEN_LEN: usize = 16;
/// ICMP header length.
pub const ICMP_HDR: usize = 8;

/// The token carried in a request's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Random per run, to ignore other runs' traffic on raw sockets.
    pub nonce: u32,
    /// Index of the job (target × packet size).
    pub job: u32,
    /// Attempt number within the job.
    pub attempt: u32,
    /// Generation of the sequence slot.
    pub slot: u32,
}

/// A parsed echo reply (or the echo request quoted in an ICMP error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    /// ICMP identifier.
    pub id: u16,
    /// ICMP sequence number.
    pub seq: u16,
    /// Our token, when the payload was long enough to hold it.
    pub token: Option<Token>,
}

/// Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    !(partial_sum(data) as u16)
}

/// The payload filler: byte `i` of the payload is `i & 0xff` (after the token).
const PATTERN: [u8; 256] = {
    let mut p = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        p[i] = i as u8;
        i += 1;
    }
    p
};

/// Ones'-complement sum (folded, not inverted) of the filler of a `payload`-byte
/// payload as it sits in a packet, memoised per size: a run sends a handful of sizes, some
/// of them 9,000 bytes, thousands of times each.
fn filler_sum(payload: usize) -> u32 {
    thread_local! {
        static SUMS: std::cell::RefCell<Vec<(usize, u32)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SUMS.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(&(_, sum)) = c.iter().find(|(p, _)| *p == payload) {
            return sum;
        }
        // The filler starts at an even offset (header + token), so its 16-bit words line
        // up with the packet's.
        let mut buf = Vec::with_capacity(payload);
        push_filler(&mut buf, payload);
        let sum = partial_sum(&buf);
        if c.len() >= 16 {
            c.remove(0);
        }
        c.push((payload, sum));
        sum
    })
}

/// Appends the filler of a `payload`-byte payload (bytes `TOKEN_LEN..payload`).
fn push_filler(buf: &mut Vec<u8>, payload: usize) {
    let mut i = TOKEN_LEN;
    while i < payload {
        let start = i & 0xff;
        let n = (256 - start).min(payload - i);
        buf.extend_from_slice(&PATTERN[start..start + n]);
        i += n;
    }
}

/// Ones'-complement sum of `data` as big-endian 16-bit words, folded to 16 bits (not yet
/// inverted).
fn partial_sum(data: &[u8]) -> u32 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    fold(sum)
}

/// Folds a wide ones'-complement sum to 16 bits (kept in a u32).
fn fold(mut sum: u64) -> u32 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u32
}

/// Writes an echo request into `buf` (ICMP header + `payload` bytes) and returns its length.
/// For IPv6 the kernel fills the checksum (it needs the pseudo-header), so it is left zero.
pub fn build_request(buf: &mut Vec<u8>, v6: bool, id: u16, seq: u16, token: Token, payload: usize) {
    let payload = payload.max(TOKEN_LEN);
    buf.clear();
    buf.push(if v6 { 128 } else { 8 });
    buf.push(0);
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&id.to_be_bytes());
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&token.nonce.to_be_bytes());
    buf.extend_from_slice(&token.job.to_be_bytes());
    buf.extend_from_slice(&token.attempt.to_be_bytes());
    buf.extend_from_slice(&token.slot.to_be_bytes());
    let head = buf.len();
    push_filler(buf, payload);
    if !v6 {
        let sum = u64::from(partial_sum(&buf[..head])) + u64::from(filler_sum(payload));
        let c = !(fold(sum) as u16);
        buf[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

fn parse_icmp(data: &[u8], want_type: u8) -> Option<Echo> {
    if data.len() < ICMP_HDR || data[0] != want_type || data[1] != 0 {
        return None;
    }
    let id = u16::from_be_bytes([data[4], data[5]]);
    let seq = u16::from_be_bytes([data[6], data[7]]);
    let p = &data[ICMP_HDR..];
    let token = if p.len() >= TOKEN_LEN {
        let w = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        Some(Token {
            nonce: w(0),
            job: w(4),
            attempt: w(8),
            slot: w(12),
        })
    } else {
        None
    };
    Some(Echo { id, seq, token })
}

/// Parses an echo reply as a socket delivers it: raw IPv4 sockets include the IP header,
/// raw IPv6 and datagram sockets start at the ICMP header.
pub fn parse_reply(data: &[u8], v6: bool, has_ip_header: bool) -> Option<Echo> {
    if v6 {
        return parse_icmp(data, 129);
    }
    let data = if has_ip_header {
        let first = *data.first()?;
        if first >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(first & 0x0f) * 4;
        if ihl < 20 || data.len() < ihl {
            return None;
        }
        &data[ihl..]
    } else {
        data
    };
    parse_icmp(data, 0)
}

/// Parses the copy of our own echo request that the error queue returns with an ICMP error.
pub fn parse_quoted_request(data: &[u8], v6: bool) -> Option<Echo> {
    parse_icmp(data, if v6 { 128 } else { 8 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> Token {
        Token {
            nonce: 0xdead_beef,
            job: 7,
            attempt: 2,
            slot: 99,
        }
    }

    #[test]
    fn checksum_of_request_verifies_to_zero() {
        let mut b = Vec::new();
        build_request(&mut b, false, 0x1234, 5, tok(), 56);
        assert_eq!(b.len(), 64);
        assert_eq!(checksum(&b), 0);
        // odd length too
        build_request(&mut b, false, 1, 1, tok(), 17);
        assert_eq!(b.len(), 25);
        assert_eq!(checksum(&b), 0);
    }

    #[test]
    fn jumbo_requests_carry_the_filler_and_a_valid_checksum_every_time() {
        let mut b = Vec::new();
        for seq in 0..3 {
            // The second and third build reuse the filler's memoised sum.
            for size in [8972, 1472, 8971] {
                build_request(&mut b, false, 7, seq, tok(), size);
                assert_eq!(b.len(), ICMP_HDR + size);
                assert_eq!(checksum(&b), 0, "size {size}");
                let p = &b[ICMP_HDR..];
                assert!((TOKEN_LEN..size).all(|i| p[i] == i as u8), "size {size}");
            }
        }
    }

    #[test]
    fn small_payload_is_raised_to_token_length() {
        let mut b = Vec::new();
        build_request(&mut b, true, 1, 1, tok(), 0);
        assert_eq!(b.len(), ICMP_HDR + TOKEN_LEN);
        assert_eq!(b[0], 128);
    }

    #[test]
    fn reply_round_trip_v4_raw_and_dgram() {
        let mut b = Vec::new();
        build_request(&mut b, false, 0x4242, 300, tok(), 56);
        let mut reply = b.clone();
        reply[0] = 0;
        let e = parse_reply(&reply, false, false).unwrap();
        assert_eq!((e.id, e.seq, e.token), (0x4242, 300, Some(tok())));
        let mut with_ip = vec![0x45u8; 1];
        with_ip.extend_from_slice(&[0u8; 19]);
        with_ip.extend_from_slice(&reply);
        assert_eq!(parse_reply(&with_ip, false, true), Some(e));
        // the request itself is not a reply
        assert!(parse_reply(&b, false, false).is_none());
        assert_eq!(parse_quoted_request(&b, false).unwrap().seq, 300);
    }

    #[test]
    fn hostile_packets_are_rejected_without_panic() {
        assert!(parse_reply(&[], false, true).is_none());
        assert!(parse_reply(&[0x4f], false, true).is_none());
        assert!(parse_reply(&[0x45, 0, 0], false, true).is_none());
        assert!(parse_reply(&[0x60; 40], false, true).is_none());
        assert!(parse_reply(&[0, 0, 0, 0, 0, 0], false, false).is_none());
        assert!(parse_reply(&[129, 1, 0, 0, 0, 0, 0, 0], true, false).is_none());
        // truncated token: echo parsed, token absent
        let e = parse_reply(&[129, 0, 0, 0, 0, 1, 0, 2, 1, 2, 3], true, false).unwrap();
        assert_eq!((e.id, e.seq, e.token), (1, 2, None));
    }
}
