//! `preflight report`: re-render a saved JSON report, or assemble one from probe results.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use preflight_model::report::{Report, Severity};

use super::common::{write_output, ReportFormat};

/// The usage examples, shared by `-h` and `--help`.
macro_rules! examples {
    () => {
        "Examples:\n  preflight report check.json\n  \
         preflight report check.json --format html -o check.html\n  \
         preflight report check.json --format junit -o junit.xml\n  \
         preflight report --probes results/*.json --format json -o report.json"
    };
}

/// Flags of `preflight report`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = examples!(),
    after_long_help = concat!(
        "Re-renders a saved JSON report (from `preflight check` or `preflight validate` with \
         --format json) as text, JSON, JUnit XML or a self-contained HTML page; or, with --probes, \
         assembles a connectivity report from probe-result files written by \
         `preflight-agent probe --format json` (the Juju charm's leader does this).\n\n\
         Exit codes: 0 the report passes, 1 it has error findings, 2 the input could not be read \
         (the error names the file and the JSON path of the bad field).\n\n",
        examples!()
    )
)]
pub(crate) struct Args {
    /// Saved JSON report (schema preflight.report/v1); `-` reads standard input.
    #[arg(
        value_name = "FILE",
        required_unless_present = "probes",
        conflicts_with = "probes"
    )]
    pub file: Option<PathBuf>,
    /// Probe-result files (schema preflight.probe/v1, from `preflight-agent probe --format json`)
    /// to assemble a connectivity report from, instead of reading a saved report.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub probes: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write the output to this file (atomically) instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Colour text output: auto (when standard output is a terminal and NO_COLOR is unset),
    /// always or never.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

/// When to colour text output.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Color {
    /// When writing to a terminal and NO_COLOR is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Runs the subcommand.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = if args.probes.is_empty() {
        let path = args
            .file
            .as_deref()
            .context("give a saved report FILE or --probes FILE...")?;
        let text = read_input(path)?;
        preflight_report::parse_report(&text)
            .with_context(|| format!("{} is not a valid report", display(path)))?
    } else {
        let mut results = Vec::with_capacity(args.probes.len());
        for path in &args.probes {
            let text = read_input(path)?;
            let result = preflight_report::parse_probe_report(&text)
                .with_context(|| format!("{} is not a valid probe result", display(path)))?;
            results.push(result);
        }
        preflight_check::report_from_probes(&results)
            .context("cannot assemble a report from the probe results")?
    };
    warn_if_inconsistent(&report);
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            args.output.is_none()
                && std::env::var_os("NO_COLOR").is_none()
                && std::io::stdout().is_terminal()
        }
    };
    let rendered = preflight_report::render_with(&report, args.format.into(), color);
    write_output(args.output.as_deref(), &rendered)?;
    Ok(ExitCode::from(exit_code(&report)))
}

/// 0 pass, 1 errors: the summary's verdict, or errors among the findings if the summary
/// (hand-edited, or written by a buggy producer) claims a pass it does not have.
fn exit_code(report: &Report) -> u8 {
    let has_errors = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error);
    report.exit_code().max(u8::from(has_errors))
}

/// Says so on stderr when the summary does not match the findings.
fn warn_if_inconsistent(report: &Report) {
    let recount = preflight_model::report::Summary::of(&report.findings);
    let s = &report.summary;
    if (
        recount.status,
        recount.errors,
        recount.warnings,
        recount.infos,
    ) != (s.status, s.errors, s.warnings, s.infos)
    {
        eprintln!(
            "preflight: warning: the report's summary ({} errors, {} warnings, {} info) does not \
             match its findings ({} errors, {} warnings, {} info); the exit code follows the findings",
            s.errors, s.warnings, s.infos, recount.errors, recount.warnings, recount.infos
        );
    }
}

fn display(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".to_string()
    } else {
        path.display().to_string()
    }
}

/// Reads a file (or stdin for `-`) as UTF-8, refusing anything over the parser's size limit,
/// and dropping a leading byte-order mark.
fn read_input(path: &Path) -> anyhow::Result<String> {
    let limit = preflight_report::MAX_DOCUMENT_BYTES as u64;
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    if bytes.len() as u64 > limit {
        anyhow::bail!(
            "{} is larger than the {limit}-byte limit for a report",
            display(path)
        );
    }
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{} is not UTF-8 text: {e}", display(path)))?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}
