//! Client of the coordinator's HTTP API (see `preflight_model::api`).
//!
//! Every call retries transport errors, 408, 429 and 5xx answers with jittered exponential
//! backoff, but never longer in total than the client's give-up budget; other 4xx answers are
//! final and carry the coordinator's [`ErrorBody`]. The token is sent only in the
//! `Authorization` header and never appears in an error or log line.

use std::time::Duration;

use tokio::time::Instant;

use preflight_model::api::{
    ErrorBody, PlanResponse, RegisterRequest, RegisterResponse, ResultsAck,
};
use preflight_model::observed::ObservedConfig;
use preflight_model::probe::ProbeReport;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Errors talking to the coordinator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The coordinator never answered within the give-up budget.
    #[error("the coordinator at {url} did not answer within {secs} s (last error: {last})")]
    Unreachable {
        /// Coordinator URL.
        url: String,
        /// The budget in seconds.
        secs: u64,
        /// The last error seen.
        last: String,
    },
    /// The coordinator refused the request.
    #[error("the coordinator refused {what}: HTTP {status}: {error}{}", field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Refused {
        /// Which call.
        what: &'static str,
        /// HTTP status.
        status: u16,
        /// Its error message.
        error: String,
        /// The field it blamed.
        field: Option<String>,
    },
    /// The coordinator's answer could not be read.
    #[error("unreadable answer to {what}: {message}")]
    BadAnswer {
        /// Which call.
        what: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The URL or client setup is wrong.
    #[error("{0}")]
    Setup(String),
}

/// Client of one coordinator.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
    give_up_after: Duration,
}

enum Attempt<T> {
    Done(T),
    Retry(String),
}

impl Client {
    /// A client of the coordinator at `url` (e.g. `http://10.0.0.1:7700`).
    pub fn new(url: &str, token: String, give_up_after: Duration) -> Result<Client, ClientError> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Setup(format!(
                "coordinator URL {url:?} must start with http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Setup(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            base,
            token,
            http,
            give_up_after,
        })
    }

    async fn once<B: Serialize, T: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        body: Option<&B>,
    ) -> Result<Attempt<T>, ClientError> {
        let url = format!("{}{path}", self.base);
        let req = match body {
            Some(b) => self.http.post(&url).json(b),
            None => self.http.get(&url),
        }
        .bearer_auth(&self.token);
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Ok(Attempt::Retry(transport_error(&e))),
        };
        let status = resp.status();
        if status.is_success() {
            return resp
                .json::<T>()
                .await
                .map(Attempt::Done)
                .map_err(|e| ClientError::BadAnswer {
                    what,
                    message: e.to_string(),
                });
        }
        let code = status.as_u16();
        let text = resp.text().await.unwrap_or_default();
        if code == 408 || code == 429 || status.is_server_error() {
            return Ok(Attempt::Retry(format!("HTTP {code}")));
        }
        let eb: Option<ErrorBody> = serde_json::from_str(&text).ok();
        Err(ClientError::Refused {
            what,
            status: code,
            error: eb
                .as_ref()
                .map(|e| e.error.clone())
                .unwrap_or_else(|| text.chars().take(200).collect()),
            field: eb.and_then(|e| e.field),
        })
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            match self.once(what, path, body).await? {
                Attempt::Done(t) => return Ok(t),
                Attempt::Retry(last) => {
                    let left = self.give_up_after.saturating_sub(start.elapsed());
                    if left.is_zero() {
                        return Err(ClientError::Unreachable {
                            url: self.base.clone(),
                            secs: self.give_up_after.as_secs(),
                            last,
                        });
                    }
                    tracing::info!("{what}: {last}; retrying");
                    let jitter = rand::rng().random_range(0.5..1.5);
                    let wait = delay.mul_f64(jitter).min(left);
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Registers with the observed config; returns the agent id.
    pub async fn register(&self, observed: &ObservedConfig) -> Result<String, ClientError> {
        let req = RegisterRequest {
            observed: observed.clone(),
        };
        let r: RegisterResponse = self
            .call("registration", "/v1/register", Some(&req))
            .await?;
        Ok(r.agent_id)
    }

    /// Asks for the plan once.
    pub async fn plan(&self, agent_id: &str) -> Result<PlanResponse, ClientError> {
        self.call::<(), _>(
            "plan request",
            &format!("/v1/agents/{}/plan", enc(agent_id)),
            None,
        )
        .await
    }

    /// Sends the probe results (safe to repeat: the coordinator deduplicates).
    pub async fn results(
        &self,
        agent_id: &str,
        report: &ProbeReport,
    ) -> Result<ResultsAck, ClientError> {
        self.call(
            "results upload",
            &format!("/v1/agents/{}/results", enc(agent_id)),
            Some(report),
        )
        .await
    }
}

/// Percent-encodes an agent id for a path segment (ids are already URL-safe; this is belt and braces).
fn enc(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn transport_error(e: &reqwest::Error) -> String {
    // reqwest's Display includes the URL but never headers, so the token cannot leak here.
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
