//! Step 2 of the data line: MAAS's intent as a [`preflight_model::provider::ProviderModel`],
//! read from the MAAS REST API or from a snapshot file, through one code path.
//!
//! - [`snapshot`]: the snapshot format and the one parser ([`model_from_snapshot`]).
//! - [`client`]: the MAAS REST API client (OAuth 1.0 PLAINTEXT, retries) that reads a snapshot.
//! - [`server`]: a MAAS API stand-in serving a snapshot, for tests and demos.
//! - [`oauth`]: the OAuth header, as MAAS clients build it and as piston parses it.
//! - [`listing`]: the rows of `preflight spaces` / `preflight subnets`.

use std::path::PathBuf;

use preflight_model::provider::ProviderModel;

pub mod client;
pub mod listing;
pub mod oauth;
pub mod server;
pub mod snapshot;

pub use client::{MaasClient, RetryPolicy};

pub use snapshot::{
    model_from_path, model_from_slice, model_from_snapshot, model_from_snapshot_in,
    read_snapshot_file, snapshot_from_fixture_dir,
};

/// Where provider data comes from. Its `Debug` never shows the API key.
#[derive(Clone)]
pub enum ProviderSource {
    /// A snapshot file written by `preflight maas snapshot` (or a fixture-style directory).
    File(PathBuf),
    /// A live MAAS.
    Live {
        /// MAAS URL, e.g. `http://maas:5240/MAAS`.
        url: String,
        /// API key `consumer:token:secret` (never logged).
        api_key: String,
    },
}

impl std::fmt::Debug for ProviderSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderSource::File(p) => f.debug_tuple("File").field(p).finish(),
            ProviderSource::Live { url, .. } => f
                .debug_struct("Live")
                .field("url", url)
                .field("api_key", &"<redacted>")
                .finish(),
        }
    }
}

/// Errors reading provider data. None of them ever carries the API key or a 401 body.
#[derive(Debug, thiserror::Error)]
pub enum MaasError {
    /// A file could not be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The OS error (shown in the message, so not chained as a source).
        error: std::io::Error,
    },
    /// The text is not JSON (or is truncated).
    #[error("{origin}: not valid JSON: {message}")]
    Json {
        /// File name or endpoint.
        origin: String,
        /// What the JSON parser said (with line and column).
        message: String,
    },
    /// The JSON is valid but not shaped as MAAS's responses are.
    #[error("{origin}: {path}: {message}")]
    Shape {
        /// File name or MAAS URL.
        origin: String,
        /// JSON path, starting with the endpoint, e.g. `machines[3].interface_set[1].vlan.id`.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// The API key is not `consumer:token:secret` (the key itself is never shown).
    #[error("the MAAS API key must have the form consumer:token:secret (3 parts separated by ':'), found {parts} part(s)")]
    BadApiKey {
        /// Number of `:`-separated parts found.
        parts: usize,
    },
    /// The MAAS URL is not usable.
    #[error("bad MAAS URL {url:?}: {message}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Nothing listens at the MAAS URL.
    #[error(
        "cannot connect to MAAS at {url}: connection refused (is the URL right and MAAS running?)"
    )]
    ConnectionRefused {
        /// MAAS URL.
        url: String,
    },
    /// The TLS handshake failed.
    #[error("TLS failure talking to MAAS at {url}: {message}")]
    Tls {
        /// MAAS URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// MAAS answered 401: the key is wrong or revoked. (The body is never shown: it echoes the secret.)
    #[error("MAAS at {url} rejected the API key (401 Unauthorized): the key is wrong or has been revoked (or this clock is over 5 minutes behind MAAS's); generate one with `maas apikey --generate --username USER` or in the MAAS UI under your user's API keys")]
    Unauthorized {
        /// MAAS URL.
        url: String,
    },
    /// MAAS answered 403.
    #[error("MAAS at {url} refused {endpoint} (403 Forbidden): the key's user is not allowed to use the API (inactive user?)")]
    Forbidden {
        /// MAAS URL.
        url: String,
        /// Endpoint, e.g. `machines/`.
        endpoint: String,
    },
    /// MAAS answered 404.
    #[error("MAAS at {url} has no {endpoint} (404 Not Found): is the URL the MAAS root, like http://maas:5240/MAAS?")]
    NotFound {
        /// MAAS URL.
        url: String,
        /// Endpoint, e.g. `machines/`.
        endpoint: String,
    },
    /// MAAS answered another error status.
    #[error("MAAS at {url} answered HTTP {status} for {endpoint}")]
    Status {
        /// MAAS URL.
        url: String,
        /// Endpoint.
        endpoint: String,
        /// HTTP status.
        status: u16,
    },
    /// MAAS answered with a redirect, which preflight does not follow (a snapshot could
    /// otherwise come from another server).
    #[error("MAAS at {url} redirected {endpoint} to {location}: preflight does not follow redirects; give the URL MAAS itself serves")]
    Redirect {
        /// MAAS URL.
        url: String,
        /// Endpoint.
        endpoint: String,
        /// Where it pointed (control characters replaced).
        location: String,
    },
    /// An answer was larger than [`client::MAX_BODY_BYTES`].
    #[error("MAAS at {url} sent more than {max} bytes for {endpoint}; refusing it")]
    TooLarge {
        /// MAAS URL.
        url: String,
        /// Endpoint.
        endpoint: String,
        /// The limit.
        max: usize,
    },
    /// Retryable failures went on past the last attempt.
    #[error("MAAS at {url} kept failing on {endpoint} after {attempts} attempts (last: {last})")]
    RetriesExhausted {
        /// MAAS URL.
        url: String,
        /// Endpoint.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Another transport failure (DNS, client setup).
    #[error("cannot talk to MAAS at {url}: {message}")]
    Transport {
        /// MAAS URL.
        url: String,
        /// What failed.
        message: String,
    },
}

impl MaasError {
    /// A shape error at a JSON path.
    pub(crate) fn shape(origin: &str, path: String, message: String) -> Self {
        MaasError::Shape {
            origin: origin.to_string(),
            path,
            message,
        }
    }
}

/// Reads a live MAAS into a snapshot value (the responses verbatim, keyed by endpoint).
pub async fn fetch_snapshot(url: &str, api_key: &str) -> Result<serde_json::Value, MaasError> {
    MaasClient::new(url, api_key)?.snapshot().await
}

/// Loads the provider model from a file or a live MAAS.
pub async fn load_provider(source: &ProviderSource) -> Result<ProviderModel, MaasError> {
    match source {
        ProviderSource::File(path) => {
            let path = path.clone();
            match tokio::task::spawn_blocking(move || snapshot::model_from_path(&path)).await {
                Ok(result) => result,
                Err(e) => Err(MaasError::Io {
                    path: "snapshot".to_string(),
                    error: std::io::Error::other(e.to_string()),
                }),
            }
        }
        ProviderSource::Live { url, api_key } => {
            let client = MaasClient::new(url, api_key)?;
            let bytes = client.snapshot_bytes().await?;
            // The same parser as a snapshot file, on the same bytes such a file would hold.
            model_from_slice(&bytes, client.url())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_source_debug_hides_the_key() {
        let s = ProviderSource::Live {
            url: "http://maas:5240/MAAS".to_string(),
            api_key: "ck:tk:topsecretvalue".to_string(),
        };
        let d = format!("{s:?}");
        assert!(
            d.contains("http://maas:5240/MAAS") && !d.contains("topsecretvalue"),
            "{d}"
        );
    }
}
