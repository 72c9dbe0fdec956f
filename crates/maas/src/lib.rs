//! Step 2 of the data line: MAAS's intent as a [`preflight_model::provider::ProviderModel`],
//! read from the MAAS REST API or from a snapshot file, through one code path.
//!
//! - [`snapshot`]: the snapshot format and the one parser ([`model_from_snapshot`]).

use std::path::PathBuf;

use preflight_model::provider::ProviderModel;

pub mod snapshot;

pub use snapshot::{
    model_from_path, model_from_slice, model_from_snapshot, model_from_snapshot_in,
    read_snapshot_file, snapshot_from_fixture_dir,
};

/// Where provider data comes from.
#[derive(Debug, Clone)]
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

/// Errors reading provider data. None of them ever carries the API key or a 401 body.
#[derive(Debug, thiserror::Error)]
pub enum MaasError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
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
    /// Not implemented yet.
    #[error("live MAAS access is not implemented yet")]
    Unimplemented,
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

/// Loads the provider model from a file or a live MAAS.
pub async fn load_provider(source: &ProviderSource) -> Result<ProviderModel, MaasError> {
    match source {
        ProviderSource::File(path) => {
            let path = path.clone();
            match tokio::task::spawn_blocking(move || snapshot::model_from_path(&path)).await {
                Ok(result) => result,
                Err(e) => Err(MaasError::Io {
                    path: "snapshot".to_string(),
                    source: std::io::Error::other(e.to_string()),
                }),
            }
        }
        ProviderSource::Live { .. } => Err(MaasError::Unimplemented),
    }
}
