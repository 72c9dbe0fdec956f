//! `fping` from inside a lab namespace: how the lab tests prove what the faults do, without
//! depending on the agent.

use std::net::IpAddr;
use std::process::Stdio;

use crate::netns::{Netns, NetnsError};

/// What `fping -c` counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingStats {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received.
    pub received: u32,
}

impl PingStats {
    /// Loss in percent.
    pub fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            100.0
        } else {
            100.0 * f64::from(self.sent - self.received.min(self.sent)) / f64::from(self.sent)
        }
    }
}

/// Options of one ping run.
#[derive(Debug, Clone, Copy)]
pub struct PingOptions {
    /// Echo requests.
    pub count: u32,
    /// ICMP payload bytes (IPv4 packet = payload + 28).
    pub payload: u32,
    /// Set don't-fragment.
    pub dont_fragment: bool,
    /// Interval between requests, ms.
    pub interval_ms: u32,
    /// Per-request timeout, ms.
    pub timeout_ms: u32,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            count: 3,
            payload: 56,
            dont_fragment: false,
            interval_ms: 20,
            timeout_ms: 1000,
        }
    }
}

/// Pings `target` from `source` inside `ns` with fping and returns the counts.
pub fn ping(
    ns: &Netns,
    source: IpAddr,
    target: IpAddr,
    opts: PingOptions,
) -> Result<PingStats, NetnsError> {
    let mut cmd = ns.command("fping");
    cmd.args([
        "-q",
        "-c",
        &opts.count.to_string(),
        "-p",
        &opts.interval_ms.to_string(),
        "-t",
        &opts.timeout_ms.to_string(),
        "-b",
        &opts.payload.to_string(),
        "-S",
        &source.to_string(),
    ]);
    if opts.dont_fragment {
        cmd.arg("-M");
    }
    cmd.arg(target.to_string());
    let command = format!("ip netns exec {} fping ... {target}", ns.name());
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| NetnsError::Spawn {
            command: command.clone(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // "10.0.0.12 : xmt/rcv/%loss = 3/2/33%, min/avg/max = ..."
    let parsed = stderr.lines().find_map(|l| {
        let (_, rest) = l.split_once("xmt/rcv/%loss = ")?;
        let mut it = rest.split(['/', '%', ',']);
        let sent = it.next()?.trim().parse().ok()?;
        let received = it.next()?.trim().parse().ok()?;
        Some(PingStats { sent, received })
    });
    parsed.ok_or_else(|| NetnsError::Failed {
        command,
        status: out.status.to_string(),
        stderr: stderr.trim().to_string(),
    })
}
