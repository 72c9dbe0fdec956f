//! preflight's wire model: the typed data that flows between the steps of the data line.
//!
//! agent observes ([`observed`]) → coordinator merges with the provider ([`provider`]) →
//! validates and plans ([`plan`]) → agents probe ([`probe`]) → coordinator reports ([`report`]).
//! The agent ↔ coordinator HTTP bodies are in [`api`].
//!
//! Every document that crosses a process boundary carries a `schema` string naming its
//! version, so readers can refuse what they do not understand.

pub mod api;
pub mod code;
pub mod judge;
pub mod limits;
pub mod observed;
pub mod plan;
pub mod probe;
pub mod provider;
pub mod report;
pub mod vocab;

/// Error returned when a document's `schema` field is not the one expected.
#[derive(Debug, thiserror::Error)]
#[error("unsupported schema {found:?}: expected {expected:?}")]
pub struct SchemaError {
    /// The schema string the reader understands.
    pub expected: &'static str,
    /// The schema string found in the document.
    pub found: String,
}

/// Checks that a document's schema string is the expected one.
pub fn check_schema(expected: &'static str, found: &str) -> Result<(), SchemaError> {
    if found == expected {
        Ok(())
    } else {
        Err(SchemaError {
            expected,
            found: found.to_string(),
        })
    }
}
