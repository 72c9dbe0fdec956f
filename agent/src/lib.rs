//! The agent's side of the connectivity check: talk to the coordinator (register, send the
//! observed config, fetch the plan, send results) and the agent's session ([`session`]: register, poll,
//! probe, upload). Observing and probing live in
//! `preflight-inventory` and `preflight-probe`.

pub mod client;
pub mod session;
