//! What a webhook's body is: a reachability probe, or a JSON document to
//! route. `serve` asks this after verification and `explain` asks it first,
//! through the same function, so the two cannot disagree on a body.
//!
//! Must not route, render, verify or read a request: bytes in, verdict out.

use serde_json::Value;

/// A body, classified.
#[derive(Debug)]
pub enum Payload {
    /// An empty body, `{}` or `null` (surrounded by any whitespace): a
    /// sender's reachability check, answered 200 and routed nowhere.
    Probe,
    /// Anything else, parsed strictly ([`crate::ingress::json::parse`]).
    Document(Value),
}

impl Payload {
    /// Classifies `raw`: the probe test, then the strict parse.
    pub fn read(raw: &[u8]) -> Result<Payload, serde_json::Error> {
        if is_probe(raw) {
            return Ok(Payload::Probe);
        }
        crate::ingress::json::parse(raw).map(Payload::Document)
    }
}

/// An empty body, `{}` or `null` (surrounded by any whitespace).
fn is_probe(raw: &[u8]) -> bool {
    let trimmed = raw.trim_ascii();
    trimmed.is_empty() || trimmed == b"null" || {
        trimmed.first() == Some(&b'{')
            && trimmed.last() == Some(&b'}')
            && trimmed[1..trimmed.len() - 1].trim_ascii().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_bodies() {
        for body in ["", "  ", "null", "{}", " { \n } ", "\n"] {
            assert!(is_probe(body.as_bytes()), "{body:?}");
        }
        for body in ["[]", "{\"a\":1}", "0", "nul"] {
            assert!(!is_probe(body.as_bytes()), "{body:?}");
        }
    }
}
