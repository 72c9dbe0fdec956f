//! Steps 3–6 of the connectivity check on the coordinator: merge observed with provider data,
//! plan the probes, gather agents' results over HTTP, and build the report.
//!
//! One module per step: [`merge`] (with [`drift`], its rules), [`plan`] (with [`cross_space`]
//! for the probes between spaces), [`findings`], [`infra`] (addresses, gateways and
//! controllers), [`localize`] (the causes), [`report`], [`server`], [`state`]; [`session`]
//! runs them in order as one check; serving: [`conn`] (connection caps) and [`tls`]
//! (certificates and fingerprints).

pub mod conn;
pub mod cross_space;
pub mod drift;
pub mod findings;
pub mod infra;
mod journal;
pub mod localize;
pub mod merge;
pub mod plan;
pub mod report;
pub mod server;
pub mod session;
pub mod state;
pub mod tls;

use preflight_model::probe::ProbeReport;
use preflight_model::report::Report;

/// Where the check's warnings go: stderr, as `preflight: warning: …`, unless a caller (a test)
/// collects them.
#[derive(Clone)]
pub struct Warn(std::sync::Arc<dyn Fn(&str) + Send + Sync>);

impl Warn {
    /// Warnings go to `f`.
    pub fn to(f: impl Fn(&str) + Send + Sync + 'static) -> Warn {
        Warn(std::sync::Arc::new(f))
    }

    /// Says one warning.
    pub fn say(&self, message: &str) {
        (self.0)(message)
    }
}

impl Default for Warn {
    fn default() -> Warn {
        Warn::to(|m| eprintln!("preflight: warning: {m}"))
    }
}

impl std::fmt::Debug for Warn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Warn")
    }
}

/// Errors of the check.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Bad input (names the file or document at fault).
    #[error("{0}")]
    Input(String),
    /// The state dir could not be read or written.
    #[error("state dir: {0}")]
    State(String),
    /// The report could not be written.
    #[error("cannot write the report to {path}: {error}")]
    Output {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
}

/// Builds a check report from probe results alone (no provider, no plan): spaces are the
/// results' `space` fields, pairs come from source → target.
/// Used by `preflight report --probes`.
pub fn report_from_probes(results: &[ProbeReport]) -> Result<Report, CheckError> {
    report::from_probes(results)
}
