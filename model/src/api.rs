//! Bodies of the coordinator's HTTP API, which agents call (`/v1/...`).

use serde::{Deserialize, Serialize};

use crate::observed::ObservedConfig;
use crate::plan::ProbePlan;

/// `POST /v1/register`: an agent announces itself with what it observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The agent's observed configuration (carries hostname and system_id).
    pub observed: ObservedConfig,
    /// The secret this agent will prove itself with ([`AGENT_KEY_HEADER`]); 32 to 128
    /// characters of `[A-Za-z0-9_-]`. Without one the coordinator makes one. Re-registering
    /// a machine that is already registered needs the same key, so a registration retried
    /// after a lost answer is idempotent while another token holder cannot take it over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_key: Option<String>,
}

/// Header carrying the per-agent key on plan and results requests.
pub const AGENT_KEY_HEADER: &str = "x-preflight-agent-key";

/// Checks the shape of an agent key: 32 to 128 characters of `[A-Za-z0-9_-]`.
pub fn valid_agent_key(key: &str) -> bool {
    (32..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// Id the coordinator gave the agent (stable across re-registration of the same machine).
    pub agent_id: String,
    /// The key plan and results requests of this agent must carry in [`AGENT_KEY_HEADER`]
    /// (the one the agent sent, or one the coordinator made).
    #[serde(default)]
    pub agent_key: String,
}

/// `GET /v1/agents/{id}/plan`: the agent's plan, once every agent is in (or the deadline passed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PlanResponse {
    /// Not all agents are in yet: ask again after this many milliseconds.
    Waiting {
        /// Suggested wait before asking again.
        retry_after_ms: u64,
    },
    /// The plan to run.
    Ready {
        /// The plan.
        plan: ProbePlan,
    },
    /// The check is over; nothing to do.
    Done,
}

/// Answer to a results upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultsAck {
    /// How many target results were accepted.
    pub accepted: usize,
    /// Whether this upload repeated one already stored (idempotent re-send).
    pub duplicate: bool,
}

/// JSON body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
    /// The offending field path, when one is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
