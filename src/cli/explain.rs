//! `switchboard explain`: what the relay would do with one payload, and why.
//!
//! Runs the code `serve` runs on an accepted webhook: the strict parse
//! ([`crate::ingress::json::parse`]), then [`render::render`] for the choices and each
//! body (shown byte for byte as it would be sent), plus
//! [`Condition::explain`](crate::rules::Condition::explain) for the reasons.
//! Nothing is sent or spooled. Secrets stay out of the output:
//! configured header values print as `<redacted>` and target URLs show their
//! origin only, since a path or query may carry a token (chat webhooks do).

use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use serde::Serialize;
use serde_json::Value;

use crate::dispatch::deliver::USER_AGENT;
use crate::dispatch::sign::SIGNATURE_HEADER;
use crate::ingress::render;
use crate::rules::Trace;
use crate::runtime::Runtime;
use crate::transform::Transform;

/// Printed in place of every configured header value.
pub const REDACTED: &str = "<redacted>";

/// What the relay would do with one payload.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The source it is explained for.
    pub source: String,
    /// Things `serve` would do differently before routing (a missing token,
    /// a body over `max_body`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Every route, in order.
    pub routes: Vec<RouteReport>,
    /// One per target that would receive the webhook, in decision order.
    pub deliveries: Vec<Delivery>,
}

/// One route and whether it matched.
#[derive(Debug, Serialize)]
pub struct RouteReport {
    /// Its name (`routes[i]` if unnamed).
    pub name: String,
    /// Whether it matched.
    pub matched: bool,
    /// Why, condition by condition; absent for a route without `when`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Trace>,
    /// The targets it names.
    pub to: Vec<String>,
}

/// What one target would receive.
#[derive(Debug, Serialize)]
pub struct Delivery {
    /// The target.
    pub target: String,
    /// The first matching route that named it.
    pub route: String,
    /// `none`, `select`, `omit` or `jq`.
    pub transform: &'static str,
    /// HTTP method.
    pub method: String,
    /// The target's URL with everything after the origin redacted.
    pub url: String,
    /// The request headers, configured values redacted, in send order.
    pub headers: Vec<Header>,
    /// The exact body, as text; absent when rendering failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Why the body could not be rendered: `serve` logs this and sends
    /// nothing to this target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One request header.
#[derive(Debug, Serialize)]
pub struct Header {
    /// Lower-case name.
    pub name: String,
    /// The value, [`REDACTED`] or a `<placeholder>` for per-attempt values.
    pub value: String,
}

/// Why a payload could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("the config has {} sources ({}); name one with --source", .0.len(), .0.join(", "))]
    NeedSource(Vec<String>),
    #[error("unknown source \"{name}\" (sources: {})", .known.join(", "))]
    UnknownSource { name: String, known: Vec<String> },
    #[error("the payload is not JSON (or repeats a key), so `serve` would answer 400")]
    NotJson(#[source] serde_json::Error),
}

/// Why a `--header` argument is not a header.
#[derive(Debug, thiserror::Error)]
#[error("--header `{0}`: expected `Name: value`, e.g. `X-Agent: reception`")]
pub struct HeaderArgError(String);

/// Parses `Name: value`.
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), HeaderArgError> {
    let fail = || HeaderArgError(text.to_owned());
    let (name, value) = text.split_once(':').ok_or_else(fail)?;
    let name = HeaderName::try_from(name.trim()).map_err(|_| fail())?;
    let value = HeaderValue::try_from(value.trim()).map_err(|_| fail())?;
    Ok((name, value))
}

/// Explains what `runtime` does with `raw` arriving on `source` (the only
/// source when `None`) with request `headers`.
pub fn explain(
    runtime: &Runtime,
    source: Option<&str>,
    headers: &HeaderMap,
    raw: &Bytes,
) -> Result<Explanation, ExplainError> {
    let mut known: Vec<String> = runtime.sources.keys().cloned().collect();
    known.sort();
    let source = match source {
        Some(name) => runtime
            .sources
            .get(name)
            .ok_or_else(|| ExplainError::UnknownSource {
                name: name.to_owned(),
                known: known.clone(),
            })?,
        None if runtime.sources.len() == 1 => runtime
            .sources
            .values()
            .next()
            .ok_or_else(|| ExplainError::NeedSource(known.clone()))?,
        None => return Err(ExplainError::NeedSource(known)),
    };
    // Ingress answers these 200 before parsing or routing (a sender's
    // reachability check); the same test, on the parsed value.
    let probe = raw.trim_ascii().is_empty();
    let doc: Value = if probe {
        Value::Null
    } else {
        crate::ingress::json::parse(raw).map_err(ExplainError::NotJson)?
    };
    if probe || doc.is_null() || doc.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(Explanation {
            source: source.name.clone(),
            notes: vec![
                "an empty body, `{}` or `null` is a reachability probe: serve answers 200 and routes nothing".to_owned(),
            ],
            routes: Vec::new(),
            deliveries: Vec::new(),
        });
    }

    let mut notes = Vec::new();
    if raw.len() > runtime.server.max_body {
        notes.push(format!(
            "the payload has {} bytes, more than server.max_body ({}): serve would answer 413",
            raw.len(),
            runtime.server.max_body
        ));
    }
    if let Some(token) = &source.token
        && !source.authenticates(headers)
    {
        notes.push(format!(
            "sources.{} expects a token in `{}`, not given here: serve would answer 401 (pass it with --header)",
            source.name, token.header
        ));
    }

    let event = source.event(headers, &doc);
    let routes = runtime
        .routes
        .0
        .iter()
        .map(|route| {
            let when = route.when.as_ref().map(|c| c.explain(&event));
            RouteReport {
                name: route.name.clone(),
                matched: when.as_ref().is_none_or(|t| t.matched),
                when,
                to: route.to.iter().map(|(t, _)| t.clone()).collect(),
            }
        })
        .collect();

    let rendered = render::render(runtime, source, headers, raw, &doc);
    let deliveries = rendered
        .targets
        .iter()
        .map(|outgoing| {
            let choice = &outgoing.choice;
            let (body, error) = match outgoing.wire_body(raw) {
                Ok(body) => (Some(String::from_utf8_lossy(body).into_owned()), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let target = runtime.targets.get(choice.target);
            Delivery {
                target: choice.target.to_owned(),
                route: choice.route.to_owned(),
                transform: kind(choice.transform),
                method: target.map_or_else(String::new, |t| t.method.to_string()),
                url: target.map_or_else(String::new, |t| shown_url(&t.url)),
                headers: target
                    .map_or_else(Vec::new, |t| request_headers(&t.headers, t.sign.is_some())),
                body,
                error,
            }
        })
        .collect();

    Ok(Explanation {
        source: source.name.clone(),
        notes,
        routes,
        deliveries,
    })
}

/// The origin, then `/<redacted>` unless the URL has nothing more.
fn shown_url(url: &url::Url) -> String {
    let origin = url.origin().ascii_serialization();
    if url.path() == "/" && url.query().is_none() {
        format!("{origin}/")
    } else {
        format!("{origin}/{REDACTED}")
    }
}

fn kind(transform: &Transform) -> &'static str {
    match transform {
        Transform::None => "none",
        Transform::Select(_) => "select",
        Transform::Omit(_) => "omit",
        Transform::Jq(_) => "jq",
    }
}

/// The headers `deliver::attempt` sends, in its order, configured values
/// redacted; `signed` when the target signs its deliveries.
fn request_headers(configured: &HeaderMap, signed: bool) -> Vec<Header> {
    let mut out: Vec<Header> = configured
        .keys()
        .flat_map(|name| {
            configured.get_all(name).iter().map(|_| Header {
                name: name.to_string(),
                value: REDACTED.to_owned(),
            })
        })
        .collect();
    let mut add = |name: &str, value: &str| {
        out.push(Header {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    };
    if signed {
        add(SIGNATURE_HEADER, "<v1,signature of id, timestamp and body>");
    }
    add(
        "webhook-id",
        "<the webhook's id, a UUIDv7 given on receipt>",
    );
    add("webhook-timestamp", "<unix seconds of the attempt>");
    if !configured.contains_key(header::CONTENT_TYPE) {
        add(header::CONTENT_TYPE.as_str(), "application/json");
    }
    add(header::USER_AGENT.as_str(), USER_AGENT);
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_arguments() {
        let (name, value) = parse_header("X-Agent:  reception ").unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("x-agent", "reception")
        );
        for bad in ["no colon", ": value", "bad name: x"] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn configured_header_values_never_show() {
        let mut configured = HeaderMap::new();
        configured.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
        configured.insert("content-type", HeaderValue::from_static("text/plain"));
        let shown = request_headers(&configured, true);
        let names: Vec<&str> = shown.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "authorization",
                "content-type",
                "webhook-signature",
                "webhook-id",
                "webhook-timestamp",
                "user-agent"
            ]
        );
        assert!(shown.iter().all(|h| !h.value.contains("s3cret")));
    }
}
