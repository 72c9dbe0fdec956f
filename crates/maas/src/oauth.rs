//! OAuth 1.0 PLAINTEXT, the way MAAS uses it: the API key is `consumer:token:secret`, the
//! consumer secret is empty, and the signature is `&` + token secret.
//!
//! [`ApiKey::authorization`] builds the header as MAAS's own clients do (python-libmaas via
//! oauthlib, juju's gomaasapi); [`parse_header`] splits one the way piston's OAuth server does,
//! for the test server.

use std::collections::HashMap;
use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rand::Rng;

use crate::MaasError;

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const OAUTH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The six parameters piston requires in the header.
pub const REQUIRED_PARAMS: [&str; 6] = [
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
];

/// A MAAS API key. Its `Debug` and `Display` never show the secret parts.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Consumer key.
    pub consumer_key: String,
    /// Token key.
    pub token_key: String,
    /// Token secret.
    pub token_secret: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    /// Parses `consumer:token:secret` (surrounding whitespace ignored). The error never
    /// repeats the key.
    pub fn parse(key: &str) -> Result<Self, MaasError> {
        let parts: Vec<&str> = key.trim().split(':').collect();
        match parts.as_slice() {
            [c, t, s] if !c.is_empty() && !t.is_empty() && !s.is_empty() => Ok(ApiKey {
                consumer_key: c.to_string(),
                token_key: t.to_string(),
                token_secret: s.to_string(),
            }),
            _ => Err(MaasError::BadApiKey { parts: parts.len() }),
        }
    }

    /// A fresh `Authorization` header value: new nonce, current timestamp.
    pub fn authorization(&self) -> String {
        let nonce: u128 = rand::rng().random();
        let timestamp = chrono::Utc::now().timestamp();
        self.authorization_with(&format!("{nonce:032x}"), timestamp)
    }

    /// The `Authorization` header value for a given nonce and timestamp.
    pub fn authorization_with(&self, nonce: &str, timestamp: i64) -> String {
        let enc = |s: &str| utf8_percent_encode(s, OAUTH_ENCODE).to_string();
        format!(
            "OAuth realm=\"\", oauth_nonce=\"{}\", oauth_timestamp=\"{}\", oauth_version=\"1.0\", \
             oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", \
             oauth_signature=\"{}\"",
            enc(nonce),
            timestamp,
            enc(&self.consumer_key),
            enc(&self.token_key),
            enc(&format!("&{}", self.token_secret)),
        )
    }
}

/// Splits an `Authorization` header the way piston does. `None` when it does not start with
/// `OAuth ` or lacks one of the six required parameters (the request is then anonymous).
pub fn parse_header(header: &str) -> Option<HashMap<String, String>> {
    let rest = header.strip_prefix("OAuth ")?;
    if !REQUIRED_PARAMS.iter().all(|p| header.contains(p)) {
        return None;
    }
    let mut out = HashMap::new();
    for part in rest.split(',') {
        if part.contains("realm") {
            continue;
        }
        let part = part.trim();
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v = v.trim_matches('"');
        let v = percent_decode_str(v).decode_utf8_lossy().to_string();
        out.insert(k.trim().to_string(), v);
    }
    if REQUIRED_PARAMS.iter().all(|p| out.contains_key(*p)) {
        Some(out)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "PfLtEsTcOnSuMeR001:PfLtEsTtOkEnKeY002:s3cr3tT0k3nS3cr3tF0rPr3fl1ght000";

    #[test]
    fn header_round_trips_through_the_server_parser() {
        let key = ApiKey::parse(KEY).unwrap();
        let h = key.authorization_with("abc123", 1_700_000_000);
        let p = parse_header(&h).unwrap();
        assert_eq!(p["oauth_consumer_key"], "PfLtEsTcOnSuMeR001");
        assert_eq!(p["oauth_token"], "PfLtEsTtOkEnKeY002");
        assert_eq!(p["oauth_signature"], "&s3cr3tT0k3nS3cr3tF0rPr3fl1ght000");
        assert_eq!(p["oauth_signature_method"], "PLAINTEXT");
        assert_eq!(p["oauth_version"], "1.0");
        assert_eq!(p["oauth_timestamp"], "1700000000");
        assert_eq!(p["oauth_nonce"], "abc123");
        assert!(h.contains("oauth_signature=\"%26s3cr3tT0k3nS3cr3tF0rPr3fl1ght000\""));
    }

    #[test]
    fn fresh_nonce_each_time() {
        let key = ApiKey::parse(KEY).unwrap();
        let a = parse_header(&key.authorization()).unwrap();
        let b = parse_header(&key.authorization()).unwrap();
        assert_ne!(a["oauth_nonce"], b["oauth_nonce"]);
    }

    #[test]
    fn parses_the_three_client_styles_of_the_fixtures() {
        let auth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/maas/auth.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let headers = auth["example_headers"].as_object().unwrap();
        assert_eq!(headers.len(), 3);
        for (style, h) in headers {
            let p = parse_header(h.as_str().unwrap()).unwrap_or_else(|| panic!("{style}"));
            assert_eq!(
                p["oauth_signature"],
                auth["expected_signature_decoded"].as_str().unwrap(),
                "{style}"
            );
            assert_eq!(p["oauth_consumer_key"], "PfLtEsTcOnSuMeR001", "{style}");
            assert!(!p.contains_key("realm"), "{style}");
        }
    }

    #[test]
    fn missing_parameter_or_wrong_scheme_is_anonymous() {
        let key = ApiKey::parse(KEY).unwrap();
        let h = key.authorization_with("n", 1);
        for p in REQUIRED_PARAMS {
            let without: Vec<&str> = h.split(", ").filter(|part| !part.contains(p)).collect();
            assert!(parse_header(&without.join(", ")).is_none(), "{p}");
        }
        assert!(parse_header(&h.replacen("OAuth ", "Bearer ", 1)).is_none());
    }

    #[test]
    fn bad_keys_are_rejected_without_echoing_them() {
        for bad in ["", "a:b", "a:b:c:d", "a::c", "secretvalue"] {
            let err = ApiKey::parse(bad).unwrap_err().to_string();
            assert!(err.contains("consumer:token:secret"), "{err}");
            if !bad.is_empty() {
                assert!(!err.contains(bad), "{err}");
            }
        }
        let key = ApiKey::parse(&format!("  {KEY}\n")).unwrap();
        assert_eq!(key.token_secret, "s3cr3tT0k3nS3cr3tF0rPr3fl1ght000");
        assert!(!format!("{key:?}").contains("s3cr"));
    }
}
