//! How `events show` prints one webhook's story: the webhook (source,
//! time, routes, keys, config version, headers, body), then each delivery
//! with the body it sends and its attempts, each with the target's answer.
//! Or the story as JSON. Prints only.

use std::io::Write;

use serde_json::Value;

use crate::spool::EventView;
use crate::spool::history::{DeliveryView, Inline};

/// Prints `event`.
pub fn print(out: &mut impl Write, event: &EventView, json: bool) -> std::io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, event)?;
        return writeln!(out);
    }
    let head = &event.head;
    writeln!(out, "webhook   {}", head.id)?;
    writeln!(
        out,
        "received  {} from {} ({})",
        head.received, head.source, head.client_ip
    )?;
    writeln!(out, "routes    {}", head.routes.join(", "))?;
    writeln!(out, "keys      {}", super::search::keys(&head.keys))?;
    writeln!(
        out,
        "config    {}",
        event.config_version.as_deref().unwrap_or("(not recorded)")
    )?;
    writeln!(out, "headers")?;
    headers(out, &event.headers, "  ")?;
    writeln!(
        out,
        "body      {} bytes, {}",
        event.size,
        event.content_type.as_deref().unwrap_or("no content type")
    )?;
    bytes(out, &event.body, "  ")?;
    for delivery in &event.deliveries {
        writeln!(out)?;
        self::delivery(out, delivery)?;
    }
    Ok(())
}

fn delivery(out: &mut impl Write, d: &DeliveryView) -> std::io::Result<()> {
    let s = &d.summary;
    writeln!(
        out,
        "=== {} (route {}): {} after {} attempt(s){}",
        s.target,
        s.route,
        s.state,
        s.attempts,
        s.last_error
            .as_deref()
            .map_or_else(String::new, |e| format!(": {e}"))
    )?;
    if let Some(error) = &d.body.unrendered {
        writeln!(out, "not rendered, nothing sent: {error}")?;
    } else if d.body.original {
        writeln!(out, "sends the webhook's body as received")?;
    } else if let Some(own) = &d.body.own {
        writeln!(out, "sends {} bytes:", own.size)?;
        bytes(out, own, "  ")?;
    }
    for a in &d.timeline {
        let outcome = match (a.status, &a.class) {
            (Some(status), _) => status.to_string(),
            (None, Some(class)) => class.clone(),
            (None, None) => "-".to_owned(),
        };
        writeln!(
            out,
            "  #{} {} {} ms -> {outcome}{}",
            a.attempt,
            a.started,
            a.duration_ms,
            a.error
                .as_deref()
                .map_or_else(String::new, |e| format!(" ({e})"))
        )?;
        if let Some(body) = &a.response_body
            && body.size > 0
        {
            bytes(out, body, "      ")?;
        }
    }
    Ok(())
}

/// A headers object, one `name: value` a line.
fn headers(out: &mut impl Write, headers: &Value, indent: &str) -> std::io::Result<()> {
    for (name, value) in headers.as_object().into_iter().flatten() {
        let values = match value {
            Value::Array(many) => many.clone(),
            one => vec![one.clone()],
        };
        for v in values {
            writeln!(out, "{indent}{name}: {}", v.as_str().unwrap_or_default())?;
        }
    }
    Ok(())
}

/// Bytes as text when they are, else their size.
fn bytes(out: &mut impl Write, inline: &Inline, indent: &str) -> std::io::Result<()> {
    match (&inline.content, inline.encoding.as_str()) {
        (Some(text), "utf8") => {
            for line in text.lines() {
                writeln!(out, "{indent}{line}")?;
            }
            Ok(())
        }
        (Some(_), _) => writeln!(out, "{indent}({} bytes, not text)", inline.size),
        (None, _) => writeln!(
            out,
            "{indent}({} bytes, too large to show: GET /api/events/<id>/body)",
            inline.size
        ),
    }
}
