//! Headers as the delivery history keeps them: a JSON object of names and
//! values, with every value that may be a secret replaced by
//! [`REDACTED`]. The one place that decides what counts as secret in a
//! header, for the headers a webhook came with and those each attempt sent.
//!
//! Must not decide what is stored or shown: callers pass what they have.

use http::{HeaderMap, HeaderName};

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

/// Headers every webhook and attempt carries that never hold a secret:
/// answered without searching the name.
const PLAIN: [&str; 12] = [
    "accept",
    "content-length",
    "content-type",
    "date",
    "host",
    "server",
    "transfer-encoding",
    "connection",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "x-forwarded-for",
];

/// Whether a header of this name usually carries a secret (`Authorization`,
/// `Cookie`, `X-Api-Key`, a token or signature header).
pub fn sensitive_name(name: &HeaderName) -> bool {
    let name = name.as_str();
    if PLAIN.contains(&name) {
        return false;
    }
    let bytes = name.as_bytes();
    SECRET_PARTS.iter().any(|part| {
        bytes
            .windows(part.len())
            .any(|window| window == part.as_bytes())
    })
}

/// `headers` as a JSON object text: one entry per name (an array when a
/// name repeats), values marked sensitive, under a [`sensitive_name`] or
/// named in `also` replaced by [`REDACTED`], values that are not text
/// shown lossily.
///
/// Written straight into one string (no JSON tree): it runs for every
/// webhook and every attempt.
pub fn headers_json(headers: &HeaderMap, also: Option<&HeaderName>) -> String {
    let mut out = String::with_capacity(64 * headers.keys_len() + 2);
    out.push('{');
    for (i, name) in headers.keys().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(&mut out, name.as_str());
        out.push(':');
        let secret = sensitive_name(name) || also == Some(name);
        let mut values = headers.get_all(name).iter().peekable();
        let first = values.next();
        let several = values.peek().is_some();
        if several {
            out.push('[');
        }
        for (j, value) in first.into_iter().chain(values).enumerate() {
            if j > 0 {
                out.push(',');
            }
            if secret || value.is_sensitive() {
                push_str(&mut out, REDACTED);
            } else if let Ok(text) = value.to_str() {
                push_str(&mut out, text);
            } else {
                push_str(&mut out, &String::from_utf8_lossy(value.as_bytes()));
            }
        }
        if several {
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// The bytes a JSON string may hold unescaped that are also visible ASCII:
/// one load a byte, where four comparisons were a measurable part of every
/// attempt's cost.
const PLAIN_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
};

/// Appends `s` as a JSON string: as it is when nothing in it needs an
/// escape (header values are visible ASCII, so nearly always).
fn push_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| PLAIN_BYTE[b as usize]) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else if let Ok(quoted) = serde_json::to_string(s) {
        // Serialising a `&str` cannot fail.
        out.push_str(&quoted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::Value;

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
        assert_eq!(headers_json(&HeaderMap::new(), None), "{}");
        let mut odd = HeaderMap::new();
        odd.insert("x-quote", HeaderValue::from_static("a \"b\" \\ c"));
        let parsed: Value = serde_json::from_str(&headers_json(&odd, None)).unwrap();
        assert_eq!(parsed["x-quote"], "a \"b\" \\ c");
    }
}
