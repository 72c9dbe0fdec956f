//! `preflight-agent probe`: probe addresses, CIDRs or a plan; print a table or JSON.

use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use preflight_model::judge::{judge, Measurement, PairState};
use preflight_model::plan::Expectation;
use preflight_model::probe::{
    FailureCause, MtuVerdict, ProbeReport, SocketKind, TargetResult, TcpOutcome,
};
use preflight_probe::targets::{expand_into, DEFAULT_MAX_TARGETS};
use preflight_probe::{EngineOptions, Target};

/// Output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// fping-like summary and a per-target table.
    Text,
    /// The ProbeReport document (schema preflight.probe/v1).
    Json,
}

/// ICMP socket kind.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SocketArg {
    /// Datagram ICMP socket when net.ipv4.ping_group_range allows, raw otherwise.
    Auto,
    /// Unprivileged datagram ICMP socket only.
    Dgram,
    /// Raw ICMP socket only (needs CAP_NET_RAW).
    Raw,
}

macro_rules! long_about {
    () => {
        "\
Probe targets with ICMP echo requests, all in flight at once over a few sockets (one per \
address family, source and device), with optional DF-bit MTU probes and TCP connects.

TARGET is an address (IPv4 or IPv6; `fe80::1%eth0` names the interface of a link-local \
address) or a CIDR, which expands to its hosts (IPv4 without network and broadcast \
addresses). At most 65536 targets unless --max-targets says more.

With --plan FILE the targets, source addresses, devices, expected MTUs and TCP ports come \
from a probe plan (preflight.plan/v1); --count/--interval/--timeout/--retries/--rate \
override the plan's settings. A target the plan expects to be isolated is probed the same \
way; an answer from it is reported (and makes the exit status 1).

With --mtu N each target also gets a small and a full-size (N − 28 bytes of payload for \
IPv4, N − 48 for IPv6) echo with DF set, without touching the host's path-MTU cache. When \
the small one passes and the large one does not, a bounded search (two rounds, each \
sending its sizes together) finds the largest size that passes; silence is reported as a blackhole, an ICMP error or EMSGSIZE as \
fragmentation-needed.

Exit status: 0 when every target behaved as expected (answered, MTU ok, TCP ports open; \
isolated targets silent), 1 when some did not, 2 on usage or setup errors."
    };
}

macro_rules! examples {
    () => {
        "\
Examples:
  preflight-agent probe 10.0.0.1 10.0.0.2
  preflight-agent probe --count 1 --timeout 1000 127.1.0.0/16
  preflight-agent probe --source 10.20.0.5 --interface eth1 --mtu 9000 10.20.0.0/24
  preflight-agent probe --tcp 22,443 --format json 10.0.0.7
  preflight-agent probe --plan plan.json --format json"
    };
}

const EXAMPLES: &str = examples!();
const LONG_HELP: &str = concat!(long_about!(), "\n\n", examples!());

/// Flags of `preflight-agent probe` (boxed: they are large next to other subcommands').
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    inner: Box<ProbeArgs>,
}

/// The flags themselves.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES, after_long_help = LONG_HELP)]
pub(crate) struct ProbeArgs {
    /// Addresses or CIDRs to probe.
    #[arg(
        value_name = "TARGET",
        required_unless_present = "plan",
        conflicts_with = "plan"
    )]
    targets: Vec<String>,
    /// Probe plan to run (JSON, schema preflight.plan/v1) instead of TARGETs.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Echo requests per target [default: 3].
    #[arg(long, short = 'c', value_name = "N")]
    count: Option<u32>,
    /// Milliseconds between requests to the same target [default: 100].
    #[arg(long, short = 'i', value_name = "MS")]
    interval: Option<u64>,
    /// Milliseconds to wait for each reply (and TCP connect) [default: 1000].
    #[arg(long, short = 't', value_name = "MS")]
    timeout: Option<u64>,
    /// Extra requests to a target that answered none, sent one interval after its last
    /// request while the others' replies are still awaited [default: 1].
    #[arg(long, short = 'r', value_name = "N")]
    retries: Option<u32>,
    /// ICMP payload bytes of the echo requests (at least 16 are sent) [default: 56].
    #[arg(long, short = 's', value_name = "BYTES")]
    size: Option<usize>,
    /// Set the don't-fragment bit on the echo requests (echoes of at most 56 bytes carry it
    /// anyway: it changes nothing for them).
    #[arg(long)]
    df: bool,
    /// Expected path MTU: run the DF-bit MTU probe against every target.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(68..=65535))]
    mtu: Option<u32>,
    /// Source address to probe from (must be an address of this machine).
    #[arg(long, short = 'S', value_name = "ADDR", conflicts_with = "plan")]
    source: Option<IpAddr>,
    /// Device to probe through (SO_BINDTODEVICE); also the scope of link-local targets.
    #[arg(long, short = 'I', value_name = "NAME", conflicts_with = "plan")]
    interface: Option<String>,
    /// Global cap on ICMP packets per second [default: none; the window bounds the burst].
    #[arg(long, value_name = "PPS")]
    rate: Option<u32>,
    /// TCP ports to connect to on every target (comma-separated or repeated).
    #[arg(long = "tcp", value_name = "PORT", value_delimiter = ',', action = clap::ArgAction::Append)]
    tcp: Vec<u16>,
    /// Most targets the TARGETs may expand to.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_TARGETS)]
    max_targets: usize,
    /// Most echo requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = preflight_probe::DEFAULT_WINDOW)]
    window: usize,
    /// ICMP socket kind.
    #[arg(long, value_enum, default_value_t = SocketArg::Auto)]
    socket: SocketArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Largest plan file read (65,536 targets fit in a fraction of it).
const MAX_PLAN_BYTES: u64 = 64 << 20;

fn read_limited(path: &std::path::Path) -> anyhow::Result<String> {
    Ok(preflight_model::limits::read_bounded_text(
        path,
        MAX_PLAN_BYTES,
    )?)
}

/// A plan file (run item by item, see `preflight_probe::run_plan`) or command-line targets.
enum Work {
    Plan(preflight_model::plan::ProbePlan),
    Targets(Vec<Target>),
}

fn build_targets(args: &ProbeArgs) -> anyhow::Result<(Work, EngineOptions)> {
    let mut opts = EngineOptions::default();
    let mut targets = Vec::new();
    let mut from_plan = None;
    if let Some(path) = &args.plan {
        let origin = path.display().to_string();
        let text = read_limited(path).with_context(|| format!("cannot read plan {origin}"))?;
        let mut plan = preflight_probe::parse_plan(&text, &origin)?;
        opts = EngineOptions::from_settings(&plan.settings);
        opts.agent = plan.agent.clone();
        for t in &mut plan.targets {
            if t.mtu.is_none() {
                t.mtu = args.mtu;
            }
            t.tcp_ports.extend(&args.tcp);
        }
        from_plan = Some(plan);
    } else {
        if let Some(i) = &args.interface {
            preflight_probe::check_interface(i)?;
        }
        if let Some(s) = args.source {
            preflight_probe::check_source(s, args.interface.as_deref())?;
        }
        let mut addrs = Vec::new();
        for raw in &args.targets {
            let (spec, dev) = match raw.split_once('%') {
                Some((a, d)) => (a, Some(d.to_string())),
                None => (raw.as_str(), args.interface.clone()),
            };
            if let (Some(d), Some(i)) = (&dev, &args.interface) {
                if d != i {
                    bail!("target `{raw}` names interface `{d}` but --interface is `{i}`");
                }
            }
            if let Some(d) = &dev {
                preflight_probe::check_interface(d)?;
            }
            let before = addrs.len();
            expand_into(spec, args.max_targets, &mut addrs)?;
            if dev.is_none() {
                if let Some(IpAddr::V6(a)) = addrs[before..].iter().find(
                    |a| matches!(a, IpAddr::V6(v6) if preflight_probe::sock::is_link_local(v6)),
                ) {
                    bail!("link-local target {a} needs an interface: --interface NAME or {a}%NAME");
                }
            }
            for a in addrs.drain(before..) {
                let mut t = Target::new(a);
                t.source = args.source;
                t.device = dev.clone();
                t.mtu = args.mtu;
                t.tcp_ports = args.tcp.clone();
                targets.push(t);
            }
        }
        if let Some(s) = args.source {
            if let Some(t) = targets.iter().find(|t| t.addr.is_ipv6() != s.is_ipv6()) {
                bail!(
                    "--source {s} and target {} are of different address families",
                    t.addr
                );
            }
        }
    }
    if let Some(c) = args.count {
        opts.count = c;
    }
    if let Some(i) = args.interval {
        opts.interval = Duration::from_millis(i);
    }
    if let Some(t) = args.timeout {
        opts.timeout = Duration::from_millis(t);
    }
    if let Some(r) = args.retries {
        opts.retries = r;
    }
    if let Some(s) = args.size {
        opts.size = s;
    }
    if args.rate.is_some() {
        opts.rate = args.rate;
    }
    opts.df = args.df;
    opts.window = args.window;
    opts.socket_kind = match args.socket {
        SocketArg::Auto => None,
        SocketArg::Dgram => Some(SocketKind::Dgram),
        SocketArg::Raw => Some(SocketKind::Raw),
    };
    opts.validate()?;
    Ok((
        match from_plan {
            Some(p) => Work::Plan(p),
            None => Work::Targets(targets),
        },
        opts,
    ))
}

/// The judged state of a target (the check's one verdict, see `preflight_model::judge`).
pub(crate) fn state(t: &TargetResult) -> PairState {
    judge(t.expect, Some(Measurement::from(t)))
}

/// Whether a target behaved as expected: its judged state is ok and every TCP port asked for
/// is open (the check plans no TCP probes; `probe --tcp-port` does).
pub(crate) fn as_expected(t: &TargetResult) -> bool {
    state(t) == PairState::Ok
        && t.tcp
            .iter()
            .all(|r| matches!(r.outcome, TcpOutcome::Open { .. }))
}

/// Runs the subcommand.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let args = args.inner;
    let (work, opts) = build_targets(&args)?;
    let report = match work {
        Work::Plan(plan) => preflight_probe::run_plan_with(&plan, &opts).await?,
        Work::Targets(targets) => preflight_probe::run_targets(targets, &opts).await?,
    };
    let all_ok = report.targets.iter().all(as_expected);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Text => write_text(&mut out, &report)?,
    }
    out.flush()?;
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn opt_str<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn write_text(out: &mut impl Write, r: &ProbeReport) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<26} {:<26} {:<12} {:>5} {:>5} {:>4} {:>6} {:>9} {:>9} {:>9} {:>9}  RESULT",
        "TARGET", "SOURCE", "SPACE", "SENT", "RECV", "DUP", "LOSS", "MIN", "AVG", "MAX", "MDEV"
    )?;
    let (mut alive, mut sent, mut recv, mut dups) = (0u64, 0u64, 0u64, 0u64);
    let (mut min, mut max, mut sum, mut n) = (f64::INFINITY, 0f64, 0f64, 0u64);
    for t in &r.targets {
        sent += u64::from(t.sent);
        recv += u64::from(t.received);
        dups += u64::from(t.duplicates);
        if t.answered() {
            alive += 1;
        }
        let (a, b, c, d) = match &t.rtt {
            Some(s) => {
                min = min.min(s.min_ms);
                max = max.max(s.max_ms);
                sum += s.avg_ms * f64::from(t.received);
                n += u64::from(t.received);
                (
                    format!("{:.3}", s.min_ms),
                    format!("{:.3}", s.avg_ms),
                    format!("{:.3}", s.max_ms),
                    format!("{:.3}", s.mdev_ms),
                )
            }
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let mut result = match state(t) {
            PairState::Ok if t.expect == Expectation::Isolated => {
                "isolated (no answer, as expected)".to_string()
            }
            PairState::Ok | PairState::Pending => "ok".to_string(),
            PairState::IsolationBreach => "ANSWERED but expected isolated".to_string(),
            PairState::Unreachable => t
                .failure
                .as_ref()
                .unwrap_or(&FailureCause::Timeout)
                .to_string(),
            PairState::NotRun => t
                .failure
                .as_ref()
                .map_or_else(|| "not run".to_string(), |c| c.to_string()),
            PairState::Loss => "PACKET LOSS".to_string(),
            PairState::MtuBlackhole => "MTU BLACKHOLE".to_string(),
        };
        if !as_expected(t) && t.expect == Expectation::Reachable && t.answered() {
            result.push_str(" (see below)");
        }
        writeln!(
            out,
            "{:<26} {:<26} {:<12} {:>5} {:>5} {:>4} {:>5.1}% {:>9} {:>9} {:>9} {:>9}  {}",
            t.target.to_string(),
            opt_str(&t.source),
            opt_str(&t.space),
            t.sent,
            t.received,
            t.duplicates,
            t.loss_pct,
            a,
            b,
            c,
            d,
            result
        )?;
        if let Some(m) = &t.mtu {
            let v = match m.verdict {
                MtuVerdict::Ok => "ok",
                MtuVerdict::Blackhole => "BLACKHOLE (small ok, full size silent)",
                MtuVerdict::FragmentationNeeded => "FRAGMENTATION NEEDED (full size refused)",
                MtuVerdict::Unknown => "unknown (small probe failed)",
            };
            writeln!(
                out,
                "    mtu {}: {v}; small {}, full size {}, largest ok {}",
                m.expected_mtu,
                if m.small_ok { "ok" } else { "failed" },
                if m.large_ok { "ok" } else { "failed" },
                opt_str(&m.largest_ok)
            )?;
        }
        for p in &t.tcp {
            let what = match &p.outcome {
                TcpOutcome::Open { connect_ms } => format!("open ({connect_ms:.3} ms)"),
                TcpOutcome::Refused => "REFUSED".into(),
                TcpOutcome::Timeout => "TIMEOUT".into(),
                TcpOutcome::Unreachable { message } => format!("UNREACHABLE ({message})"),
            };
            writeln!(out, "    tcp {}: {what}", p.port)?;
        }
    }
    let total = r.targets.len() as u64;
    writeln!(out)?;
    writeln!(out, " {total:>9} targets")?;
    writeln!(out, " {alive:>9} alive")?;
    writeln!(out, " {:>9} unreachable", total - alive)?;
    writeln!(out, " {sent:>9} ICMP echo requests sent")?;
    writeln!(out, " {recv:>9} ICMP echo replies received")?;
    writeln!(out, " {dups:>9} duplicate replies")?;
    if n > 0 {
        writeln!(
            out,
            " {:.3} / {:.3} / {:.3} ms (min round trip time / avg / max)",
            min,
            sum / n as f64,
            max
        )?;
    }
    writeln!(out, " {:.3} s elapsed", r.duration_ms as f64 / 1000.0)?;
    for s in &r.sockets {
        writeln!(
            out,
            " socket: {} source {} device {} receive buffer {} bytes",
            match s.kind {
                SocketKind::Dgram => "dgram",
                SocketKind::Raw => "raw",
            },
            s.source
                .map_or_else(|| "any".to_string(), |a| a.to_string()),
            s.device.as_deref().unwrap_or("any"),
            opt_str(&s.recv_buffer_bytes)
        )?;
    }
    Ok(())
}
