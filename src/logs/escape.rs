//! Log lines that input cannot forge: control characters in logged values
//! are written escaped, in both log formats.
//!
//! Many fields carry what a sender or a target chose: a source name from the
//! URL path, a client address from a header, a JSON parse error quoting a
//! key, a target's answer. Written raw, a `\n` in one of them starts a
//! forged log line and an ESC sequence rewrites the operator's terminal.
//! tracing-subscriber escapes some of this (ESC in the message, `?` fields
//! through `Debug`), but not a `\n` in a `%` field or the message. So:
//!
//! - text: [`EscapedFields`] formats every field value and the message
//!   through [`Escape`] (`\n`, `\r`, `\t`, other C0 and C1 controls, DEL,
//!   U+2028 and U+2029 become `\n`-style or `\u{1b}`-style escapes); the
//!   formatter's own colours are untouched.
//! - JSON: serde already escapes C0 controls inside strings; [`JsonSafe`]
//!   also writes C1 controls, U+2028 and U+2029 as `\u` escapes, which JSON
//!   reads back as the same characters.
//!
//! Must not: drop or shorten a value, or change a line that needs no escape.

use std::fmt;
use std::io;

use tracing_subscriber::field::{RecordFields, Visit, VisitOutput};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{DefaultVisitor, FormatFields, Writer};

/// Whether `c` is written escaped: it could end a line, or drive a terminal.
fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Whether `bytes` may hold a character that [`needs_escape`]: an ASCII
/// control, or the first byte of U+0080..U+009F (`C2`) or U+2028/2029 (`E2`).
/// A quick scan, so a clean value costs no per-character work.
fn may_need_escape(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|&b| b < 0x20 || b == 0x7f || b == 0xc2 || b == 0xe2)
}

/// Writes what it is given with control characters escaped.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !may_need_escape(s.as_bytes()) {
            return self.0.write_str(s);
        }
        let mut clean = 0;
        for (at, c) in s.char_indices() {
            if !needs_escape(c) {
                continue;
            }
            self.0.write_str(&s[clean..at])?;
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            clean = at + c.len_utf8();
        }
        self.0.write_str(&s[clean..])
    }
}

/// A value shown through its `Debug`, with control characters escaped.
pub struct Escape<T>(pub T);

impl<T: fmt::Debug> fmt::Debug for Escape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::write(&mut Escaping(f), format_args!("{:?}", self.0))
    }
}

/// Text-format fields: tracing-subscriber's default layout (`message
/// key=value ...`), every value escaped.
#[derive(Debug, Default, Clone, Copy)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor(DefaultVisitor::new(writer, true));
        fields.record(&mut visitor);
        visitor.0.finish()
    }
}

/// Hands every value to the default visitor as an escaped `Debug`: a `&str`
/// field keeps its quotes, a `%` field its plain text.
struct EscapingVisitor<'a>(DefaultVisitor<'a>);

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(
        &mut self,
        field: &tracing::field::Field,
        value: &(dyn std::error::Error + 'static),
    ) {
        self.record_debug(field, &format_args!("{}", Chain(value)));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0.record_debug(field, &Escape(value));
    }
}

/// An error and its causes: `outer: inner: root`.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// A writer for JSON log lines that writes C1 controls, U+2028 and U+2029
/// as `\u` escapes. In a JSON line every character above ASCII is inside a
/// string, where the escape means the same character.
#[derive(Debug, Clone)]
pub struct JsonSafe<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for JsonSafe<M> {
    type Writer = JsonSafeWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        JsonSafeWriter(self.0.make_writer())
    }
}

/// The writer [`JsonSafe`] makes.
#[derive(Debug)]
pub struct JsonSafeWriter<W>(W);

impl<W: io::Write> io::Write for JsonSafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // tracing-subscriber writes each line with one `write_all`, so a
        // character is never split between two calls; if one were, its
        // bytes would pass through unchanged (still valid JSON).
        if !buf.iter().any(|&b| b == 0xc2 || b == 0xe2) {
            return self.0.write(buf);
        }
        let Ok(text) = std::str::from_utf8(buf) else {
            return self.0.write(buf);
        };
        let mut out = String::with_capacity(buf.len() + 16);
        for c in text.chars() {
            if !c.is_ascii() && needs_escape(c) {
                // Writing to a `String` cannot fail.
                let _ = fmt::Write::write_fmt(&mut out, format_args!("\\u{:04x}", u32::from(c)));
            } else {
                out.push(c);
            }
        }
        self.0.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn escapes_controls_and_keeps_the_rest() {
        let shown = format!(
            "{:?}",
            Escape(format_args!("a\nb\r\tc\x1b[31md\u{9b}e\u{2028}ü ok"))
        );
        assert_eq!(shown, r"a\nb\r\tc\u{1b}[31md\u{9b}e\u{2028}ü ok");
        let clean = "plain text, ümlaut, 東京";
        assert_eq!(format!("{:?}", Escape(format_args!("{clean}"))), clean);
    }

    #[test]
    fn json_writer_escapes_c1_and_line_separators_only() {
        let mut out = Vec::new();
        let line = "{\"m\":\"a\u{85}b\u{2029}c ü \u{20ac}\"}\n";
        JsonSafeWriter(&mut out).write_all(line.as_bytes()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "{\"m\":\"a\\u0085b\\u2029c ü \u{20ac}\"}\n");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["m"], "a\u{85}b\u{2029}c ü \u{20ac}");
    }
}
