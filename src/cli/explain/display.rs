//! How an [`Explanation`] reads in a terminal: the routes with their
//! condition trees, then each delivery as it goes on the wire. Must not
//! decide anything; `--json` prints the same value through serde.

use std::fmt;

use super::Explanation;
use crate::rules::Trace;

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "source: {}", self.source)?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        if !self.routes.is_empty() {
            writeln!(f, "\nroutes:")?;
        }
        for route in &self.routes {
            let always = if route.when.is_none() {
                " (no `when`: every webhook)"
            } else {
                ""
            };
            writeln!(
                f,
                "  {} {} -> {}{always}",
                mark(route.matched),
                route.name,
                route.to.join(", ")
            )?;
            if let Some(trace) = &route.when {
                write_trace(f, trace, 2)?;
            }
        }
        if self.deliveries.is_empty() {
            return writeln!(f, "\nno target would receive this webhook");
        }
        let targets: Vec<&str> = self.deliveries.iter().map(|d| d.target.as_str()).collect();
        writeln!(f, "\ndeliveries: {}", targets.join(", "))?;
        // Each delivery as it goes on the wire: request line, headers, a
        // blank line, then the body verbatim (not indented, so it can be
        // copied as is).
        for d in &self.deliveries {
            writeln!(
                f,
                "\n=== {} (route {}, transform {})",
                d.target, d.route, d.transform
            )?;
            writeln!(f, "{} {}", d.method, d.url)?;
            for h in &d.headers {
                writeln!(f, "{}: {}", h.name, h.value)?;
            }
            match (&d.body, &d.error) {
                (Some(body), _) => {
                    writeln!(f)?;
                    f.write_str(body)?;
                    if !body.ends_with('\n') {
                        writeln!(f)?;
                    }
                }
                (None, error) => writeln!(
                    f,
                    "\nnot sent: {}",
                    error.as_deref().unwrap_or("the body could not be rendered")
                )?,
            }
        }
        Ok(())
    }
}

fn write_trace(f: &mut fmt::Formatter<'_>, trace: &Trace, depth: usize) -> fmt::Result {
    writeln!(
        f,
        "{:indent$}{} {}",
        "",
        mark(trace.matched),
        trace.detail,
        indent = depth * 2
    )?;
    for part in &trace.parts {
        write_trace(f, part, depth + 1)?;
    }
    Ok(())
}

fn mark(matched: bool) -> &'static str {
    if matched { "✓" } else { "✗" }
}
