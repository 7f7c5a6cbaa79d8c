//! Accept: one admitted webhook becomes an id and its deliveries.
//!
//! Routing happens here, once, with the config snapshot in force: what is
//! decided when the webhook arrives is what gets sent, whatever a later
//! reload says. Each target's body is rendered now, so a delivery carries
//! everything it needs. The durable spool slots in between this and
//! dispatch: the `Accepted` value is exactly what it will write.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;
use uuid::Uuid;

use crate::runtime::Runtime;
use crate::source::Source;
use crate::spool::NewDelivery;
use crate::transform::{RenderError, Transform};

/// What accepting one webhook decided.
#[derive(Debug)]
pub struct Accepted {
    /// Time-ordered id (UUIDv7).
    pub id: Uuid,
    /// Names of the matching routes, in order.
    pub matched: Vec<String>,
    /// One delivery per chosen target; an untransformed one carries no body
    /// of its own (it is the webhook's).
    pub deliveries: Vec<NewDelivery>,
    /// Targets whose body could not be rendered (a jq program failed on this
    /// payload), with the reason.
    pub failed: Vec<(String, RenderError)>,
}

/// Routes one webhook and renders each chosen target's body.
pub fn accept(
    runtime: &Runtime,
    source: &Source,
    headers: &HeaderMap,
    raw: &Bytes,
    doc: &Value,
) -> Accepted {
    let id = Uuid::now_v7();
    let event = source.event(headers, doc);
    let decision = runtime.routes.select(&event);
    let mut deliveries = Vec::with_capacity(decision.choices.len());
    let mut failed = Vec::new();
    for choice in &decision.choices {
        let body = match choice.transform {
            Transform::None => None,
            transform => match transform.render(raw, doc) {
                Ok(body) => Some(body),
                Err(error) => {
                    failed.push((choice.target.to_owned(), error));
                    continue;
                }
            },
        };
        deliveries.push(NewDelivery {
            target: choice.target.to_owned(),
            route: choice.route.to_owned(),
            body,
        });
    }
    Accepted {
        id,
        matched: decision.matched.iter().map(|r| (*r).to_owned()).collect(),
        deliveries,
        failed,
    }
}
