//! Client of the coordinator's HTTP API (see `preflight_model::api`).
