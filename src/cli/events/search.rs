//! How `events search` prints a page: a table, one webhook a line with
//! each delivery's state, attempts and last status, and how to get the
//! next page; or the page as JSON. Prints only.

use std::io::Write;

use serde_json::Value;

use crate::spool::{EventSummary, Page};

/// Prints `page`; the hint for the next page goes to standard error.
pub fn print(out: &mut impl Write, page: &Page<EventSummary>, json: bool) -> std::io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, page)?;
        return writeln!(out);
    }
    writeln!(
        out,
        "{:<36}  {:<24}  {:<12}  {:<32}  DELIVERIES",
        "WEBHOOK", "RECEIVED", "SOURCE", "KEYS"
    )?;
    for event in &page.items {
        let deliveries: Vec<String> = event
            .deliveries
            .iter()
            .map(|d| {
                let status = d.last_status.map_or_else(String::new, |s| format!(" {s}"));
                format!("{} {} {}x{status}", d.target, d.state, d.attempts)
            })
            .collect();
        writeln!(
            out,
            "{:<36}  {:<24}  {:<12}  {:<32}  {}",
            event.head.id,
            event.head.received,
            event.head.source,
            keys(&event.head.keys),
            deliveries.join(", ")
        )?;
    }
    out.flush()?;
    match &page.next_cursor {
        Some(cursor) => eprintln!(
            "{} webhook(s); more with --cursor {cursor}",
            page.items.len()
        ),
        None => eprintln!("{} webhook(s)", page.items.len()),
    }
    Ok(())
}

/// `call=pbx-1 caller=4921…`: the stored keys as one short string.
pub fn keys(keys: &Value) -> String {
    let Some(map) = keys.as_object() else {
        return String::new();
    };
    let mut shown = Vec::new();
    for (name, value) in map {
        match value {
            Value::Array(values) => {
                for v in values {
                    shown.push(format!("{name}={}", v.as_str().unwrap_or_default()));
                }
            }
            v => shown.push(format!("{name}={}", v.as_str().unwrap_or_default())),
        }
    }
    shown.join(" ")
}
