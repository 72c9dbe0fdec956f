//! The agent's side of the connectivity check: talk to the coordinator (register, send the
//! observed config, fetch the plan, send results) and hold a plan to the agent's own guard
//! rails ([`guard`]). Observing and probing live in
//! `preflight-inventory` and `preflight-probe`.

pub mod client;
pub mod guard;
