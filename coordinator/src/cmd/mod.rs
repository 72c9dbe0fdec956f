//! One module per subcommand: flags in, library call, output out.

pub(crate) mod check;
pub(crate) mod codes;
pub(crate) mod common;
pub(crate) mod demo;
pub(crate) mod listing;
pub(crate) mod maas;
pub(crate) mod report;
pub(crate) mod validate;
