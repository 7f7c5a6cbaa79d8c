//! The audit log: recording an operator's action (every endpoint that acts
//! calls [`record`]) and `GET /api/audit?limit=&cursor=`, newest first.
//! Who acted is the admin token's name, or `anonymous` when the API has no
//! token (loopback only). Must not decide whether an action is allowed:
//! the guards did.

use http::StatusCode;
use serde_json::json;
use warp::reply::{Reply, Response};

use super::problem::Problem;
use super::{Admin, Control};
use crate::spool::Ledger;
use crate::spool::audit::AuditEntry;

/// The name recorded when the API has no token.
pub const ANONYMOUS: &str = "anonymous";

/// Entries per page unless `limit` says otherwise, and at most.
const PAGE: usize = 50;
const MAX_PAGE: usize = 500;

/// Records `entry`. A failure is logged, not answered: the action itself
/// is done by then.
pub(super) async fn record<C: Control>(admin: &Admin<C>, entry: AuditEntry) {
    tracing::info!(who = %entry.who, action = %entry.action, target = entry.target.as_deref().unwrap_or(""), count = entry.count.unwrap_or(-1), "operator action");
    if let Err(error) = admin.ledger.audit(entry).await {
        tracing::error!(%error, "could not write the audit log");
    }
}

/// `GET /api/audit?limit=&cursor=`.
pub(super) async fn list<C: Control>(admin: &Admin<C>, query: &str) -> Result<Response, Problem> {
    let bad = |message: String| Problem::new(StatusCode::BAD_REQUEST, message);
    let mut limit = PAGE;
    let mut before = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        bad(format!(
                            "limit `{value}` must be a number from 1 to {MAX_PAGE}"
                        ))
                    })?
            }
            "cursor" => {
                before = Some(value.parse::<i64>().map_err(|_| {
                    bad(format!(
                        "cursor `{value}` is not one this API gave (next_cursor)"
                    ))
                })?)
            }
            other => {
                return Err(bad(format!(
                    "unknown query parameter `{other}`; use limit or cursor"
                )));
            }
        }
    }
    let entries = admin
        .ledger
        .audit_log(limit, before)
        .await
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(warp::reply::json(&json!({"entries": entries, "next_cursor": next})).into_response())
}
