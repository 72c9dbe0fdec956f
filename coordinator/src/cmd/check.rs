//! `preflight check`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use preflight_check::plan::PlanOptions;
use preflight_check::server::ServerConfig;
use preflight_check::session::{self, CheckConfig, Progress};
use preflight_check::tls::TlsIdentity;
use preflight_model::limits::{MAX_COUNT, MAX_TIMEOUT_MS};
use preflight_model::plan::ProbeSettings;

/// Longest --deadline or --probe-deadline: a week.
const MAX_DEADLINE_SECS: u64 = 7 * 24 * 3600;

use super::common::{read_secret, write_output, write_report, ProviderArgs, ReportFormat};

/// Flags of `preflight check`.
#[derive(clap::Args, Debug)]
#[command(long_about = "Run the connectivity check.

The coordinator loads MAAS's model, waits for `--expect N` agents (`preflight-agent run`)
to register with what they observe, merges both (drift findings), plans probes per space
(every pair of machines with an address in a space, both directions, MTU at the VLAN MTU),
hands each agent its plan, gathers the results and writes one report.

Examples:
  preflight check --provider maas.json --listen 0.0.0.0:7700 --token-file token --expect 4
  preflight check --maas-url http://maas:5240/MAAS --api-key-file key \\
      --bundle bundle.yaml --overlay spaces.yaml \\
      --listen 10.0.0.1:7700 --token-file token --expect 30 --isolate storage:public \\
      --format json -o report.json --state-dir /var/lib/preflight
  preflight check --provider maas.json --bundle mediawiki.yaml --isolation bundle \\
      --allow dmz:mgmt --listen 0.0.0.0:7700 --token-file token --expect 6

With --bundle, every pair of spaces a relation joins (an endpoint bound to one space related
to an endpoint bound to another) is probed both ways from the machines that can host the
relation's applications (`relation.unreachable` when no answer comes); --isolation bundle
makes every other pair of spaces expected-isolated.

TLS: --tls serves the agent API over HTTPS with a self-signed certificate made at start (kept
in the --state-dir, so a resumed check keeps it), or --tls-cert/--tls-key. The certificate's
fingerprint is printed on stderr as `preflight: TLS certificate fingerprint SHA256:<hex>`
(before the `listening on https://...` line) and written to --fingerprint-file; agents pin it
with `--fingerprint SHA256:<hex>` or `--fingerprint-file`. Without TLS the API is plain HTTP
(labs only), and stderr says so.

Exit codes: 0 pass, 1 error findings, 2 usage or input error.")]
pub(crate) struct Args {
    /// Where MAAS's model comes from.
    #[command(flatten)]
    pub provider: Box<ProviderArgs>,
    /// A bundle to validate against MAAS as well (every `preflight validate` check joins the report).
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// An overlay of the bundle, applied in the order given (repeatable).
    #[arg(long, value_name = "FILE", requires = "bundle")]
    pub overlay: Vec<PathBuf>,
    /// A charm directory (or a directory of them) for the unknown-endpoint check (repeatable).
    #[arg(long, value_name = "DIR", requires = "bundle")]
    pub charm_dir: Vec<PathBuf>,
    /// Pin bundle machine N to MAAS machine SYSTEM_ID (repeatable), as in `preflight validate`.
    #[arg(long, value_name = "N=SYSTEM_ID", requires = "bundle")]
    pub machine_map: Vec<String>,
    /// Read --bundle with this Juju version's rules (3, the default, or 2.9), as in
    /// `preflight validate --juju`.
    #[arg(long, value_name = "VERSION", default_value = "3", value_parser = crate::cmd::validate::parse_juju, requires = "bundle")]
    pub juju: preflight_bundle::JujuVersion,
    /// Address and port to listen on for agents (port 0 picks a free port, printed on stderr).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// File holding the bearer token agents must present; or set PREFLIGHT_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Number of agents to wait for before planning.
    #[arg(long, value_name = "N")]
    pub expect: usize,
    /// Seconds to wait for the agents to register; when it passes, the check goes on with
    /// those that came and reports the others as `agent.missing` (at most a week).
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(0..=MAX_DEADLINE_SECS))]
    pub deadline: u64,
    /// Seconds to wait for results once the plans are handed out (at most a week).
    #[arg(long, value_name = "SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(0..=MAX_DEADLINE_SECS))]
    pub probe_deadline: u64,
    /// Serve the agent API over TLS (a self-signed certificate unless --tls-cert is given).
    #[arg(long)]
    pub tls: bool,
    /// PEM certificate chain to serve (implies --tls; needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Write the TLS certificate's fingerprint (`SHA256:<hex>`, one line) to FILE, for
    /// agents' --fingerprint-file.
    #[arg(long, value_name = "FILE")]
    pub fingerprint_file: Option<PathBuf>,
    /// Spaces that must NOT reach each other, as SPACE_A:SPACE_B (repeatable); probes that
    /// get through are `probe.isolation-breach`.
    #[arg(long, value_name = "SPACE_A:SPACE_B")]
    pub isolate: Vec<String>,
    /// Juju controller API addresses, ADDR[,ADDR...] (repeatable): every machine must open
    /// TCP 17070 to one of them from its address in --mgmt-space (`controller.unreachable`).
    #[arg(long, value_name = "ADDR[,ADDR...]", value_delimiter = ',')]
    pub controller: Vec<std::net::IpAddr>,
    /// Read the controller addresses from `juju show-controller --format json` output (its
    /// `api-endpoints`).
    #[arg(long, value_name = "FILE")]
    pub controller_file: Option<PathBuf>,
    /// Juju's `juju-mgmt-space`: the space machines reach the controllers in (default: any
    /// of their addresses, as Juju does without it).
    #[arg(long, value_name = "SPACE")]
    pub mgmt_space: Option<String>,
    /// Juju's `juju-ha-space`: the space the controllers (machines holding a controller
    /// address) must reach each other in, TCP 37017 (`controller.ha-unreachable`).
    #[arg(long, value_name = "SPACE")]
    pub ha_space: Option<String>,
    /// Isolation policy beyond --isolate: `bundle` makes every pair of spaces that no relation
    /// of --bundle joins expected-isolated (probes that get through are
    /// `probe.isolation-breach`, "not needed by any relation in the bundle").
    #[arg(long, value_enum, default_value_t = Isolation::None, requires = "bundle")]
    pub isolation: Isolation,
    /// Exempt a pair of spaces from `--isolation bundle`, as SPACE_A:SPACE_B (repeatable),
    /// e.g. a management space every machine is reached from.
    #[arg(long, value_name = "SPACE_A:SPACE_B", requires = "bundle")]
    pub allow: Vec<String>,
    /// A line for the report's inputs, after the provider (repeatable): what the reader must
    /// know about them, e.g. which checks a hand-made provider snapshot cannot support
    /// (the charm's no-provider mode says so here). One line, at most 1024 bytes.
    #[arg(long, value_name = "TEXT")]
    pub note: Vec<String>,
    /// The unit that runs on a machine, as HOSTNAME=UNIT (repeatable): an `agent.missing` for
    /// that MAAS machine names the unit too, and when some labelled machines never registered
    /// they are the ones named (other unmatched MAAS machines are not this deployment's). The
    /// charm passes one per unit.
    #[arg(long, value_name = "HOSTNAME=UNIT", value_parser = parse_unit_label)]
    pub unit_label: Vec<(String, String)>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Keep registrations, the plan and results here; restarting with the same dir resumes.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Once listening, write the coordinator's URL to FILE (atomically: a supervisor waiting
    /// for the file never reads half of it).
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
    /// Keep the progress in FILE as one JSON object (stage, agents registered/expected,
    /// agents reported, probes done/planned), rewritten atomically whenever a count changes,
    /// for a supervisor's status line (the charm's).
    #[arg(long, value_name = "FILE")]
    pub progress_file: Option<PathBuf>,
    /// Largest number of machines in a space probed as a full mesh; above it the plan is
    /// sparse (every machine and every subnet pair still gets at least --sparse-k probes
    /// each way).
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub full_mesh_max: usize,
    /// Minimum probes per machine and per subnet pair, each way, in a sparse plan.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub sparse_k: usize,
    // Help from the agent's own caps, so the two never disagree.
    #[arg(long, value_name = "N", default_value_t = 3,
          help = format!("Echo requests per probe (1 to {MAX_COUNT}, the most an agent accepts)"),
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_COUNT)))]
    pub count: u32,
    #[arg(long, value_name = "MS", default_value_t = 1000,
          help = format!("Milliseconds to wait for each echo reply (1 to {MAX_TIMEOUT_MS}, the most an agent accepts)"),
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_MS))]
    pub timeout_ms: u64,
}

/// The controllers to check, from `--controller` and `--controller-file`, with the spaces
/// checked against MAAS.
fn controllers(
    args: &Args,
    provider: &preflight_model::provider::ProviderModel,
) -> anyhow::Result<Option<preflight_check::infra::Controllers>> {
    let mut addresses = args.controller.clone();
    if let Some(f) = &args.controller_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read --controller-file {}", f.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not JSON (`juju show-controller --format json`)",
                f.display()
            )
        })?;
        let found = preflight_check::infra::controller_addresses_from_json(&v)
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        for a in found {
            if !addresses.contains(&a) {
                addresses.push(a);
            }
        }
    }
    for (flag, s) in [
        ("--mgmt-space", &args.mgmt_space),
        ("--ha-space", &args.ha_space),
    ] {
        if let Some(s) = s {
            if addresses.is_empty() {
                anyhow::bail!("{flag} needs --controller or --controller-file");
            }
            if provider.space_by_name(s).is_none() {
                anyhow::bail!("{flag}: MAAS has no space named {s:?}");
            }
        }
    }
    if addresses.is_empty() {
        return Ok(None);
    }
    Ok(Some(preflight_check::infra::Controllers {
        addresses,
        mgmt_space: args.mgmt_space.clone(),
        ha_space: args.ha_space.clone(),
    }))
}

/// `--isolation`: which space pairs must not reach each other beyond `--isolate`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// Only the `--isolate` pairs.
    None,
    /// Every pair of spaces no relation of the bundle joins (less `--allow` pairs).
    Bundle,
}

fn parse_pairs(flag: &str, raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|s| match s.split_once(':') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && a != b => {
                Ok((a.to_string(), b.to_string()))
            }
            _ => anyhow::bail!(
                "--{flag} {s:?}: expected two different space names as SPACE_A:SPACE_B"
            ),
        })
        .collect()
}

/// `--progress-file`: the last progress written, so only changes are written.
struct ProgressFile {
    path: Option<PathBuf>,
    last: std::sync::Mutex<Option<String>>,
    warned: std::sync::atomic::AtomicBool,
}

impl ProgressFile {
    fn new(path: Option<PathBuf>) -> ProgressFile {
        ProgressFile {
            path,
            last: std::sync::Mutex::new(None),
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Writes the progress when a count or the stage changed (not for the time left alone).
    fn update(&self, p: &Progress) {
        let Some(path) = &self.path else { return };
        let doc = progress_json(p);
        let mut last = match self.last.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if last.as_deref() == Some(doc.as_str()) {
            return;
        }
        // Best effort: a status line is not worth stopping the check for; said once.
        if let Err(e) = write_output(Some(path), &doc) {
            if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                eprintln!("preflight: warning: progress file: {e:#}");
            }
        }
        *last = Some(doc);
    }
}

/// The `--progress-file` document of a progress snapshot.
fn progress_json(p: &Progress) -> String {
    let stage = match p.stage {
        session::Stage::Registering => "registering",
        session::Stage::Probing => "probing",
        session::Stage::Reporting => "reporting",
    };
    let doc = serde_json::json!({
        "stage": stage,
        "agents_registered": p.registered,
        "agents_matched": p.matched,
        "agents_expected": p.expected,
        "agents_planned": p.agents_planned,
        "agents_reported": p.agents_reported,
        "probes_planned": p.probes_planned,
        "probes_done": p.probes_done,
    });
    format!("{doc}\n")
}

/// Parses `--unit-label HOSTNAME=UNIT` (both printable, at most 255 bytes).
fn parse_unit_label(s: &str) -> Result<(String, String), String> {
    let ok = |x: &str| !x.is_empty() && x.len() <= 255 && !x.chars().any(char::is_control);
    match s.split_once('=') {
        Some((h, u)) if ok(h) && ok(u) => Ok((h.to_string(), u.to_string())),
        _ => Err(format!(
            "{s:?}: expected HOSTNAME=UNIT (each 1 to 255 printable bytes), e.g. node-2=preflight/2"
        )),
    }
}

/// Longest `--note`.
const MAX_NOTE_BYTES: usize = 1024;

/// A `--note` is one printable line of bounded length (it is shown in every report format).
fn check_notes(notes: &[String]) -> anyhow::Result<()> {
    for n in notes {
        if n.trim().is_empty() || n.len() > MAX_NOTE_BYTES || n.chars().any(char::is_control) {
            anyhow::bail!(
                "--note: expected one line of 1 to {MAX_NOTE_BYTES} bytes without control characters"
            );
        }
    }
    Ok(())
}

fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb
}

/// The TLS certificate to serve, when TLS is asked for.
fn tls_identity(args: &Args, local: SocketAddr) -> anyhow::Result<Option<TlsIdentity>> {
    if let (Some(c), Some(k)) = (&args.tls_cert, &args.tls_key) {
        return Ok(Some(TlsIdentity::from_pem_files(c, k)?));
    }
    if !args.tls {
        return Ok(None);
    }
    let ips = [local.ip()];
    let ips: &[std::net::IpAddr] = if local.ip().is_unspecified() {
        &[]
    } else {
        &ips
    };
    Ok(Some(match &args.state_dir {
        Some(d) => match TlsIdentity::self_signed_in(d, &[], ips) {
            Ok(id) => id,
            // Disk full: serve a certificate kept in memory (a restart cannot resume then).
            Err(e) if d.exists() && !d.join("tls").join("cert.pem").exists() => {
                eprintln!("preflight: warning: {e}; the TLS certificate is kept in memory only, so a restarted check will have another fingerprint");
                TlsIdentity::self_signed(&[], ips)?
            }
            Err(e) => return Err(e.into()),
        },
        None => TlsIdentity::self_signed(&[], ips)?,
    }))
}

/// Runs the subcommand.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let token = read_secret(args.token_file.as_deref(), "PREFLIGHT_TOKEN")
        .context("the agents' bearer token is needed (--token-file FILE or PREFLIGHT_TOKEN)")?;
    if args.expect == 0 {
        anyhow::bail!("--expect must be at least 1");
    }
    check_notes(&args.note)?;
    let isolate = parse_pairs("isolate", &args.isolate)?;
    let allow = parse_pairs("allow", &args.allow)?;
    let source = args.provider.source()?;
    let provider = preflight_maas::load_provider(&source)
        .await
        .context("cannot load the provider (MAAS) model")?;
    for (flag, pairs) in [("isolate", &isolate), ("allow", &allow)] {
        for (a, b) in pairs {
            for s in [a, b] {
                if provider.space_by_name(s).is_none() {
                    anyhow::bail!("--{flag}: MAAS has no space named {s:?}");
                }
            }
        }
    }
    let controllers = controllers(&args, &provider)?;
    let mut topology = preflight_check::cross_space::Topology {
        isolate_unrelated: args.isolation == Isolation::Bundle,
        allow,
        bundle: args.bundle.is_some(),
        ..Default::default()
    };
    // Bundle validation first: bad input stops the check before any agent is kept waiting.
    let mut inputs = Vec::new();
    let (extra_findings, extra_checked) = match &args.bundle {
        None => (Vec::new(), Vec::new()),
        Some(path) => {
            let bundle = preflight_bundle::load_with(
                path,
                &args.overlay,
                &preflight_bundle::LoadOptions { juju: args.juju },
            )?;
            for w in &bundle.warnings {
                eprintln!("preflight: warning: {w}");
            }
            let charms = if args.charm_dir.is_empty() {
                None
            } else {
                Some(preflight_bundle::CharmSet::load_dirs(&args.charm_dir)?)
            };
            let map = preflight_validate::parse_machine_map(&args.machine_map)?;
            preflight_validate::check_machine_map(&bundle, &provider, &map)?;
            // The agents run on the bundle's machines: it is deployed, so its owned machines
            // count (validate, before the deploy, counts only Ready ones).
            let outcome = preflight_validate::validate_on(
                &bundle,
                charms.as_ref(),
                &provider,
                &map,
                preflight_validate::Machines::Deployed,
            );
            let relations = preflight_validate::relations::relation_map(&bundle, charms.as_ref());
            for (a, b) in &isolate {
                if let Some(need) = relations.need(a, b) {
                    anyhow::bail!(
                        "--isolate {a}:{b} contradicts the bundle: {} need {a} and {b} to reach each other",
                        need.relations.join("; ")
                    );
                }
            }
            topology.needs = relations.needs;
            topology.application_spaces = relations.application_spaces;
            topology.application_hosts = outcome.hosts.clone();
            inputs.extend(bundle.sources.iter().map(|p| p.display().to_string()));
            inputs.extend(
                args.charm_dir
                    .iter()
                    .map(|d| format!("charms: {}", d.display())),
            );
            (outcome.findings, outcome.checked)
        }
    };
    inputs.push(match &source {
        preflight_maas::ProviderSource::File(p) => format!("maas: {}", p.display()),
        preflight_maas::ProviderSource::Live { url, .. } => format!("maas: {url}"),
    });
    inputs.extend(args.note.iter().cloned());
    let config = CheckConfig {
        provider,
        server: ServerConfig::new(token),
        expect: args.expect,
        unit_labels: args.unit_label.iter().cloned().collect(),
        register_deadline: Duration::from_secs(args.deadline),
        probe_deadline: Duration::from_secs(args.probe_deadline),
        plan: PlanOptions {
            full_mesh_max: args.full_mesh_max,
            k: args.sparse_k.max(1),
            isolate,
            topology,
            settings: ProbeSettings {
                count: args.count.clamp(1, MAX_COUNT),
                timeout_ms: args.timeout_ms.clamp(1, MAX_TIMEOUT_MS),
                ..ProbeSettings::default()
            },
            controllers,
            ..PlanOptions::default()
        },
        state_dir: args.state_dir.clone(),
        extra_findings,
        extra_checked,
        inputs,
        output: args
            .output
            .as_ref()
            .map(|p| (p.clone(), preflight_report::Format::from(args.format))),
        linger: Duration::from_millis(300),
        warn: preflight_check::Warn::default(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let mut config = config;
    let scheme = match tls_identity(&args, local)? {
        Some(id) => {
            let fp = id.fingerprint();
            config.server.tls = Some(id.server_config()?);
            if let Some(f) = &args.fingerprint_file {
                std::fs::write(f, format!("{fp}\n"))
                    .with_context(|| format!("cannot write {}", f.display()))?;
            }
            eprintln!(
                "preflight: TLS certificate fingerprint {fp} ({})",
                id.origin
            );
            "https"
        }
        None => {
            eprintln!(
                "preflight: warning: serving the agent API over plain HTTP: the token and results travel unencrypted (labs only; use --tls)"
            );
            "http"
        }
    };
    eprintln!("preflight: listening on {scheme}://{local}");
    if let Some(path) = &args.ready_file {
        write_output(Some(path), &format!("{scheme}://{local}\n"))?;
    }

    let pb = progress_bar(args.quiet);
    pb.enable_steady_tick(Duration::from_millis(200));
    let progress_file = ProgressFile::new(args.progress_file.clone());
    let report = session::run(
        config,
        listener,
        |p: &Progress| {
            pb.set_message(p.message());
            pb.tick();
            progress_file.update(p);
        },
        std::future::pending(),
    )
    .await?;
    pb.finish_and_clear();
    if args.output.is_none() {
        write_report(None, &report, args.format)?;
    }
    Ok(ExitCode::from(report.exit_code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_one_bounded_printable_line() {
        assert!(check_notes(&["no provider: drift was not checked".into()]).is_ok());
        assert_eq!(
            parse_unit_label("node-2=preflight/2"),
            Ok(("node-2".to_string(), "preflight/2".to_string()))
        );
        for bad in [
            "node-2",
            "=preflight/2",
            "node-2=",
            "a\nb=c",
            &format!("{}=u", "h".repeat(256)),
        ] {
            assert!(parse_unit_label(bad).is_err(), "{bad:?}");
        }
        assert!(check_notes(&[]).is_ok());
        for bad in [
            String::new(),
            "  ".into(),
            "two\nlines".into(),
            "esc \u{1b}[31m".into(),
            "x".repeat(MAX_NOTE_BYTES + 1),
        ] {
            assert!(check_notes(std::slice::from_ref(&bad)).is_err(), "{bad:?}");
        }
        assert!(check_notes(&["é".repeat(MAX_NOTE_BYTES / 2)]).is_ok());
    }

    fn progress(stage: session::Stage, registered: usize, done: usize, left: u64) -> Progress {
        Progress {
            stage,
            registered,
            matched: registered,
            expected: 4,
            agents_planned: 4,
            agents_reported: 1,
            probes_planned: 1200,
            probes_done: done,
            left: Duration::from_secs(left),
        }
    }

    #[test]
    fn the_progress_file_is_rewritten_only_when_a_count_changes() {
        let dir = std::env::temp_dir().join(format!("pf-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("progress.json");
        let file = ProgressFile::new(Some(path.clone()));
        file.update(&progress(session::Stage::Probing, 4, 812, 100));
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["stage"], "probing");
        assert_eq!(
            (doc["probes_done"].as_u64(), doc["probes_planned"].as_u64()),
            (Some(812), Some(1200))
        );
        assert_eq!(doc["agents_registered"], 4);
        // The time left alone changes nothing on disk.
        std::fs::remove_file(&path).unwrap();
        file.update(&progress(session::Stage::Probing, 4, 812, 99));
        assert!(!path.exists());
        file.update(&progress(session::Stage::Probing, 4, 900, 98));
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"probes_done\":900"));
        // An unwritable path is a warning, not a failure.
        ProgressFile::new(Some(dir.join("no/such/dir/p.json"))).update(&progress(
            session::Stage::Registering,
            1,
            0,
            5,
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}
