//! Steps 3–6 of the connectivity check on the coordinator: merge observed with provider data,
//! plan the probes, gather agents' results over HTTP, and build the report.

use preflight_model::probe::ProbeReport;
use preflight_model::report::Report;

/// Errors of the check.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Not implemented yet.
    #[error("not implemented yet")]
    Unimplemented,
}

/// Builds a check report from probe results alone (no provider, no plan): spaces are the
/// results' `space` fields (binding names in the charm), pairs come from source → target.
/// Used by `preflight report --probes` (the charm's leader).
pub fn report_from_probes(_results: &[ProbeReport]) -> Result<Report, CheckError> {
    Err(CheckError::Unimplemented)
}
