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
mod tests;
