//! Client of the coordinator's HTTP API (see `preflight_model::api`).
//!
//! Every call retries transport errors, 408, 429 and 5xx answers with jittered exponential
//! backoff, but never longer in total than the client's give-up budget; other 4xx answers are
//! final and carry the coordinator's [`ErrorBody`]. The token is sent only in the
//! `Authorization` header and never appears in an error or log line.
//!
//! Hardening: redirects are never followed (a 3xx is an error naming where it pointed);
//! answers larger than [`MAX_ANSWER_BYTES`] are cut off and refused; each request's timeout is
//! the smaller of [`REQUEST_TIMEOUT`] and what is left of the give-up budget; text from the
//! coordinator is stripped of control characters before it is shown. Over `https://` the
//! coordinator's certificate can be pinned by its SHA-256 fingerprint
//! ([`ClientOptions::fingerprint`]); the per-agent key the coordinator hands out at
//! registration goes with every plan and results request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use preflight_model::api::{
    ErrorBody, PlanResponse, RegisterRequest, RegisterResponse, ResultsAck, AGENT_KEY_HEADER,
};
use preflight_model::limits::{format_fingerprint, printable};
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

/// Largest answer the agent reads from the coordinator (a plan of 65,536 targets is ~20 MiB).
pub const MAX_ANSWER_BYTES: usize = 64 << 20;
/// Longest one request may take (less when the give-up budget has less left).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a TCP connect to the coordinator may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the client reaches the coordinator.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// SHA-256 of the coordinator's certificate (DER): over `https://`, only a certificate
    /// with this fingerprint is accepted (self-signed is fine); host names are not checked.
    pub fingerprint: Option<[u8; 32]>,
    /// The per-agent key to register with (an agent that restarts keeps its key this way);
    /// a random one when `None`.
    pub agent_key: Option<String>,
}

/// Client of one coordinator.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
    give_up_after: Duration,
    /// The per-agent key: made here, sent at registration, then replaced by the one the
    /// coordinator confirms.
    key: Arc<Mutex<String>>,
}

/// Accepts exactly one certificate, by SHA-256 fingerprint, still verifying the handshake
/// signature with it.
#[derive(Debug)]
struct Pinned {
    want: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let got = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if got.as_ref() == self.want {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the coordinator's certificate has fingerprint {}, not the pinned {}",
                format_fingerprint(got.as_ref()),
                format_fingerprint(&self.want)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn pinned_tls(want: [u8; 32]) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Setup(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { want, provider }))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

fn random_key() -> String {
    let b: [u8; 32] = rand::random();
    b.iter().map(|b| format!("{b:02x}")).collect()
}

enum Attempt<T> {
    Done(T),
    Retry(String),
}

impl Client {
    /// A client of the coordinator at `url` (e.g. `http://10.0.0.1:7700`), without pinning.
    pub fn new(url: &str, token: String, give_up_after: Duration) -> Result<Client, ClientError> {
        Client::with_options(url, token, give_up_after, &ClientOptions::default())
    }

    /// A client of the coordinator at `url` with `options` (a pinned fingerprint needs an
    /// `https://` URL).
    pub fn with_options(
        url: &str,
        token: String,
        give_up_after: Duration,
        options: &ClientOptions,
    ) -> Result<Client, ClientError> {
        let base = url.trim_end_matches('/').to_string();
        let https = base.starts_with("https://");
        if !(base.starts_with("http://") || https) {
            return Err(ClientError::Setup(format!(
                "coordinator URL {url:?} must start with http:// or https://"
            )));
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(fp) = options.fingerprint {
            if !https {
                return Err(ClientError::Setup(format!(
                    "a certificate fingerprint needs an https:// coordinator URL, not {url:?}"
                )));
            }
            b = b.use_preconfigured_tls(pinned_tls(fp)?);
        }
        let http = b
            .build()
            .map_err(|e| ClientError::Setup(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            base,
            token,
            http,
            give_up_after,
            key: Arc::new(Mutex::new(
                options.agent_key.clone().unwrap_or_else(random_key),
            )),
        })
    }

    /// The per-agent key this client proves itself with.
    fn key(&self) -> String {
        self.key.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn once<B: Serialize, T: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<Attempt<T>, ClientError> {
        let url = format!("{}{path}", self.base);
        let req = match body {
            Some(b) => self.http.post(&url).json(b),
            None => self.http.get(&url),
        }
        .bearer_auth(&self.token)
        .header(AGENT_KEY_HEADER, self.key())
        .timeout(timeout.max(Duration::from_millis(100)));
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Ok(Attempt::Retry(transport_error(&e))),
        };
        let status = resp.status();
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|v| printable(v, 200))
                .unwrap_or_else(|| "nowhere".into());
            return Err(ClientError::Refused {
                what,
                status: status.as_u16(),
                error: format!("redirect to {to}: preflight-agent does not follow redirects; give the coordinator's own URL"),
                field: None,
            });
        }
        let code = status.as_u16();
        let read = read_capped(resp, MAX_ANSWER_BYTES).await;
        if status.is_success() {
            let bytes = match read {
                Ok(b) => b,
                Err(Capped::TooLarge) => {
                    return Err(ClientError::BadAnswer {
                        what,
                        message: format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
                    })
                }
                Err(Capped::Transport(e)) => return Ok(Attempt::Retry(e)),
            };
            return serde_json::from_slice::<T>(&bytes)
                .map(Attempt::Done)
                .map_err(|e| ClientError::BadAnswer {
                    what,
                    message: printable(&e.to_string(), 300),
                });
        }
        if code == 408 || code == 429 || status.is_server_error() {
            return Ok(Attempt::Retry(format!("HTTP {code}")));
        }
        let text = read.unwrap_or_default();
        let eb: Option<ErrorBody> = serde_json::from_slice(&text).ok();
        Err(ClientError::Refused {
            what,
            status: code,
            error: printable(
                &eb.as_ref()
                    .map(|e| e.error.clone())
                    .unwrap_or_else(|| String::from_utf8_lossy(&text).into_owned()),
                300,
            ),
            field: eb.and_then(|e| e.field).map(|f| printable(&f, 100)),
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
            let left = self.give_up_after.saturating_sub(start.elapsed());
            match self
                .once(what, path, body, left.min(REQUEST_TIMEOUT))
                .await?
            {
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
            agent_key: Some(self.key()),
        };
        let r: RegisterResponse = self
            .call("registration", "/v1/register", Some(&req))
            .await?;
        if !r.agent_key.is_empty() {
            *self.key.lock().unwrap_or_else(|e| e.into_inner()) = r.agent_key;
        }
        let id_ok = (1..=64).contains(&r.agent_id.len())
            && r.agent_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !id_ok {
            return Err(ClientError::BadAnswer {
                what: "registration",
                message: format!(
                    "agent id {:?} is not 1 to 64 characters of A-Z, a-z, 0-9, '-', '_' and '.'",
                    printable(&r.agent_id, 80)
                ),
            });
        }
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

enum Capped {
    TooLarge,
    Transport(String),
}

/// Reads a body, refusing one that declares or grows past `max` bytes.
async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, Capped> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(Capped::TooLarge);
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > max {
                    return Err(Capped::TooLarge);
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(Capped::Transport(transport_error(&e))),
        }
    }
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
