//! The agent crate's one integration-test binary: each file under tests/ is a module here.

mod session;
