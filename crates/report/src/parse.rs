//! Reading saved documents back: schema check first, then a typed parse whose errors name the
//! JSON path of the offending field.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::ReportError;

/// Largest document accepted, in bytes (a 200-agent, 5-space full-mesh report is ~60 MB).
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024 * 1024;

/// Just the schema field; everything else is skipped without being built.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    schema: Option<serde_json::Value>,
}

/// Parses a JSON document of the given schema into `T`.
pub(crate) fn parse_document<T: DeserializeOwned>(
    text: &str,
    expected_schema: &'static str,
) -> Result<T, ReportError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(ReportError::TooLarge {
            bytes: text.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    if text.trim().is_empty() {
        return Err(ReportError::Empty);
    }
    // Pass 1: is this the document we expect at all? Telling "this is a probe result, not a
    // report" is far more useful than the first missing field of the wrong shape.
    let head: Head = decode(text)?;
    match head.schema {
        None => {
            return Err(ReportError::Invalid {
                path: "schema".to_string(),
                message: format!("missing field `schema` (expected \"{expected_schema}\")"),
                line: 0,
                column: 0,
            })
        }
        Some(serde_json::Value::String(s)) => {
            preflight_model::check_schema(expected_schema, &s).map_err(ReportError::Schema)?;
        }
        Some(other) => {
            return Err(ReportError::Invalid {
                path: "schema".to_string(),
                message: format!("expected the string \"{expected_schema}\", found {other}"),
                line: 0,
                column: 0,
            })
        }
    }
    // Pass 2: the typed parse.
    decode(text)
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ReportError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ReportError::Invalid {
            path,
            message: strip_position(&inner.to_string()),
            line: inner.line(),
            column: inner.column(),
        }
    })?;
    de.end().map_err(|e| ReportError::Invalid {
        path: ".".to_string(),
        message: strip_position(&e.to_string()),
        line: e.line(),
        column: e.column(),
    })?;
    Ok(value)
}

/// serde_json appends " at line L column C"; the error prints the position itself.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
