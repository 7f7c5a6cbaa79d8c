//! The JSON log format: one object per line, shaped like
//! `tracing-subscriber`'s (`timestamp`, `level`, `fields`, `target`), except
//! that a list field (see [`List`]) is a JSON array rather than a string
//! holding one. `tracing` can only carry such a value as text (its
//! structured values need an unstable build flag), so the list is written
//! as JSON text and put back into the line as an array here.
//!
//! Must not decide what is logged or where the lines go (that is `main`).

use std::fmt;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Fields that hold a [`List`]: arrays in JSON lines.
const LIST_FIELDS: &[&str] = &["routes"];

/// A list of names for a log field, e.g. `routes = %List(&routes)`: written
/// `["a","b"]` (JSON, every name escaped) in text lines, and an array in
/// JSON lines. The field's name must be in [`LIST_FIELDS`].
pub struct List<'a>(pub &'a [String]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self.0).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// The event formatter of `--log-format json`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        // Records bridged from the `log` crate name their real target in a
        // field.
        let target = fields.log_target.as_deref().unwrap_or(meta.target());
        let mut line = String::with_capacity(256);
        line.push_str("{\"timestamp\":");
        push_json(&mut line, &Value::String(timestamp))?;
        line.push_str(",\"level\":");
        push_json(&mut line, &Value::from(meta.level().as_str()))?;
        line.push_str(",\"fields\":{");
        for (i, (name, value)) in fields.values.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_json(&mut line, &Value::from(*name))?;
            line.push(':');
            push_json(&mut line, value)?;
        }
        line.push_str("},\"target\":");
        push_json(&mut line, &Value::from(target))?;
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|span| serde_json::json!({"name": span.name()}))
                .collect();
            line.push_str(",\"spans\":");
            push_json(&mut line, &Value::Array(spans))?;
        }
        line.push('}');
        writeln!(writer, "{line}")
    }
}

fn push_json(line: &mut String, value: &Value) -> fmt::Result {
    let text = serde_json::to_string(value).map_err(|_| fmt::Error)?;
    line.push_str(&text);
    Ok(())
}

/// An event's fields in the order they were recorded.
#[derive(Default)]
struct Fields {
    values: Vec<(&'static str, Value)>,
    log_target: Option<String>,
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.values.push((field.name(), Value::from(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.values.push((field.name(), Value::from(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.values.push((field.name(), Value::from(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.values.push((field.name(), Value::from(value)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "log.target" => self.log_target = Some(value.to_owned()),
            name if name.starts_with("log.") => {}
            name => self.values.push((name, Value::from(value))),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        let text = format!("{value:?}");
        let value = if LIST_FIELDS.contains(&name) {
            match serde_json::from_str::<Value>(&text) {
                Ok(list @ Value::Array(_)) => list,
                _ => Value::String(text),
            }
        } else {
            Value::String(text)
        };
        self.values.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Mutex};

    /// The lines `emit` logs through `format`, parsed.
    fn lines<F>(format: F, emit: impl FnOnce()) -> Vec<Value>
    where
        F: FormatEvent<
                tracing_subscriber::Registry,
                tracing_subscriber::fmt::format::DefaultFields,
            > + Send
            + Sync
            + 'static,
    {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn emit() {
        let routes = vec!["to-crm".to_owned(), "quote\"d\n".to_owned()];
        tracing::info!(
            target: "switchboard::ingress",
            id = %"0190",
            source = "sipgate",
            deliveries = 2u64,
            ok = true,
            routes = %List(&routes),
            "accepted"
        );
        tracing::warn!(reason = ?"x\u{1b}y", n = -3i64, "other");
    }

    #[test]
    fn routes_are_a_json_array() {
        let got = lines(JsonLines, emit);
        assert_eq!(
            got[0]["fields"]["routes"],
            serde_json::json!(["to-crm", "quote\"d\n"])
        );
        assert_eq!(got[0]["fields"]["message"], "accepted");
        assert_eq!(got[0]["target"], "switchboard::ingress");
    }

    #[test]
    fn otherwise_lines_are_shaped_like_tracing_subscribers() {
        let ours = lines(JsonLines, emit);
        let stock = lines(tracing_subscriber::fmt::format().json(), emit);
        assert_eq!(ours.len(), 2);
        for (mut ours, mut stock) in ours.into_iter().zip(stock) {
            assert!(ours["timestamp"].as_str().unwrap().ends_with('Z'));
            ours.as_object_mut().unwrap().remove("timestamp");
            stock.as_object_mut().unwrap().remove("timestamp");
            if ours["fields"]["message"] == "accepted" {
                // The one difference: the list.
                stock["fields"]["routes"] = ours["fields"]["routes"].clone();
            }
            assert_eq!(ours, stock);
        }
    }

    #[test]
    fn a_list_shows_as_json_in_text_lines() {
        let routes = vec!["a".to_owned(), "b\u{1b}[31m".to_owned()];
        assert_eq!(List(&routes).to_string(), r#"["a","b\u001b[31m"]"#);
    }
}
