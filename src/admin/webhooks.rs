//! The endpoints over what the spool holds, read and changed through the
//! backend's [`Ledger`] (a connection of its own): one webhook's story
//! (`GET /api/events/<id>`), the dead letters (`GET /api/dead-letters`),
//! and replaying or purging them (`POST /api/dead-letters/replay|purge`).
//! Must not touch delivery logic: a replay only makes dead letters due
//! again, and wakes the workers.

use http::StatusCode;
use serde_json::json;
use warp::reply::{Reply, Response};

use super::dead_letters::{SelectError, Selection, Use, audited};
use super::input::{SELECTION_EXAMPLE, parse_body, selection_from_query};
use super::problem::{Problem, error};
use super::{Admin, Control};
use crate::spool::{DeadFilter, Ledger};

/// What a `POST` does to the dead letters it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Replay,
    Purge,
}

/// `GET /api/events/<id>`.
pub(super) async fn event<C: Control>(admin: &Admin<C>, id: &str) -> Response {
    match admin.ledger.event(id).await {
        Ok(Some(event)) => warp::reply::json(&event).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "no such webhook in the spool (unknown, or pruned after its retention)",
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `GET /api/dead-letters?target=…&event=…&before=…`.
pub(super) async fn list<C: Control>(admin: &Admin<C>, query: &str) -> Result<Response, Problem> {
    let selection = selection_from_query(query)?;
    let filter = select(admin, selection, Use::List).await?;
    Ok(match admin.ledger.dead_letters(&filter).await {
        Ok(dead) => warp::reply::json(&json!({"dead_letters": dead})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    })
}

/// `POST /api/dead-letters/replay` or `/purge`, with a selection as body.
/// A replay is the bulk replay of the dead deliveries the selection names,
/// answered when done (`crate::spool::bulk`).
pub(super) async fn change<C: Control>(
    admin: &Admin<C>,
    body: &[u8],
    change: Change,
    who: &str,
) -> Result<Response, Problem> {
    let selection: Selection = parse_body(body, SELECTION_EXAMPLE)?;
    let filter = select(admin, selection, Use::Change).await?;
    let (result, key) = match change {
        Change::Replay => (admin.ledger.replay(&filter).await, "replayed"),
        Change::Purge => (admin.ledger.purge(&filter).await, "purged"),
    };
    Ok(match result {
        Ok(n) => {
            let action = if change == Change::Replay {
                "replay"
            } else {
                "purge"
            };
            super::audit::record(admin, audited(who, action, &filter, n)).await;
            // A replay is picked up at once rather than at the next poll.
            admin.relay.wake_dispatch();
            let mut body = serde_json::Map::new();
            body.insert(key.to_owned(), n.into());
            warp::reply::json(&body).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    })
}

/// The selection checked against the config and the spool, or the answer
/// that says why not.
async fn select<C: Control>(
    admin: &Admin<C>,
    selection: Selection,
    used: Use,
) -> Result<DeadFilter, Problem> {
    let runtime = admin.relay.runtime();
    selection
        .check(used, &runtime, || admin.ledger.backlog())
        .await
        .map_err(|e| match e {
            SelectError::Spool(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            SelectError::Nothing => Problem::new(
                StatusCode::BAD_REQUEST,
                format!("{e}: send {SELECTION_EXAMPLE}"),
            ),
            other => Problem::new(StatusCode::BAD_REQUEST, other.to_string()),
        })
}
