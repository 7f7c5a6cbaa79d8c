//! A finished span as the exporter sends it, and the sampling decision.
//!
//! Data and one pure decision: must not read a clock, send or encode
//! (`otlp` encodes, `export` sends).

use super::context::{Context, SpanId, TraceId};

/// What a span stands for, as OTLP numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A step inside the relay (verification, routing, commit).
    Internal = 1,
    /// The request a sender made (ingress).
    Server = 2,
    /// A request the relay made (a delivery attempt).
    Client = 3,
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A list of texts (matched routes, targets).
    List(Vec<String>),
}

/// One finished span.
#[derive(Debug, Clone)]
pub struct Span {
    /// Its trace.
    pub trace: TraceId,
    /// Its id.
    pub id: SpanId,
    /// Its parent's id; `None` for a trace's root.
    pub parent: Option<SpanId>,
    /// The trace's `tracestate`, as received.
    pub state: String,
    /// What it is: `POST /hooks/{source}`, `verify`, `route`, `commit`,
    /// `deliver`.
    pub name: &'static str,
    /// Server, client or internal.
    pub kind: Kind,
    /// When it started, unix nanoseconds.
    pub start_ns: u64,
    /// When it ended, unix nanoseconds.
    pub end_ns: u64,
    /// Its attributes.
    pub attributes: Vec<(&'static str, Value)>,
    /// Why it failed, if it did (status `ERROR` with this message).
    pub error: Option<String>,
}

impl Span {
    /// A span under `parent` (a span's [`Context`]) with its own `id`.
    pub fn under(parent: &Context, id: SpanId, name: &'static str, kind: Kind) -> Span {
        Span {
            trace: parent.trace,
            id,
            parent: Some(parent.span),
            state: parent.state.clone(),
            name,
            kind,
            start_ns: 0,
            end_ns: 0,
            attributes: Vec::new(),
            error: None,
        }
    }
}

/// Whether a trace is sampled: as its sender said when it came with a
/// `traceparent` (parent-based), otherwise when the random part of its id
/// falls under `ratio` (trace-id-ratio-based: every replica decides the same
/// for the same trace).
pub fn sampled(ratio: f64, incoming: Option<&Context>, trace: TraceId) -> bool {
    if let Some(parent) = incoming {
        return parent.sampled;
    }
    if ratio >= 1.0 {
        return true;
    }
    // `as` saturates; a ratio of 0 (or NaN, refused by the config) samples none.
    let threshold = (ratio.max(0.0) * u64::MAX as f64) as u64;
    trace.low() < threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(low: u64) -> TraceId {
        let mut id = [0; 16];
        id[0] = 1;
        id[8..].copy_from_slice(&low.to_be_bytes());
        TraceId(id)
    }

    #[test]
    fn a_sender_decides_for_its_trace() {
        let parent = |sampled| Context {
            trace: trace(1),
            span: SpanId([1; 8]),
            sampled,
            state: String::new(),
        };
        assert!(sampled(0.0, Some(&parent(true)), trace(u64::MAX)));
        assert!(!sampled(1.0, Some(&parent(false)), trace(0)));
    }

    #[test]
    fn the_ratio_samples_that_share_of_new_traces() {
        assert!(sampled(1.0, None, trace(u64::MAX)));
        assert!(!sampled(0.0, None, trace(0)));
        assert!(sampled(0.5, None, trace(u64::MAX / 2 - 1000)));
        assert!(!sampled(0.5, None, trace(u64::MAX / 2 + 1000)));
        let taken = (0..10_000u64)
            .filter(|i| sampled(0.25, None, trace(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))))
            .count();
        assert!((2_200..2_800).contains(&taken), "{taken}");
    }
}
