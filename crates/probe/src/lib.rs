//! Step 5 of the data line: probe targets (ICMP echo, DF-bit MTU, TCP connect) from a
//! bound source address and report a [`preflight_model::probe::ProbeReport`].

use preflight_model::plan::ProbePlan;
use preflight_model::probe::ProbeReport;

/// Errors of a probe run that stop it as a whole (per-target failures are results, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Not implemented yet.
    #[error("probing is not implemented yet")]
    Unimplemented,
}

/// Runs every target of a plan and returns one result per target.
pub async fn run_plan(_plan: &ProbePlan) -> Result<ProbeReport, ProbeError> {
    Err(ProbeError::Unimplemented)
}
