//! `POST /api/deliveries/replay` and `/cancel`: a bulk action on every
//! delivery an event filter selects. A dry run answers the count and
//! touches nothing; a real run records a job, writes the audit log, starts
//! the job (`jobs`) and answers 202 with its id. An empty filter is
//! refused unless the body says `"all": true`. Must not change deliveries
//! itself: the job does, batch by batch.

use std::sync::Arc;

use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use warp::reply::{Reply, Response};

use super::filter::from_json;
use super::input::parse_body;
use super::jobs::{begin, run};
use super::problem::Problem;
use super::{Admin, Control};
use crate::spool::audit::AuditEntry;
use crate::spool::bulk::{Action, Scope};
use crate::spool::{EventFilter, Ledger};

/// Most deliveries one batch may change.
const MAX_BATCH: usize = 5_000;

const EXAMPLE: &str = r#"{"filter": {"target": "crm", "states": ["dead"], "since": "2026-11-01T14:00:00Z", "until": "2026-11-01T15:00:00Z"}, "dry_run": true}"#;

/// Which bulk action a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Replay,
    Cancel,
}

/// The request body (the command line sends the same).
#[derive(Debug, Default, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The event filter, as the event search reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    /// Count only.
    #[serde(default)]
    pub dry_run: bool,
    /// An empty filter means every delivery: said explicitly.
    #[serde(default)]
    pub all: bool,
    /// A replay takes delivered deliveries too.
    #[serde(default)]
    pub include_delivered: bool,
    /// Deliveries per batch (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
}

fn bad(message: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, message)
}

fn failed(error: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
}

/// The action and the deliveries a request asks for, or why it is
/// refused (a 400); durations ago in the filter count from `now_ms`.
pub fn check(kind: Kind, request: &Request, now_ms: i64) -> Result<(Action, Scope), String> {
    let filter = from_json(request.filter.clone().unwrap_or_else(|| json!({})), now_ms)
        .map_err(|e| format!("{e}; send {EXAMPLE}"))?;
    if filter.is_empty() && !request.all {
        return Err(format!(
            "an empty filter selects every delivery: narrow it, or send \"all\": true; for example {EXAMPLE}"
        ));
    }
    let action = match kind {
        Kind::Replay => Action::Replay {
            include_delivered: request.include_delivered,
        },
        Kind::Cancel if request.include_delivered => {
            return Err(
                "include_delivered is for a replay; a cancel stops pending and retrying deliveries only"
                    .to_owned(),
            );
        }
        Kind::Cancel => Action::Cancel,
    };
    let limit = request.batch_size.unwrap_or(crate::spool::bulk::BATCH);
    if !(1..=MAX_BATCH).contains(&limit) {
        return Err(format!("batch_size must be between 1 and {MAX_BATCH}"));
    }
    Ok((
        action,
        Scope {
            limit,
            ..Scope::new(filter)
        },
    ))
}

/// The filter as the job and the audit log keep it.
pub fn shown(filter: &EventFilter, action: Action) -> Value {
    let mut value = serde_json::to_value(filter).unwrap_or_else(|_| json!({}));
    if let (
        Action::Replay {
            include_delivered: true,
        },
        Some(object),
    ) = (action, value.as_object_mut())
    {
        object.insert("include_delivered".to_owned(), true.into());
    }
    value
}

/// `POST /api/deliveries/replay` or `/cancel`, by the token named `who`.
pub(super) async fn act<C: Control>(
    admin: &Admin<C>,
    body: &[u8],
    kind: Kind,
    who: &str,
) -> Result<Response, Problem> {
    let request: Request = parse_body(body, EXAMPLE)?;
    let (action, scope) = check(kind, &request, crate::time::now_ms()).map_err(bad)?;
    let filter = shown(&scope.filter, action);
    let selected = admin
        .ledger
        .bulk_count(action, &scope)
        .await
        .map_err(failed)?;
    if request.dry_run {
        return Ok(
            warp::reply::json(&json!({"count": selected.count, "dry_run": true})).into_response(),
        );
    }
    let Some(slot) = admin.jobs.take(action.as_str()) else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            format!(
                "a {} job is already running in this relay: wait for it to end, or stop it (DELETE /api/jobs/<id>)",
                action.as_str()
            ),
        ));
    };
    let work = begin(&admin.ledger, action, scope, selected, filter, who)
        .await
        .map_err(failed)?;
    let id = work.id.clone();
    tokio::spawn(run(
        Arc::clone(&admin.relay),
        admin.ledger.clone(),
        work,
        slot,
    ));
    Ok(warp::reply::with_status(
        warp::reply::json(&json!({"job": id, "count": selected.count, "state": "running"})),
        StatusCode::ACCEPTED,
    )
    .into_response())
}

/// `GET /api/jobs/<id>`.
pub(super) async fn job<C: Control>(admin: &Admin<C>, id: &str) -> Result<Response, Problem> {
    match admin.ledger.job(id).await.map_err(failed)? {
        Some(job) => Ok(warp::reply::json(&job).into_response()),
        None => Err(Problem::new(StatusCode::NOT_FOUND, "no such job")),
    }
}

/// `DELETE /api/jobs/<id>`: asks the job to stop between two batches; 202
/// with the job while it runs, 200 once it has ended.
pub(super) async fn stop<C: Control>(
    admin: &Admin<C>,
    id: &str,
    who: &str,
) -> Result<Response, Problem> {
    let Some(job) = admin.ledger.job_stop(id).await.map_err(failed)? else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "no such job"));
    };
    let running = job.state == crate::spool::audit::JobState::Running;
    if running {
        super::audit::record(
            admin,
            AuditEntry {
                who: who.to_owned(),
                action: "stop".to_owned(),
                filter: Some(job.filter.clone()),
                count: Some(job.done),
                detail: Some(format!("job {id}")),
                ..AuditEntry::default()
            },
        )
        .await;
    }
    let code = if running {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(warp::reply::with_status(warp::reply::json(&job), code).into_response())
}
