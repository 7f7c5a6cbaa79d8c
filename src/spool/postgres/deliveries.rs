//! The SQL of what happens to stored deliveries inside a replica's writer
//! transaction: outcomes, claims (leases taken), leases given up, and the
//! changes answered with a count. Statements only: no batching, no
//! replies, no windows.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use deadpool_postgres::Transaction;
use uuid::Uuid;

use super::accept::text;
use super::writer::Recorded;
use crate::spool::command::Change;
use crate::spool::{AttemptLog, Claimed, Ready, Record, SpoolError};

const RELEASE_SOME: &str = "UPDATE deliveries SET leased_by = NULL, leased_until = NULL WHERE id = ANY($1) AND leased_by = $2";

/// Gives up this replica's leases of `ids` (fresh deliveries no window
/// took), so that whichever replica has room claims them.
pub(super) async fn release(tx: &Transaction<'_>, ids: &[i64], me: &str) -> Result<(), SpoolError> {
    if !ids.is_empty() {
        let stmt = tx.prepare_cached(RELEASE_SOME).await?;
        tx.execute(&stmt, &[&ids, &me]).await?;
    }
    Ok(())
}

// Only a pending delivery takes an outcome (an expired lease may have let
// another replica finish it first). The lease ends with the attempt.
const RECORD: &str = "UPDATE deliveries d SET
         state = u.state, attempts = d.attempts + 1,
         due_at = COALESCE(u.due_at, d.due_at), updated_at = $6,
         last_status = u.status, last_error = u.error, last_class = u.class,
         leased_by = NULL, leased_until = NULL
     FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::integer[], $5::text[], $7::text[])
          AS u(id, state, due_at, status, error, class)
     WHERE d.id = u.id AND d.state = 'pending'
     RETURNING d.state, d.size";

/// Stores outcomes; returns the deliveries and bytes that left the pending
/// set (delivered or dead).
pub(super) async fn record(
    tx: &Transaction<'_>,
    records: &[Recorded],
    now: i64,
) -> Result<(u64, u64), SpoolError> {
    if records.is_empty() {
        return Ok((0, 0));
    }
    history(tx, records).await?;
    // One outcome per row (the last), in id order: concurrent transactions
    // then lock rows in the same order.
    let last: BTreeMap<i64, (&Record, &AttemptLog)> = records
        .iter()
        .map(|(id, r, log)| (*id, (r, log.as_ref())))
        .collect();
    let n = last.len();
    let (mut ids, mut states, mut dues, mut statuses, mut errors) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut classes = Vec::with_capacity(n);
    for (id, (outcome, log)) in last {
        classes.push(log.class);
        let (state, due, status, error): (&str, Option<i64>, Option<u16>, Option<&str>) =
            match outcome {
                Record::Delivered { status } => ("delivered", None, Some(*status), None),
                Record::Retry {
                    due_ms,
                    status,
                    error,
                } => ("pending", Some(*due_ms), *status, Some(error)),
                Record::Dead { status, error } => ("dead", None, *status, Some(error)),
                Record::Parked { status, error } => ("parked", None, Some(*status), Some(error)),
            };
        ids.push(id);
        states.push(state);
        dues.push(due);
        statuses.push(status.map(i32::from));
        errors.push(error.map(text));
    }
    let stmt = tx.prepare_cached(RECORD).await?;
    let rows = tx
        .query(
            &stmt,
            &[&ids, &states, &dues, &statuses, &errors, &now, &classes],
        )
        .await?;
    let mut settled = (0, 0);
    for row in rows {
        let state: &str = row.get(0);
        if state == "delivered" || state == "dead" {
            settled.0 += 1;
            settled.1 += row.get::<_, i64>(1) as u64;
        }
    }
    Ok(settled)
}

// Every attempt is kept, whatever became of its delivery meanwhile (an
// operator may have cancelled it while it was in flight); not when the
// delivery is gone.
const HISTORY: &str = "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status,
                               error_class, error, request_headers, response_headers,
                               response_body)
     SELECT u.* FROM UNNEST($1::bigint[], $2::integer[], $3::bigint[], $4::bigint[],
                            $5::integer[], $6::text[], $7::text[], $8::text[], $9::text[],
                            $10::bytea[])
          AS u(delivery_id, attempt, started_at, duration_ms, status, error_class, error,
               request_headers, response_headers, response_body)
     WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = u.delivery_id)";

/// Keeps the batch's attempts in the history.
async fn history(tx: &Transaction<'_>, records: &[Recorded]) -> Result<(), SpoolError> {
    let n = records.len();
    let mut ids = Vec::with_capacity(n);
    let mut attempts = Vec::with_capacity(n);
    let mut started = Vec::with_capacity(n);
    let mut durations = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut classes = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    let mut sent = Vec::with_capacity(n);
    let mut answered = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    for (id, _, log) in records {
        ids.push(*id);
        attempts.push(log.attempt as i32);
        started.push(log.started_ms);
        durations.push(log.duration_ms);
        statuses.push(log.status.map(i32::from));
        classes.push(log.class);
        errors.push(log.error.as_deref().map(text));
        sent.push(text(&log.request_headers));
        answered.push(text(&log.response_headers));
        bodies.push(log.response_body.as_deref());
    }
    let stmt = tx.prepare_cached(HISTORY).await?;
    tx.execute(
        &stmt,
        &[
            &ids, &attempts, &started, &durations, &statuses, &classes, &errors, &sent, &answered,
            &bodies,
        ],
    )
    .await?;
    Ok(())
}

const DEAD_LETTER_OTHERS: &str = "UPDATE deliveries SET state = 'dead', updated_at = $2,
         last_error = 'target removed from the config', leased_by = NULL, leased_until = NULL
     WHERE state IN ('pending', 'parked') AND target <> ALL($1::text[])
     RETURNING target, size";

const UNPARK: &str = "UPDATE deliveries SET state = 'pending', due_at = $2, updated_at = $2
     WHERE target = $1 AND state = 'parked'";

const RELEASE_ALL: &str =
    "UPDATE deliveries SET leased_by = NULL, leased_until = NULL WHERE leased_by = $1";

/// Applies one change; returns its count and what left the pending set.
pub(super) async fn change_state(
    tx: &Transaction<'_>,
    change: &Change,
    now: i64,
    me: &str,
) -> Result<(u64, (u64, u64)), SpoolError> {
    match change {
        Change::DeadLetterOthers(keep) => {
            let stmt = tx.prepare_cached(DEAD_LETTER_OTHERS).await?;
            let rows = tx.query(&stmt, &[keep, &now]).await?;
            let mut by_target: HashMap<String, u64> = HashMap::new();
            let mut bytes = 0;
            for row in &rows {
                *by_target.entry(row.get(0)).or_default() += 1;
                bytes += row.get::<_, i64>(1) as u64;
            }
            for (target, deliveries) in by_target {
                tracing::warn!(
                    target,
                    deliveries,
                    "target no longer configured; its pending deliveries are dead letters now (replay them after adding it back)"
                );
            }
            let n = rows.len() as u64;
            Ok((n, (n, bytes)))
        }
        Change::Unpark(target) => {
            let stmt = tx.prepare_cached(UNPARK).await?;
            Ok((tx.execute(&stmt, &[target, &now]).await?, (0, 0)))
        }
        Change::Release => {
            let stmt = tx.prepare_cached(RELEASE_ALL).await?;
            let n = tx.execute(&stmt, &[&me]).await?;
            tx.execute("DELETE FROM replicas WHERE id = $1", &[&me])
                .await?;
            Ok((n, (0, 0)))
        }
        Change::Nothing => Ok((0, (0, 0))),
    }
}

// Due, pending, and not leased to a live replica (or leased to this one: a
// window that overflowed or was released takes its own back). SKIP LOCKED:
// rows another replica is claiming or recording right now are left to it.
const CLAIM: &str =
    "UPDATE deliveries d SET leased_by = $4, leased_until = switchboard_now_ms() + $5
     FROM events e
     WHERE e.id = d.event_id AND d.id IN (
         SELECT id FROM deliveries
         WHERE target = $1 AND state = 'pending' AND due_at <= $2
           AND (leased_by IS NULL OR leased_by = $4 OR leased_until < switchboard_now_ms())
           AND NOT (id = ANY($6))
         ORDER BY due_at, id
         LIMIT $3
         FOR UPDATE SKIP LOCKED)
     RETURNING d.id, d.event_id, d.route, d.attempts, COALESCE(d.body, e.body), d.due_at, e.trace";

const NEXT_DUE: &str = "SELECT MIN(due_at) FROM deliveries
     WHERE target = $1 AND state = 'pending' AND due_at > $2";

/// Leases up to `limit` due deliveries of `target` to `me`, leaving out
/// `held`; oldest due first.
pub(super) async fn claim(
    tx: &Transaction<'_>,
    target: &str,
    limit: usize,
    held: &[i64],
    now: i64,
    me: &str,
    lease_ms: i64,
) -> Result<Claimed, SpoolError> {
    let stmt = tx.prepare_cached(CLAIM).await?;
    let rows = tx
        .query(
            &stmt,
            &[&target, &now, &(limit as i64), &me, &lease_ms, &held],
        )
        .await?;
    let mut ready: Vec<(i64, Ready)> = rows
        .into_iter()
        .map(|r| {
            (
                r.get::<_, i64>(5),
                Ready {
                    id: r.get(0),
                    event: r.get::<_, Uuid>(1),
                    target: target.to_owned(),
                    route: r.get(2),
                    attempts: r.get::<_, i32>(3).max(0) as u32,
                    body: Bytes::from(r.get::<_, Vec<u8>>(4)),
                    trace: r
                        .get::<_, Option<&str>>(6)
                        .and_then(crate::trace::Context::stored_arc),
                },
            )
        })
        .collect();
    // RETURNING has no order of its own.
    ready.sort_by_key(|(due, r)| (*due, r.id));
    let stmt = tx.prepare_cached(NEXT_DUE).await?;
    let next_due_ms: Option<i64> = tx.query_one(&stmt, &[&target, &now]).await?.get(0);
    Ok(Claimed {
        exhausted: ready.len() < limit,
        ready: ready.into_iter().map(|(_, r)| r).collect(),
        next_due_ms,
    })
}
