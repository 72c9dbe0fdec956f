//! The coordinator's steps, one crate each, in the order of the data line.

pub use preflight_bundle as bundle;
pub use preflight_check as check;
pub use preflight_lab as lab;
pub use preflight_maas as maas;
pub use preflight_model as model;
pub use preflight_report as report;
pub use preflight_validate as validate;
