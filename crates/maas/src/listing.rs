//! Rows of `preflight spaces` and `preflight subnets`.
