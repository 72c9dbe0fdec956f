//! Step 6 of the data line: render a [`preflight_model::report::Report`] as text, JSON,
//! JUnit XML or a self-contained HTML page, and read a saved report back.
//!
//! All four renderings come from the same model: the text matrix and the HTML heatmap share
//! one per-space grid ([`grid`]), JUnit and text share the subject matching ([`subject`]).

pub mod causes;
pub mod codes;
pub mod grid;
mod html;
mod junit;
mod pairs;
mod parse;
pub mod subject;
mod text;

use preflight_model::probe::{ProbeReport, PROBE_SCHEMA};
use preflight_model::report::{Report, REPORT_SCHEMA};

pub use html::{html_escape, HEATMAP_MAX};
pub use junit::xml_escape;
pub use parse::MAX_DOCUMENT_BYTES;
pub use text::TEXT_MATRIX_MAX;

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// The JSON report document.
    Json,
    /// JUnit XML for CI systems.
    Junit,
    /// A self-contained HTML page.
    Html,
}

/// Errors reading a saved document.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The document is empty.
    #[error("the document is empty")]
    Empty,
    /// The document is larger than [`MAX_DOCUMENT_BYTES`].
    #[error("the document is {bytes} bytes, more than the {limit}-byte limit")]
    TooLarge {
        /// Size of the document.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The document's schema string is not the one expected.
    #[error("field `schema`: {0}")]
    Schema(preflight_model::SchemaError),
    /// The JSON is malformed or a field has the wrong type or value.
    #[error("{}{message}{}", path_prefix(path), position(*line, *column))]
    Invalid {
        /// JSON path of the offending field (`findings[2].severity`), `.` for the document.
        path: String,
        /// What is wrong.
        message: String,
        /// 1-based line of the error, 0 when unknown.
        line: usize,
        /// 1-based column of the error, 0 when unknown.
        column: usize,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() || path == "." || path == "?" {
        String::new()
    } else {
        format!("field `{path}`: ")
    }
}

fn position(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" (line {line}, column {column})")
    }
}

/// Renders a report in the given format, without colour.
pub fn render(report: &Report, format: Format) -> String {
    render_with(report, format, false)
}

/// Renders a report in the given format; `color` adds ANSI colours to the text format
/// (the other formats ignore it).
pub fn render_with(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render(report, color),
        Format::Json => {
            // Serialising the model cannot fail (no non-string map keys, no failing Serialize
            // impls); non-finite floats become null. Keep a fallback rather than panic anyway.
            let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| {
                format!("{{\"schema\":\"{REPORT_SCHEMA}\",\"error\":\"{e}\"}}")
            });
            s.push('\n');
            s
        }
        Format::Junit => junit::render(report),
        Format::Html => html::render(report),
    }
}

/// Writes a report in the given format to `w`. JSON is streamed (no copy of the document is
/// held in memory, which matters for a 200-agent full mesh: ~140 MB pretty-printed), HTML is
/// written a space section at a time; text and JUnit are rendered, then written.
pub fn write_to(
    report: &Report,
    format: Format,
    color: bool,
    w: &mut (impl std::io::Write + ?Sized),
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let mut buf = std::io::BufWriter::new(w);
            serde_json::to_writer_pretty(&mut buf, report).map_err(std::io::Error::other)?;
            std::io::Write::write_all(&mut buf, b"\n")?;
            std::io::Write::flush(&mut buf)
        }
        Format::Html => {
            let mut buf = std::io::BufWriter::new(w);
            html::write(report, &mut buf)?;
            std::io::Write::flush(&mut buf)
        }
        other => w.write_all(render_with(report, other, color).as_bytes()),
    }
}

/// Writes a file atomically and durably: `fill` writes into a temp file beside `path`
/// (buffered), which is fsynced and renamed over `path`, and the directory is fsynced. A
/// reader never sees half a file; after a crash there is the old file or the whole new one.
pub fn write_atomic(
    path: &std::path::Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let written = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut buf = std::io::BufWriter::with_capacity(1 << 16, file);
        fill(&mut buf)?;
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Writes a report to `path` in the given format, atomically and durably (see
/// [`write_atomic`]); JSON is streamed straight into the file.
pub fn write_file(
    report: &Report,
    format: Format,
    color: bool,
    path: &std::path::Path,
) -> std::io::Result<()> {
    write_atomic(path, |w| write_to(report, format, color, w))
}

/// Parses a saved report (schema `preflight.report/v1`); errors name the JSON path of the bad
/// field. Unknown fields are ignored, so newer reports with additive fields still read.
pub fn parse_report(text: &str) -> Result<Report, ReportError> {
    parse::parse_document(text, REPORT_SCHEMA)
}

/// Parses a probe result (schema `preflight.probe/v1`, as `preflight-agent probe --format json`
/// writes it), with the same path-naming errors as [`parse_report`].
pub fn parse_probe_report(text: &str) -> Result<ProbeReport, ReportError> {
    parse::parse_document(text, PROBE_SCHEMA)
}
