//! One module per subcommand: flags in, library call, output out.

pub(crate) mod observe;
pub(crate) mod probe;
pub(crate) mod run;
