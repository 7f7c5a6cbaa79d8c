//! Spans as an OTLP `ExportTraceServiceRequest` in protobuf, what an OTLP
//! collector takes on `POST /v1/traces` (`application/x-protobuf`).
//!
//! Written by hand, the few messages and fields a span of ours uses
//! (`opentelemetry/proto/trace/v1/trace.proto`, `common/v1/common.proto`),
//! rather than through the opentelemetry SDK and prost: see `trace/mod.rs`.
//! The test suite's collector decodes it with the official generated types.
//! Encoding only: must not send.

use super::span::{Span, Value};

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH: u8 = 2;

/// The request carrying `spans` from `service` (its `service.name`).
pub fn encode(service: &str, spans: &[Span]) -> Vec<u8> {
    let mut resource = Vec::new();
    attribute(
        &mut resource,
        1,
        "service.name",
        &Value::Text(service.to_owned()),
    );
    let version = Value::Text(env!("CARGO_PKG_VERSION").to_owned());
    attribute(&mut resource, 1, "service.version", &version);
    let mut scope = Vec::new();
    text(&mut scope, 1, "switchboard");
    text(&mut scope, 2, env!("CARGO_PKG_VERSION"));
    let mut scope_spans = Vec::new();
    message(&mut scope_spans, 1, &scope);
    for span in spans {
        message(&mut scope_spans, 2, &encode_span(span));
    }
    let mut resource_spans = Vec::new();
    message(&mut resource_spans, 1, &resource);
    message(&mut resource_spans, 2, &scope_spans);
    let mut request = Vec::new();
    message(&mut request, 1, &resource_spans);
    request
}

/// One `Span` message.
fn encode_span(span: &Span) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    bytes(&mut out, 1, &span.trace.0);
    bytes(&mut out, 2, &span.id.0);
    if !span.state.is_empty() {
        text(&mut out, 3, &span.state);
    }
    if let Some(parent) = span.parent {
        bytes(&mut out, 4, &parent.0);
    }
    text(&mut out, 5, span.name);
    key(&mut out, 6, VARINT);
    varint(&mut out, span.kind as u64);
    fixed64(&mut out, 7, span.start_ns);
    fixed64(&mut out, 8, span.end_ns);
    for (name, value) in &span.attributes {
        attribute(&mut out, 9, name, value);
    }
    // Status: code ERROR (2) with its message; unset otherwise.
    if let Some(error) = &span.error {
        let mut status = Vec::new();
        text(&mut status, 2, error);
        key(&mut status, 3, VARINT);
        varint(&mut status, 2);
        message(&mut out, 15, &status);
    }
    out
}

/// A `KeyValue` as field `field`.
fn attribute(out: &mut Vec<u8>, field: u32, name: &str, value: &Value) {
    let mut kv = Vec::new();
    text(&mut kv, 1, name);
    message(&mut kv, 2, &any(value));
    message(out, field, &kv);
}

/// An `AnyValue`.
fn any(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::Text(s) => text(&mut out, 1, s),
        Value::Int(n) => {
            key(&mut out, 3, VARINT);
            // int64: negative numbers as their two's complement.
            varint(&mut out, *n as u64);
        }
        Value::List(items) => {
            let mut array = Vec::new();
            for item in items {
                let mut one = Vec::new();
                text(&mut one, 1, item);
                message(&mut array, 1, &one);
            }
            message(&mut out, 5, &array);
        }
    }
    out
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field) << 3 | u64::from(wire));
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn fixed64(out: &mut Vec<u8>, field: u32, n: u64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&n.to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(out, field, LENGTH);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn text(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes(out, field, s.as_bytes());
}

fn message(out: &mut Vec<u8>, field: u32, encoded: &[u8]) {
    bytes(out, field, encoded);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_groups_of_seven() {
        for (n, want) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut out = Vec::new();
            varint(&mut out, n);
            assert_eq!(out, want, "{n}");
        }
    }

    #[test]
    fn a_field_is_its_key_then_its_value() {
        let mut out = Vec::new();
        text(&mut out, 5, "hi");
        assert_eq!(out, [5 << 3 | 2, 2, b'h', b'i']);
        let mut out = Vec::new();
        fixed64(&mut out, 7, 1);
        assert_eq!(out, [7 << 3 | 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    }
}
