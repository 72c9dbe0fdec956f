//! The agent crate's one integration-test binary: each file under tests/ is a module here.

// Tests may unwrap: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod session;
