//! Flags and helpers shared by several subcommands.

use std::path::{Path, PathBuf};

use anyhow::Context;
use preflight_maas::ProviderSource;

/// Where provider (MAAS) data comes from: a snapshot file or a live MAAS.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ProviderArgs {
    /// Snapshot file written by `preflight maas snapshot` (or a directory laid out like the MAAS fixtures).
    #[arg(long, value_name = "FILE", conflicts_with = "maas_url")]
    pub provider: Option<PathBuf>,
    /// URL of a live MAAS, e.g. http://maas.example:5240/MAAS
    #[arg(long, value_name = "URL")]
    pub maas_url: Option<String>,
    /// File holding the MAAS API key (consumer:token:secret); or set MAAS_API_KEY.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
}

impl ProviderArgs {
    /// Resolves the flags into a provider source, reading the API key from its file or the environment.
    pub(crate) fn source(&self) -> anyhow::Result<ProviderSource> {
        match (&self.provider, &self.maas_url) {
            (Some(file), None) => Ok(ProviderSource::File(file.clone())),
            (None, Some(url)) => Ok(ProviderSource::Live {
                url: url.clone(),
                api_key: read_secret(self.api_key_file.as_deref(), "MAAS_API_KEY")
                    .context("--maas-url needs an API key")?,
            }),
            (Some(_), Some(_)) => anyhow::bail!("give either --provider or --maas-url, not both"),
            (None, None) => anyhow::bail!(
                "no provider data: give --provider FILE (a snapshot) or --maas-url URL with --api-key-file FILE"
            ),
        }
    }
}

/// Reads a secret from a file (trimmed) or, without a file, from an environment variable.
/// The secret itself never appears in an error.
pub(crate) fn read_secret(file: Option<&Path>, env: &str) -> anyhow::Result<String> {
    let value = match file {
        Some(path) => {
            let v = preflight_model::limits::read_bounded_text(
                path,
                preflight_model::limits::MAX_SECRET_FILE,
            )
            .context("cannot read the secret file")?;
            warn_if_readable_by_others(path);
            v
        }
        None => std::env::var(env)
            .with_context(|| format!("no secret file given and {env} is not set"))?,
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        anyhow::bail!(
            "the secret from {} is empty",
            file.map(|p| p.display().to_string())
                .unwrap_or_else(|| env.to_string())
        );
    }
    Ok(value)
}

/// Says so on stderr when a secret file can be read by group or others.
fn warn_if_readable_by_others(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(p) {
        if m.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "preflight: warning: secret file {} is readable by others (mode {:o}); chmod 600 it",
                p.display(),
                m.permissions().mode() & 0o777
            );
        }
    }
}

/// Writes output to a file atomically and durably (temp file, fsync, rename, fsync dir), or
/// to stdout when no file is given.
pub(crate) fn write_output(path: Option<&Path>, content: &str) -> anyhow::Result<()> {
    match path {
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(content.as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Some(path) => preflight_report::write_atomic(path, |w| w.write_all(content.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display())),
    }
}

/// Writes a report to a file (atomically and durably; JSON streamed, never held as one
/// string), or to stdout.
pub(crate) fn write_report(
    path: Option<&Path>,
    report: &preflight_model::report::Report,
    format: ReportFormat,
) -> anyhow::Result<()> {
    match path {
        None => {
            let mut out = std::io::stdout().lock();
            preflight_report::write_to(report, format.into(), false, &mut out)
                .context("cannot write the report to stdout")
        }
        Some(path) => preflight_report::write_file(report, format.into(), false, path)
            .with_context(|| format!("cannot write {}", path.display())),
    }
}

/// Report output format, as the flags name it.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Human-readable text.
    Text,
    /// JSON (schema preflight.report/v1).
    Json,
    /// JUnit XML.
    Junit,
    /// Self-contained HTML page.
    Html,
}

impl From<ReportFormat> for preflight_report::Format {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Text => preflight_report::Format::Text,
            ReportFormat::Json => preflight_report::Format::Json,
            ReportFormat::Junit => preflight_report::Format::Junit,
            ReportFormat::Html => preflight_report::Format::Html,
        }
    }
}
