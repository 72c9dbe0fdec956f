//! Step 2 of the data line: MAAS's intent as a [`preflight_model::provider::ProviderModel`],
//! read from the MAAS REST API or from a snapshot file, through one code path.

use std::path::PathBuf;

use preflight_model::provider::ProviderModel;

/// Where provider data comes from.
#[derive(Debug, Clone)]
pub enum ProviderSource {
    /// A snapshot file written by `preflight maas snapshot`.
    File(PathBuf),
    /// A live MAAS.
    Live {
        /// MAAS URL, e.g. `http://maas:5240/MAAS`.
        url: String,
        /// API key `consumer:token:secret` (never logged).
        api_key: String,
    },
}

/// Errors reading provider data.
#[derive(Debug, thiserror::Error)]
pub enum MaasError {
    /// Not implemented yet.
    #[error("the MAAS provider is not implemented yet")]
    Unimplemented,
}

/// Loads the provider model from a file or a live MAAS.
pub async fn load_provider(_source: &ProviderSource) -> Result<ProviderModel, MaasError> {
    Err(MaasError::Unimplemented)
}
