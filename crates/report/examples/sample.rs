//! Writes sample renderings of the test reports to a directory (for looking at them).

// A benchmark/sample driver, not an input path: a failure aborts the run with its location.
#![allow(clippy::unwrap_used)]
#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "/tmp".into());
    for (name, r) in [
        ("check", common::check_report()),
        ("validate", common::validate_report()),
    ] {
        for (ext, f) in [
            ("txt", preflight_report::Format::Text),
            ("json", preflight_report::Format::Json),
            ("xml", preflight_report::Format::Junit),
            ("html", preflight_report::Format::Html),
        ] {
            std::fs::write(
                format!("{dir}/{name}.{ext}"),
                preflight_report::render(&r, f),
            )
            .unwrap();
        }
    }
}
