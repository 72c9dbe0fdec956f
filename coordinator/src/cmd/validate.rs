//! `preflight validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use preflight_bundle::CharmSet;
use preflight_maas::ProviderSource;
use preflight_model::report::{Report, ReportKind};

use super::common::{write_output, ProviderArgs, ReportFormat};

/// Flags of `preflight validate`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Tells whether `juju deploy BUNDLE --overlay ...` can bind every endpoint on \
this MAAS, and exactly why not: bindings to spaces MAAS lacks, endpoints the charm lacks (with \
--charm-dir), constraints that exclude a bound space, constraints (plus the spaces Juju adds for \
bindings) that no machine in Ready/Allocated/Deployed satisfies, units placed on bundle machines \
whose candidates lack a bound space, more new-machine units than fitting machines, subnets in no \
space, overlapping subnets and empty bound spaces.

Exit codes: 0 no error findings, 1 error findings, 2 bad input.

Examples:
  preflight validate --bundle bundle.yaml --overlay spaces.yaml --provider snap.json
  preflight validate --bundle bundle.yaml --charm-dir ./charms \\
      --maas-url http://maas:5240/MAAS --api-key-file ~/.maas-key
  preflight validate --bundle bundle.yaml --provider ./maas-fixture-dir \\
      --machine-map 0=k4p7ab --format junit -o validate.xml"
)]
pub(crate) struct Args {
    /// The bundle file (bundle.yaml).
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// An overlay, applied in the order given (repeatable), as `juju deploy --overlay`.
    #[arg(long, value_name = "FILE")]
    pub overlay: Vec<PathBuf>,
    /// A charm directory holding metadata.yaml (or charmcraft.yaml), or a directory of such
    /// directories (repeatable); enables the unknown-endpoint check for those charms.
    /// Reactive charms' source metadata lacks layer-added endpoints: unpack the built .charm.
    #[arg(long, value_name = "DIR")]
    pub charm_dir: Vec<PathBuf>,
    /// Where MAAS data comes from.
    #[command(flatten)]
    pub provider: ProviderArgs,
    /// Pin bundle machine N to the MAAS machine SYSTEM_ID (repeatable), instead of every
    /// machine that satisfies N's constraints.
    #[arg(long, value_name = "N=SYSTEM_ID")]
    pub machine_map: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Write the report to this file instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs the subcommand.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bundle = preflight_bundle::load(&args.bundle, &args.overlay)?;
    for w in &bundle.warnings {
        eprintln!("preflight: warning: {w}");
    }
    let charms = if args.charm_dir.is_empty() {
        None
    } else {
        Some(CharmSet::load_dirs(&args.charm_dir)?)
    };
    let source = args.provider.source()?;
    let provider = preflight_maas::load_provider(&source)
        .await
        .context("cannot read MAAS data")?;
    let map = preflight_validate::parse_machine_map(&args.machine_map)?;
    preflight_validate::check_machine_map(&bundle, &provider, &map)?;

    let outcome = preflight_validate::validate(&bundle, charms.as_ref(), &provider, &map);
    let mut report = Report::new(
        ReportKind::Validate,
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        outcome.findings,
    );
    report.checked = outcome.checked;
    report.inputs = bundle
        .sources
        .iter()
        .map(|p| p.display().to_string())
        .chain(
            args.charm_dir
                .iter()
                .map(|d| format!("charms: {}", d.display())),
        )
        .chain(std::iter::once(match &source {
            ProviderSource::File(p) => format!("maas: {}", p.display()),
            ProviderSource::Live { url, .. } => format!("maas: {url}"),
        }))
        .collect();
    let rendered = preflight_report::render(&report, args.format.into());
    write_output(args.output.as_deref(), &rendered)?;
    Ok(ExitCode::from(report.exit_code()))
}
