//! The agent's side of the connectivity check: talk to the coordinator (register, send the
//! observed config, fetch the plan, send results), the agent's session ([`session`]: register,
//! poll, probe, upload) and the guard rails it holds every plan to ([`guard`]). Observing and
//! probing live in `preflight-inventory` and `preflight-probe`.

pub mod client;
pub mod guard;
pub mod session;
