//! The targets' endpoints: `GET /api/targets` (each target's state, backlog
//! and recent counts), `GET /api/targets/<name>/series` (its counts per
//! minute) and the operator's actions `POST /api/targets/<name>/pause`,
//! `/resume` and `/probe`. Reads the spool through the ledger and the
//! relay through [`Control`]; must not touch delivery logic.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use http::StatusCode;
use serde_json::{Value, json};
use warp::reply::{Reply, Response};

use super::guard::TargetAction;
use super::problem::Problem;
use super::{Admin, Control, PauseError};
use crate::dispatch::circuit::Status;
use crate::dispatch::controls::{ProbeError, Probed};
use crate::dispatch::series::{MINUTES, Totals};
use crate::spool::audit::AuditEntry;
use crate::spool::{Ledger, TargetControl};

/// How much longer than the target's timeout a probe's answer is waited
/// for (a rate-limit wait, storing the outcome) before answering 202.
const PROBE_SLACK: Duration = Duration::from_secs(2);

/// A target's state, one word: `paused` (by an operator), `parked` (it
/// answered 410: disabled until a reload, its deliveries parked),
/// `circuit_open`, `half_open` or `active`.
fn state(paused: bool, circuit: Status) -> &'static str {
    match (paused, circuit) {
        (true, _) => "paused",
        (false, Status::Disabled) => "parked",
        (false, Status::Open) => "circuit_open",
        (false, Status::HalfOpen) => "half_open",
        (false, Status::Closed) => "active",
    }
}

/// `GET /api/targets`.
pub(super) async fn list<C: Control>(admin: &Admin<C>) -> Result<Response, Problem> {
    let runtime = admin.relay.runtime();
    let backlog = admin.ledger.backlog().await.map_err(internal)?;
    let controls: HashMap<String, TargetControl> = admin
        .ledger
        .controls()
        .await
        .map_err(internal)?
        .into_iter()
        .map(|c| (c.target.clone(), c))
        .collect();
    let circuits = admin.relay.circuits();
    let paused = admin.relay.paused();
    let now = crate::time::now_ms();
    let mut names: Vec<&String> = runtime.targets.keys().collect();
    names.sort();
    let targets: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let b = backlog.get(name).cloned().unwrap_or_default();
            let is_paused = paused.contains(name);
            let circuit = circuits.get(name).copied().unwrap_or_default();
            let control = controls.get(name).filter(|c| c.paused == is_paused);
            let (last_5m, last_1h) = admin.relay.series(name).map_or_else(
                || (Totals::default(), Totals::default()),
                |s| s.with(|ring| (ring.totals(now, 5), ring.totals(now, 60))),
            );
            json!({
                "name": name,
                "state": state(is_paused, circuit),
                "paused": is_paused,
                "paused_ms": control.filter(|_| is_paused).map(|c| c.changed_ms),
                "paused_at": control.filter(|_| is_paused).map(|c| rfc3339(c.changed_ms)),
                "paused_by": control.filter(|_| is_paused).and_then(|c| c.changed_by.clone()),
                "circuit": circuit,
                "pending": b.pending.saturating_sub(b.retrying),
                "retrying": b.retrying,
                "parked": b.parked,
                "dead": b.dead,
                "oldest_pending_ms": b.oldest_pending_ms,
                "oldest_pending_at": b.oldest_pending_ms.map(rfc3339),
                "oldest_pending_age_seconds": b.oldest_pending_ms.map(|t| (now - t).max(0) as f64 / 1000.0),
                "last_5m": last_5m,
                "last_1h": last_1h,
            })
        })
        .collect();
    Ok(warp::reply::json(&json!({ "targets": targets })).into_response())
}

/// `GET /api/targets/<name>/series?window=1h|24h` (1h by default).
pub(super) fn series<C: Control>(
    admin: &Admin<C>,
    name: &str,
    query: &str,
) -> Result<Response, Problem> {
    let mut minutes = 60;
    let mut window = "1h".to_owned();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match (key.as_ref(), value.as_ref()) {
            ("window", "1h") => minutes = 60,
            ("window", "24h") => minutes = MINUTES,
            ("window", other) => {
                return Err(bad(format!(
                    "window: `{other}` is not a window; use window=1h or window=24h"
                )));
            }
            (other, _) => {
                return Err(bad(format!(
                    "unknown parameter `{other}`; this takes window"
                )));
            }
        }
        window = value.into_owned();
    }
    let series = admin.relay.series(name).ok_or_else(|| unknown(name))?;
    let now = crate::time::now_ms();
    let points = series.with(|ring| ring.points(now, minutes));
    Ok(warp::reply::json(&json!({
        "target": name,
        "window": window,
        "minutes": points,
    }))
    .into_response())
}

/// `POST /api/targets/<name>/pause|resume|probe`; `by` is the token's name.
pub(super) async fn act<C: Control>(
    admin: &Admin<C>,
    name: &str,
    action: TargetAction,
    by: Option<String>,
) -> Result<Response, Problem> {
    let answer = match action {
        TargetAction::Pause | TargetAction::Resume => {
            let paused = action == TargetAction::Pause;
            let changed = admin
                .relay
                .set_paused(name, paused, by.clone())
                .await
                .map_err(|e| match e {
                    PauseError::Unknown => unknown(name),
                    PauseError::Spool(e) => internal(e),
                })?;
            (
                StatusCode::OK,
                json!({"target": name, "paused": paused, "changed": changed}),
            )
        }
        TargetAction::Probe => probe(admin, name).await?,
    };
    audit_action(admin, by.as_deref(), action.label(), name, &answer.1).await;
    Ok(warp::reply::with_status(warp::reply::json(&answer.1), answer.0).into_response())
}

/// Asks for a probe and waits for its attempt up to the target's timeout
/// (and a little): 200 with what happened, or 202 when it is still on its
/// way.
async fn probe<C: Control>(admin: &Admin<C>, name: &str) -> Result<(StatusCode, Value), Problem> {
    let timeout = admin
        .relay
        .runtime()
        .targets
        .get(name)
        .map(|t| t.timeout)
        .ok_or_else(|| unknown(name))?;
    let answer = admin.relay.probe(name).await.map_err(|e| match e {
        ProbeError::Unknown => unknown(name),
        ProbeError::Paused | ProbeError::Busy => {
            Problem::new(StatusCode::CONFLICT, format!("target `{name}`: {e}"))
        }
    })?;
    Ok(
        match tokio::time::timeout(timeout + PROBE_SLACK, answer).await {
            Ok(Ok(Probed::Sent(attempt))) => (
                StatusCode::OK,
                json!({"target": name, "probe": "sent", "attempt": attempt}),
            ),
            Ok(Ok(Probed::NothingDue)) => (
                StatusCode::OK,
                json!({"target": name, "probe": "nothing_due"}),
            ),
            Ok(Ok(Probed::Disabled)) => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    format!(
                        "target `{name}` answered 410 Gone and is disabled until the next reload"
                    ),
                ));
            }
            // Not answered in time, or the worker went on to another probe.
            _ => (
                StatusCode::ACCEPTED,
                json!({"target": name, "probe": "started"}),
            ),
        },
    )
}

/// The one place an operator's action on a target is written to the audit
/// log: who (`by`, the token's name), what (`action`), on which target,
/// and what came of it.
async fn audit_action<C: Control>(
    admin: &Admin<C>,
    by: Option<&str>,
    action: &str,
    target: &str,
    outcome: &Value,
) {
    let entry = AuditEntry {
        who: by.unwrap_or(super::audit::ANONYMOUS).to_owned(),
        action: action.to_owned(),
        target: Some(target.to_owned()),
        detail: Some(outcome.to_string()),
        ..AuditEntry::default()
    };
    super::audit::record(admin, entry).await;
}

fn unknown(name: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, format!("no target named `{name}`"))
}

fn bad(message: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, message)
}

fn internal(error: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
}

/// Unix ms as RFC 3339, for people.
fn rfc3339(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}
