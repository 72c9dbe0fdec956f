//! One module per subcommand: flags in, library call, output out.

pub mod check;
pub mod codes;
pub mod common;
pub mod demo;
pub mod listing;
pub mod maas;
pub mod report;
pub mod validate;
