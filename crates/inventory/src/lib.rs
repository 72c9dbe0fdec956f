//! Step 1 of the data line: read the machine's links, addresses and routes through netlink
//! into a [`preflight_model::observed::ObservedConfig`].

use preflight_model::observed::ObservedConfig;

/// Options of an observation.
#[derive(Debug, Clone, Default)]
pub struct ObserveOptions {
    /// MAAS system_id to record in the identity (`--machine-id`).
    pub system_id: Option<String>,
}

/// Errors of the inventory.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Not implemented yet.
    #[error("netlink inventory is not implemented yet")]
    Unimplemented,
}

/// Reads links, addresses and routes of the current network namespace.
pub async fn observe(_opts: &ObserveOptions) -> Result<ObservedConfig, InventoryError> {
    Err(InventoryError::Unimplemented)
}
