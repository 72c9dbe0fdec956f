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
pub mod juju;
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

/// An error and its causes as one line for a person (`a: b: c`), leaving out a cause whose
/// text the line already holds: many errors print their source in their own message too, and
/// the binaries' `error:` line would otherwise say it twice.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod error_text_tests {
    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("loading the bundle")]
    struct Wrap {
        #[source]
        inner: Outer,
    }

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(
            super::error_text(&Outer { source: io() }),
            "cannot read x: no such file"
        );
        assert_eq!(
            super::error_text(&Wrap {
                inner: Outer { source: io() }
            }),
            "loading the bundle: cannot read x: no such file"
        );
    }
}
