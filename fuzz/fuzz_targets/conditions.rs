//! Payload bytes → JSON → every route of `rules.yaml` (every condition kind
//! and operator) evaluated on both sources, with `explain` held to `eval`'s
//! answer, and every transform rendered. Headers come from the payload's
//! `headers` member, so header conditions see generated values too.
#![no_main]

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard_fuzz::{RUNTIME, route_everything};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    if let Some(Value::Object(map)) = doc.get("headers") {
        for (name, value) in map {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                headers.append(name, value);
            }
        }
    }
    let raw = Bytes::copy_from_slice(data);
    for source in ["s", "t"] {
        route_everything(&RUNTIME, source, &headers, &raw, &doc);
    }
});
