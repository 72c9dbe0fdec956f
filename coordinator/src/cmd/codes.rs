//! `preflight explain CODE` and `preflight codes`: the finding-code registry, for people and CI.

use std::process::ExitCode;

use preflight_report::codes;

/// Flags of `preflight explain`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  preflight explain probe.mtu-blackhole",
    after_long_help = "Prints what a finding code means, how preflight detects it and what to do \
        about it, like `rustc --explain`. `preflight codes` lists every code.\n\n\
        Exit codes: 0 printed, 2 unknown code (the error lists the near ones).\n\n\
        Example:\n  preflight explain probe.mtu-blackhole"
)]
pub(crate) struct ExplainArgs {
    /// Finding code, as a report shows it (e.g. probe.mtu-blackhole).
    #[arg(value_name = "CODE")]
    pub code: String,
}

/// Output format of `preflight codes`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodesFormat {
    /// One line per code: code, severity, step, description.
    Text,
    /// A JSON document (schema preflight.codes/v1) with every field of every code.
    Json,
    /// Markdown, as in docs/codes.md.
    Markdown,
}

/// Flags of `preflight codes`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  preflight codes\n  preflight codes --format json",
    after_long_help = "Lists every finding code preflight reports, with its default severity, \
        the step that produces it and a one-line description; --format json adds what it \
        means, how it is detected and what to do (as `preflight explain CODE` prints).\n\n\
        Examples:\n  preflight codes\n  preflight codes --format json\n  \
        preflight codes --format markdown > docs/codes.md"
)]
pub(crate) struct CodesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = CodesFormat::Text)]
    pub format: CodesFormat,
}

/// Runs `preflight explain`.
pub(crate) fn run_explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let info = codes::lookup(&args.code).map_err(anyhow::Error::msg)?;
    print!("{}", codes::explain(info));
    Ok(ExitCode::SUCCESS)
}

/// Runs `preflight codes`.
pub(crate) fn run_codes(args: CodesArgs) -> anyhow::Result<ExitCode> {
    print!(
        "{}",
        match args.format {
            CodesFormat::Text => codes::codes_text(),
            CodesFormat::Json => codes::codes_json(),
            CodesFormat::Markdown => codes::codes_markdown(),
        }
    );
    Ok(ExitCode::SUCCESS)
}
