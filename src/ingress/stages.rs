//! What the spans of a webhook's ingress stages say (`verify`, `route`,
//! `commit`), from each stage's result; kept only for sampled traces.
//!
//! Watches only: must not change a result or decide anything.

use uuid::Uuid;

use super::outcome::Refusal;
use super::render::Routed;
use super::verify::Claim;
use crate::spool::{Admitted, SpoolError};
use crate::trace::{Request, Value};

/// The `verify` stage, begun at `began`: accepted, a replay, or refused.
pub(super) fn verified(t: &mut Request, began: u64, verdict: &Result<Option<Claim>, Refusal>) {
    let (result, error) = match verdict {
        Ok(Some(_)) => ("accepted", None),
        Ok(None) => ("replay", None),
        Err(Refusal::Signature(reason)) => ("rejected", Some(reason.clone())),
        Err(_) => ("rejected", None),
    };
    let attributes = vec![("switchboard.verify", Value::Text(result.to_owned()))];
    t.stage("verify", began, attributes, error);
}

/// The `route` stage: the routes that matched and the targets chosen.
pub(super) fn routed(t: &mut Request, began: u64, routed: &Routed) {
    let targets = routed.deliveries.iter().map(|d| d.target.clone()).collect();
    let attributes = vec![
        ("switchboard.routes", Value::List(routed.matched.clone())),
        ("switchboard.targets", Value::List(targets)),
    ];
    t.stage("route", began, attributes, None);
}

/// The `commit` stage: the webhook `id` and its `deliveries` written
/// durably, a duplicate, or not written; the ingress span learns the id.
pub(super) fn committed(
    t: &mut Request,
    began: u64,
    id: Uuid,
    deliveries: usize,
    admitted: &Result<Admitted, SpoolError>,
) {
    let (result, error) = match admitted {
        Ok(Admitted::Stored) => ("stored", None),
        Ok(Admitted::Duplicate) => ("duplicate", None),
        Err(e) => ("failed", Some(e.to_string())),
    };
    let mut attributes = vec![("switchboard.commit", Value::Text(result.to_owned()))];
    if matches!(admitted, Ok(Admitted::Stored)) {
        attributes.push(("switchboard.webhook.id", Value::Text(id.to_string())));
        attributes.push(("switchboard.deliveries", Value::Int(deliveries as i64)));
        t.set("switchboard.webhook.id", Value::Text(id.to_string()));
    }
    t.stage("commit", began, attributes, error);
}
