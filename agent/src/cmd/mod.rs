//! One module per subcommand: flags in, library call, output out.

pub mod observe;
pub mod probe;
pub mod run;
