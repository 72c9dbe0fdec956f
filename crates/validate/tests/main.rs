//! The one integration-test binary of this crate (one link instead of one per file, as
//! ripgrep does). Every file in this folder is a module here: `./test.sh` fails when a
//! `.rs` file in it is not reachable from this binary, since such a file would never run.

// Tests may unwrap: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/fixtures/paths.rs"]
mod fixture_paths;

mod common;

mod codes;
mod own_fixtures;
mod real_fixture;
