//! A read-only MAAS REST API 2.0 client: signs every request with OAuth 1.0 PLAINTEXT (fresh
//! nonce and timestamp per attempt), retries 409/503/504, timeouts and dropped connections with
//! bounded backoff (honouring `Retry-After`, capped), and assembles the snapshot.
//!
//! It never shows the API key, and never reads the body of a 401 (MAAS echoes the expected
//! signature, i.e. the secret, in it).

use std::time::Duration;

use reqwest::StatusCode;

/// Largest answer read from one MAAS endpoint (a `machines/` listing of a few thousand machines
/// is tens of MiB).
pub const MAX_BODY_BYTES: usize = 256 << 20;
use serde_json::Value;

use crate::oauth::ApiKey;
use crate::MaasError;

/// How often and how long to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled after each attempt.
    pub base_delay: Duration,
    /// Longest wait between attempts (caps `Retry-After` too).
    pub max_delay: Duration,
    /// Time limit of one attempt (connect + whole response).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(15),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// The endpoints a snapshot holds, in the order they are read (`vlans` is per fabric).
pub const SNAPSHOT_ENDPOINTS: [&str; 8] = [
    "version",
    "spaces",
    "fabrics",
    "subnets",
    "machines",
    "zones",
    "tags",
    "resourcepools",
];

/// A MAAS API client.
#[derive(Debug, Clone)]
pub struct MaasClient {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
    retry: RetryPolicy,
}

/// Why one attempt failed and whether to try again.
enum Attempt {
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Fail(MaasError),
}

impl MaasClient {
    /// A client for the MAAS at `url` (e.g. `http://maas:5240/MAAS`) with the API key
    /// `consumer:token:secret`.
    pub fn new(url: &str, api_key: &str) -> Result<Self, MaasError> {
        Self::with_retry(url, api_key, RetryPolicy::default())
    }

    /// Like [`MaasClient::new`], with a retry policy.
    pub fn with_retry(url: &str, api_key: &str, retry: RetryPolicy) -> Result<Self, MaasError> {
        let key = ApiKey::parse(api_key)?;
        let parsed = reqwest::Url::parse(url).map_err(|e| MaasError::BadUrl {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(MaasError::BadUrl {
                url: url.to_string(),
                message: "expected http:// or https:// and a host, e.g. http://maas:5240/MAAS"
                    .to_string(),
            });
        }
        let mut base = url.trim_end_matches('/').to_string();
        if base.ends_with("/api/2.0") {
            base.truncate(base.len() - "/api/2.0".len());
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(retry.request_timeout)
            .connect_timeout(retry.request_timeout.min(Duration::from_secs(15)))
            .user_agent(concat!("preflight/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MaasError::Transport {
                url: base.clone(),
                message: e.to_string(),
            })?;
        Ok(MaasClient {
            http,
            base,
            key,
            retry,
        })
    }

    /// The MAAS URL (without a trailing slash).
    pub fn url(&self) -> &str {
        &self.base
    }

    /// GETs `endpoint` (relative to `/api/2.0/`, e.g. `machines/`) and parses its JSON.
    pub async fn get(&self, endpoint: &str) -> Result<Value, MaasError> {
        let bytes = self.get_bytes(endpoint).await?;
        serde_json::from_slice(&bytes).map_err(|e| MaasError::Json {
            origin: format!("{}/api/2.0/{endpoint}", self.base),
            message: e.to_string(),
        })
    }

    /// GETs `endpoint` and returns the body as sent, after checking it is one JSON value.
    pub async fn get_bytes(&self, endpoint: &str) -> Result<Vec<u8>, MaasError> {
        let url = format!("{}/api/2.0/{}", self.base, endpoint);
        let mut last = String::new();
        for attempt in 1..=self.retry.max_attempts.max(1) {
            match self.attempt(&url, endpoint).await {
                Ok(v) => return Ok(v),
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry { reason, after }) => {
                    tracing::debug!(endpoint, attempt, %reason, "retrying MAAS request");
                    last = reason;
                    if attempt < self.retry.max_attempts {
                        let backoff = self
                            .retry
                            .base_delay
                            .saturating_mul(1u32 << (attempt - 1).min(16));
                        let wait = after.unwrap_or(backoff).min(self.retry.max_delay);
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        Err(MaasError::RetriesExhausted {
            url: self.base.clone(),
            endpoint: endpoint.to_string(),
            attempts: self.retry.max_attempts.max(1),
            last,
        })
    }

    async fn attempt(&self, url: &str, endpoint: &str) -> Result<Vec<u8>, Attempt> {
        let resp = self
            .http
            .get(url)
            .header(reqwest::header::AUTHORIZATION, self.key.authorization())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.classify(e, endpoint))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED {
            // Do not read the body: it may hold the expected signature.
            return Err(Attempt::Fail(MaasError::Unauthorized {
                url: self.base.clone(),
            }));
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match status {
            StatusCode::CONFLICT
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => {
                return Err(Attempt::Retry {
                    reason: format!("HTTP {status}"),
                    after: retry_after,
                })
            }
            StatusCode::FORBIDDEN => {
                return Err(Attempt::Fail(MaasError::Forbidden {
                    url: self.base.clone(),
                    endpoint: endpoint.to_string(),
                }))
            }
            StatusCode::NOT_FOUND => {
                return Err(Attempt::Fail(MaasError::NotFound {
                    url: self.base.clone(),
                    endpoint: endpoint.to_string(),
                }))
            }
            s if s.is_redirection() => {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .map(|v| preflight_model::limits::printable(&v, 200))
                    .unwrap_or_else(|| "nowhere".into());
                return Err(Attempt::Fail(MaasError::Redirect {
                    url: self.base.clone(),
                    endpoint: endpoint.to_string(),
                    location,
                }));
            }
            s if !s.is_success() => {
                return Err(Attempt::Fail(MaasError::Status {
                    url: self.base.clone(),
                    endpoint: endpoint.to_string(),
                    status: s.as_u16(),
                }))
            }
            _ => {}
        }
        let too_large = || {
            Attempt::Fail(MaasError::TooLarge {
                url: self.base.clone(),
                endpoint: endpoint.to_string(),
                max: MAX_BODY_BYTES,
            })
        };
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut resp = resp;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(e, endpoint))? {
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        // Check the encoding and syntax here, so a bad body is blamed on its endpoint; the
        // shape is checked by the parser, which names the field.
        if let Err(e) = std::str::from_utf8(&bytes) {
            return Err(Attempt::Fail(MaasError::Json {
                origin: format!("{}/api/2.0/{endpoint}", self.base),
                message: format!("not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
            }));
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| {
            Attempt::Fail(MaasError::Json {
                origin: format!("{}/api/2.0/{endpoint}", self.base),
                message: e.to_string(),
            })
        })?;
        Ok(bytes)
    }

    fn classify(&self, e: reqwest::Error, endpoint: &str) -> Attempt {
        let chain = error_chain(&e);
        let lower = chain.to_ascii_lowercase();
        if e.is_connect() {
            if lower.contains("certificate")
                || lower.contains("tls")
                || lower.contains("handshake")
                || lower.contains("corrupt message")
                || lower.contains("invalidcontenttype")
            {
                return Attempt::Fail(MaasError::Tls {
                    url: self.base.clone(),
                    message: chain,
                });
            }
            if lower.contains("connection refused") {
                return Attempt::Fail(MaasError::ConnectionRefused {
                    url: self.base.clone(),
                });
            }
            if lower.contains("dns error") || lower.contains("failed to lookup") {
                return Attempt::Fail(MaasError::Transport {
                    url: self.base.clone(),
                    message: chain,
                });
            }
        }
        let what = if e.is_timeout() {
            format!(
                "no answer from {endpoint} within {:?}",
                self.retry.request_timeout
            )
        } else {
            format!("{endpoint}: {chain}")
        };
        Attempt::Retry {
            reason: what,
            after: None,
        }
    }

    /// Reads every endpoint a snapshot holds and assembles them, verbatim, into one JSON
    /// object (see [`crate::snapshot`]).
    pub async fn snapshot(&self) -> Result<Value, MaasError> {
        let bytes = self.snapshot_bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| MaasError::Json {
            origin: self.base.clone(),
            message: e.to_string(),
        })
    }

    /// Like [`MaasClient::snapshot`], as the bytes of the snapshot file: each endpoint's body
    /// exactly as MAAS sent it, under its key. Never builds a JSON tree of the machines, so a
    /// large MAAS costs little more memory than its responses.
    pub async fn snapshot_bytes(&self) -> Result<Vec<u8>, MaasError> {
        let mut out = Vec::new();
        out.push(b'{');
        let mut fabrics = Vec::new();
        for (i, ep) in SNAPSHOT_ENDPOINTS.iter().enumerate() {
            let body = self.get_bytes(&format!("{ep}/")).await?;
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(format!("\"{ep}\":").as_bytes());
            out.extend_from_slice(&body);
            if *ep == "fabrics" {
                fabrics = self.fabric_ids(&body)?;
            }
        }
        // IP ranges: read when MAAS lists them; a MAAS (or stand-in) without the endpoint
        // gives a snapshot without them, and the check then has no range to compare with.
        match self.get_bytes("ipranges/").await {
            Ok(body) => {
                out.extend_from_slice(b",\"ipranges\":");
                out.extend_from_slice(&body);
            }
            Err(MaasError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        out.extend_from_slice(b",\"vlans\":{");
        for (i, id) in fabrics.iter().enumerate() {
            let body = self.get_bytes(&format!("fabrics/{id}/vlans/")).await?;
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(format!("\"{id}\":").as_bytes());
            out.extend_from_slice(&body);
        }
        out.extend_from_slice(b"}}");
        Ok(out)
    }

    /// The fabric ids in a `fabrics/` body, with a field path on a wrong shape.
    fn fabric_ids(&self, body: &[u8]) -> Result<Vec<i64>, MaasError> {
        #[derive(serde::Deserialize)]
        struct FabricId {
            id: i64,
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        let list: Vec<FabricId> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." {
                "fabrics".to_string()
            } else {
                format!("fabrics{path}")
            };
            MaasError::shape(&self.base, path, e.into_inner().to_string())
        })?;
        Ok(list.into_iter().map(|f| f.id).collect())
    }
}

/// The error and its sources, joined with `: `.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}
