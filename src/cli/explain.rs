//! `switchboard explain`: what the relay would do with one payload, and why.
//!
//! Runs the functions `serve` runs on an accepted webhook, not copies of
//! them: the probe test and strict parse ([`Payload::read`]), then
//! [`render::render`] for the choices and each body (shown byte for byte as
//! it would be sent), plus
//! [`Condition::explain`](crate::rules::Condition::explain) for the reasons.
//! Nothing is sent or spooled. Secrets stay out of the output:
//! configured header values print as `<redacted>` and target URLs show their
//! origin only ([`redact_url`]), since a path or query may carry a token
//! (chat webhooks do). How it reads in a terminal is `display`'s.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::dispatch::deliver::USER_AGENT;
use crate::dispatch::sign::SIGNATURE_HEADER;
use crate::dispatch::target::redact_url;
use crate::ingress::payload::Payload;
use crate::ingress::render::{self, Rendered};
use crate::ingress::source::Source;
use crate::rules::Event;
use crate::runtime::Runtime;
use crate::transform::Transform;

/// Printed in place of every configured header value.
pub const REDACTED: &str = "<redacted>";

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
    explain_as(runtime, source, headers, raw, false)
}

/// [`explain`] for a webhook the relay accepted (from the history): its
/// token was checked then and is not stored, so its absence is no note.
pub fn explain_accepted(
    runtime: &Runtime,
    source: &str,
    headers: &HeaderMap,
    raw: &Bytes,
) -> Result<Explanation, ExplainError> {
    explain_as(runtime, Some(source), headers, raw, true)
}

fn explain_as(
    runtime: &Runtime,
    source: Option<&str>,
    headers: &HeaderMap,
    raw: &Bytes,
    accepted: bool,
) -> Result<Explanation, ExplainError> {
    let source = pick_source(runtime, source)?;
    // Ingress answers these 200 before routing (a sender's reachability
    // check): the same classification `serve` uses.
    let doc = match Payload::read(raw).map_err(ExplainError::NotJson)? {
        Payload::Probe => {
            return Ok(Explanation {
                source: source.name.clone(),
                notes: vec![
                    "an empty body, `{}` or `null` is a reachability probe: serve answers 200 and routes nothing".to_owned(),
                ],
                routes: Vec::new(),
                deliveries: Vec::new(),
            });
        }
        Payload::Document(doc) => doc,
    };
    let event = source.event(headers, &doc);
    let rendered = render::render(runtime, source, headers, raw, &doc);
    Ok(Explanation {
        source: source.name.clone(),
        notes: notes(runtime, source, headers, raw, accepted),
        routes: route_reports(runtime, &event),
        deliveries: deliveries(runtime, &rendered, raw),
    })
}

/// The source named, or the only one.
fn pick_source<'r>(runtime: &'r Runtime, name: Option<&str>) -> Result<&'r Source, ExplainError> {
    let mut known: Vec<String> = runtime.sources.keys().cloned().collect();
    known.sort();
    match name {
        Some(name) => runtime
            .sources
            .get(name)
            .map(|source| &**source)
            .ok_or_else(|| ExplainError::UnknownSource {
                name: name.to_owned(),
                known,
            }),
        None if runtime.sources.len() == 1 => runtime
            .sources
            .values()
            .next()
            .map(|source| &**source)
            .ok_or_else(|| ExplainError::NeedSource(known.clone())),
        None => Err(ExplainError::NeedSource(known)),
    }
}

/// What `serve` would refuse before routing that `explain` goes past.
fn notes(
    runtime: &Runtime,
    source: &Source,
    headers: &HeaderMap,
    raw: &Bytes,
    accepted: bool,
) -> Vec<String> {
    let mut notes = Vec::new();
    if raw.len() > runtime.server.max_body {
        notes.push(format!(
            "the payload has {} bytes, more than server.max_body ({}): serve would answer 413",
            raw.len(),
            runtime.server.max_body
        ));
    }
    if let Some(token) = &source.token
        && !accepted
        && !source.authenticates(headers)
    {
        notes.push(format!(
            "sources.{} expects a token in `{}`, not given here: serve would answer 401 (pass it with --header)",
            source.name, token.header
        ));
    }
    notes
}

/// Every route, and why it matched or not.
fn route_reports(runtime: &Runtime, event: &Event<'_>) -> Vec<RouteReport> {
    runtime
        .routes
        .0
        .iter()
        .map(|route| {
            let when = route.when.as_ref().map(|c| c.explain(event));
            RouteReport {
                name: route.name.clone(),
                matched: when.as_ref().is_none_or(|t| t.matched),
                when,
                to: route.to.iter().map(|(t, _)| t.clone()).collect(),
            }
        })
        .collect()
}

/// Each chosen target's request, as `deliver::attempt` would send it.
fn deliveries(runtime: &Runtime, rendered: &Rendered<'_>, raw: &Bytes) -> Vec<Delivery> {
    rendered
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
        .collect()
}

/// The origin, then `/<redacted>` unless the URL has nothing more.
fn shown_url(url: &url::Url) -> String {
    redact_url(url, url.path() == "/" && url.query().is_none())
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

pub mod command;
mod display;
mod report;

pub use report::{Delivery, Explanation, Header, RouteReport};

#[cfg(test)]
mod tests;
