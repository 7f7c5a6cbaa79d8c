//! Headers as the delivery history keeps them: a JSON object of names and
//! values, with every value that may be a secret replaced by
//! [`REDACTED`]. The one place that decides what counts as secret in a
//! header, for the headers a webhook came with and those each attempt sent.
//!
//! Must not decide what is stored or shown: callers pass what they have.

use http::{HeaderMap, HeaderName};
use serde_json::{Map, Value};

/// What a secret value is stored as.
pub const REDACTED: &str = "[redacted]";

/// Name parts that usually carry a credential.
const SECRET_PARTS: [&str; 7] = [
    "auth",
    "token",
    "secret",
    "key",
    "password",
    "signature",
    "cookie",
];

/// Whether a header of this name usually carries a secret (`Authorization`,
/// `Cookie`, `X-Api-Key`, a token or signature header).
pub fn sensitive_name(name: &HeaderName) -> bool {
    let name = name.as_str();
    SECRET_PARTS.iter().any(|part| name.contains(part))
}

/// `headers` as a JSON object text: one entry per name (an array when a
/// name repeats), values marked sensitive, under a [`sensitive_name`] or
/// named in `also` replaced by [`REDACTED`], values that are not text
/// shown lossily.
pub fn headers_json(headers: &HeaderMap, also: Option<&HeaderName>) -> String {
    let mut map = Map::new();
    for name in headers.keys() {
        let secret = sensitive_name(name) || also == Some(name);
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                Value::String(if secret || v.is_sensitive() {
                    REDACTED.to_owned()
                } else {
                    String::from_utf8_lossy(v.as_bytes()).into_owned()
                })
            })
            .collect();
        let value = match <[Value; 1]>::try_from(values) {
            Ok([one]) => one,
            Err(many) => Value::Array(many),
        };
        map.insert(name.as_str().to_owned(), value);
    }
    Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn secrets_are_redacted_and_the_rest_kept() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
        headers.insert("x-api-key", HeaderValue::from_static("k"));
        headers.insert("x-sipgate", HeaderValue::from_static("plain"));
        let mut marked = HeaderValue::from_static("from-env");
        marked.set_sensitive(true);
        headers.insert("x-custom", marked);
        headers.append("via", HeaderValue::from_static("a"));
        headers.append("via", HeaderValue::from_static("b"));
        let json: Value = serde_json::from_str(&headers_json(
            &headers,
            Some(&HeaderName::from_static("x-sipgate")),
        ))
        .unwrap();
        assert_eq!(json["content-type"], "application/json");
        assert_eq!(json["authorization"], REDACTED);
        assert_eq!(json["x-api-key"], REDACTED);
        assert_eq!(json["x-sipgate"], REDACTED);
        assert_eq!(json["x-custom"], REDACTED);
        assert_eq!(json["via"], serde_json::json!(["a", "b"]));
        assert!(!headers_json(&headers, None).contains("s3cret"));
    }
}
