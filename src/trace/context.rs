//! W3C Trace Context: the ids of a trace and a span, the `traceparent`
//! and `tracestate` headers read and written, and the text the spool keeps
//! with a webhook so that attempts made later (after a restart too) join
//! its trace.
//!
//! Pure but for the random ids: reads no clock and no header map.

use std::fmt;

/// A trace's id: 16 bytes, never all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// A span's id: 8 bytes, never all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

/// Where a span hangs in its trace: the trace, the span (its parent, for
/// the spans below it), whether the trace is sampled, and the vendors'
/// `tracestate` passed along unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The trace.
    pub trace: TraceId,
    /// The span.
    pub span: SpanId,
    /// The `sampled` flag: its spans are exported.
    pub sampled: bool,
    /// The `tracestate` header, as received (empty: none).
    pub state: String,
}

impl TraceId {
    /// A random id.
    pub fn random() -> TraceId {
        TraceId(fastrand::u128(1..).to_be_bytes())
    }

    /// Its last 8 bytes as a number: the random part sampling compares.
    pub fn low(self) -> u64 {
        let mut low = [0; 8];
        low.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(low)
    }
}

impl SpanId {
    /// A random id.
    pub fn random() -> SpanId {
        SpanId(fastrand::u64(1..).to_be_bytes())
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl Context {
    /// Reads a `traceparent` header (version `00`, or a later version's
    /// first four fields, as the spec asks) and its `tracestate`. `None`
    /// for anything malformed or an all-zero id: a new trace starts.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Context> {
        let mut parts = traceparent.trim().split('-');
        let version = parts.next()?;
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        let extra = parts.next();
        if version.len() != 2 || version == "ff" || (version == "00" && extra.is_some()) {
            return None;
        }
        u8::from_str_radix(version, 16).ok()?;
        let trace = TraceId(hex::<16>(trace)?);
        let span = SpanId(hex::<8>(span)?);
        let [flags] = hex::<1>(flags)?;
        if trace.0 == [0; 16] || span.0 == [0; 8] {
            return None;
        }
        Some(Context {
            trace,
            span,
            sampled: flags & 1 == 1,
            state: tracestate.map(str::trim).unwrap_or_default().to_owned(),
        })
    }

    /// Its `traceparent` header value.
    pub fn traceparent(&self) -> String {
        let flags = if self.sampled { "01" } else { "00" };
        format!("00-{}-{}-{flags}", self.trace, self.span)
    }

    /// As the spool keeps it: the `traceparent`, then a line with the
    /// `tracestate` if there is one (a header value has no line breaks).
    pub fn stored(&self) -> String {
        if self.state.is_empty() {
            self.traceparent()
        } else {
            format!("{}\n{}", self.traceparent(), self.state)
        }
    }

    /// What [`Context::stored`] wrote, shared by the attempts that read it.
    pub fn stored_arc(text: &str) -> Option<std::sync::Arc<Context>> {
        Context::from_stored(text).map(std::sync::Arc::new)
    }

    /// What [`Context::stored`] wrote; `None` if it is not that.
    pub fn from_stored(text: &str) -> Option<Context> {
        let (parent, state) = match text.split_once('\n') {
            Some((parent, state)) => (parent, Some(state)),
            None => (text, None),
        };
        Context::parse(parent, state)
    }
}

/// Exactly `2 * N` lower-case hex digits.
fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let digit = |d: u8| match d {
            b'0'..=b'9' => Some(d - b'0'),
            b'a'..=b'f' => Some(d - b'a' + 10),
            _ => None,
        };
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_and_writes_the_spec_example() {
        let cx = Context::parse(PARENT, Some("congo=t61rcWkgMzE")).unwrap();
        assert!(cx.sampled);
        assert_eq!(cx.trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(cx.span.to_string(), "00f067aa0ba902b7");
        assert_eq!(cx.traceparent(), PARENT);
        assert_eq!(Context::from_stored(&cx.stored()), Some(cx));
    }

    #[test]
    fn refuses_malformed_traceparents() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(Context::parse(bad, None), None, "{bad}");
        }
    }

    #[test]
    fn reads_a_later_version_by_its_first_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what";
        let cx = Context::parse(later, None).unwrap();
        assert!(!cx.sampled);
        assert!(cx.traceparent().starts_with("00-"));
    }

    #[test]
    fn random_ids_are_never_zero() {
        assert_ne!(TraceId::random().0, [0; 16]);
        assert_ne!(SpanId::random().0, [0; 8]);
    }
}
