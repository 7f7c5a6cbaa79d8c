//! Route and render: which targets one webhook goes to, and the exact body
//! each is sent.
//!
//! Routing happens here, once, with the config snapshot in force: what is
//! decided when the webhook arrives is what gets sent, whatever a later
//! reload says. Each target's body is rendered now, so a delivery carries
//! everything it needs: the [`Routed`] value is exactly what the spool
//! writes.
//!
//! [`render`] is the one route-and-render step: `serve` runs it through
//! [`route`], `explain` calls it directly, so the two cannot disagree. Must
//! not read the request, verify, store or answer: that is `accept`'s.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

use crate::ingress::source::Source;
use crate::rules::Choice;
use crate::runtime::Runtime;
use crate::spool::NewDelivery;
use crate::transform::{RenderError, Transform};

/// Bodies longer than this (in bytes) are routed and rendered off the async
/// worker, so that one heavy webhook (a jq program over a megabyte, a wide
/// `[*]`) never holds up the webhooks queued behind it on that worker.
/// Smaller ones stay inline: for them the hand-off would cost more than the
/// work (a 6 KB call renders in microseconds).
pub const INLINE_BODY_MAX: usize = 64 * 1024;

/// What routing one webhook decided, in the spool's terms.
#[derive(Debug)]
pub struct Routed {
    /// Names of the matching routes, in order.
    pub matched: Vec<String>,
    /// One delivery per chosen target; an untransformed one carries no body
    /// of its own (it is the webhook's); one whose body could not be
    /// rendered (a jq program failed on this payload) carries the reason,
    /// and is stored `unrendered`.
    pub deliveries: Vec<NewDelivery>,
    /// The source's lookup keys found in the payload.
    pub keys: Vec<(String, String)>,
}

/// What the rules decided for one webhook, each chosen target with its body.
#[derive(Debug)]
pub struct Rendered<'r> {
    /// Names of the matching routes, in order.
    pub matched: Vec<&'r str>,
    /// One per chosen target, in decision order.
    pub targets: Vec<Outgoing<'r>>,
}

/// One chosen target and the body it is sent.
#[derive(Debug)]
pub struct Outgoing<'r> {
    /// The target, the route that chose it and its transform.
    pub choice: Choice<'r>,
    /// `Ok(None)`: the webhook's own bytes, untouched; `Ok(Some(body))`: the
    /// transformed body; `Err`: nothing is sent to this target.
    pub body: Result<Option<Bytes>, RenderError>,
}

impl Outgoing<'_> {
    /// The exact bytes this target is sent (`raw` being the webhook's), or
    /// why none are.
    pub fn wire_body<'a>(&'a self, raw: &'a Bytes) -> Result<&'a Bytes, &'a RenderError> {
        match &self.body {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Ok(raw),
            Err(error) => Err(error),
        }
    }
}

/// Routes one webhook and renders each chosen target's body. Pure: `raw` is
/// the request body as received, `doc` its strict parse
/// ([`crate::ingress::json::parse`]).
pub fn render<'r>(
    runtime: &'r Runtime,
    source: &Source,
    headers: &HeaderMap,
    raw: &Bytes,
    doc: &Value,
) -> Rendered<'r> {
    let event = source.event(headers, doc);
    let decision = runtime.routes.select(&event);
    let targets = decision
        .choices
        .into_iter()
        .map(|choice| Outgoing {
            choice,
            body: match choice.transform {
                Transform::None => Ok(None),
                transform => transform.render(raw, doc).map(Some),
            },
        })
        .collect();
    Rendered {
        matched: decision.matched,
        targets,
    }
}

/// Routes one webhook and renders each chosen target's body: [`render`],
/// off the async worker for a body over [`INLINE_BODY_MAX`].
pub fn route(
    runtime: &Runtime,
    source: &Source,
    headers: &HeaderMap,
    raw: &Bytes,
    doc: &Value,
) -> Routed {
    let run = || render(runtime, source, headers, raw, doc);
    let rendered = if raw.len() > INLINE_BODY_MAX && may_block_in_place() {
        // `block_in_place` rather than `spawn_blocking`: the worker hands its
        // queued tasks to another thread and this one becomes a blocking
        // thread, so the parse and the snapshot are used where they are, with
        // no copy of a megabyte-sized document to move them to a `'static`
        // task.
        tokio::task::block_in_place(run)
    } else {
        run()
    };
    let deliveries = rendered
        .targets
        .into_iter()
        .map(|Outgoing { choice, body }| {
            let (body, unrendered) = match body {
                Ok(body) => (body, None),
                Err(error) => (None, Some(error.to_string())),
            };
            NewDelivery {
                target: choice.target.to_owned(),
                route: choice.route.to_owned(),
                body,
                unrendered,
            }
        })
        .collect();
    Routed {
        matched: rendered.matched.iter().map(|r| (*r).to_owned()).collect(),
        deliveries,
        keys: source.keys.of(doc),
    }
}

/// Whether this thread is a worker of a multi-threaded tokio runtime, the
/// only place `block_in_place` is allowed (it panics on a current-thread
/// runtime, where there is no other worker to hand tasks to; there the work
/// stays inline, as it must).
fn may_block_in_place() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}
