//! The SQL of what happens to stored deliveries inside the writer's
//! transaction: outcomes, claims, and the changes answered with a count
//! (dead-lettering removed targets, unparking). Statements only: no
//! batching, no replies, no windows.

use std::collections::HashSet;

use bytes::Bytes;
use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;

use crate::spool::command::Change;
use crate::spool::{AttemptLog, Claimed, Ready, Record};

/// Stores an outcome; returns the body size when the delivery left the
/// pending set (delivered or dead).
pub(super) fn record(
    tx: &Transaction<'_>,
    id: i64,
    outcome: &Record,
    log: &AttemptLog,
    now: i64,
) -> Result<Option<u64>, rusqlite::Error> {
    let class = log.class;
    let settle = |state: &str,
                  status: Option<u16>,
                  error: Option<&str>|
     -> Result<Option<u64>, rusqlite::Error> {
        // No RETURNING: SQLite gathers its rows in a temporary B-tree,
        // opened and closed for each statement (measured: 5% of the
        // writer's instructions per webhook went to that), where a second
        // look at the row just written costs an index step.
        let changed = tx
            .prepare_cached(
                "UPDATE deliveries SET state = ?2, attempts = attempts + 1, updated_at = ?3, last_status = ?4, last_error = ?5, last_class = ?6
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, state, now, status, error, class])?;
        if changed == 0 {
            return Ok(None);
        }
        tx.prepare_cached("SELECT size FROM deliveries WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, i64>(0))
            .map(|size| Some(size as u64))
    };
    let (updated, settled) = match outcome {
        Record::Delivered { status } => {
            let size = settle("delivered", Some(*status), None)?;
            (size.is_some(), size)
        }
        Record::Dead { status, error } => {
            let size = settle("dead", *status, Some(error))?;
            (size.is_some(), size)
        }
        Record::Retry {
            due_ms,
            status,
            error,
        } => {
            let changed = tx.prepare_cached(
                "UPDATE deliveries SET attempts = attempts + 1, due_at = ?2, updated_at = ?3, last_status = ?4, last_error = ?5, last_class = ?6
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, due_ms, now, status, error, class])?;
            (changed == 1, None)
        }
        Record::Parked { status, error } => {
            let changed = tx.prepare_cached(
                "UPDATE deliveries SET state = 'parked', attempts = attempts + 1, updated_at = ?2, last_status = ?3, last_error = ?4, last_class = ?5
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, now, status, error, class])?;
            (changed == 1, None)
        }
    };
    history(tx, id, log, updated)?;
    Ok(settled)
}

/// Keeps the attempt in the history, whatever became of its delivery
/// meanwhile (an operator may have cancelled it while it was in flight);
/// not when the delivery is gone. `updated`: the outcome's update found the
/// delivery, so the look for it is spared (the common case).
fn history(
    tx: &Transaction<'_>,
    id: i64,
    log: &AttemptLog,
    updated: bool,
) -> Result<(), rusqlite::Error> {
    macro_rules! insert {
        ($rows:literal) => {
            concat!(
                "INSERT OR IGNORE INTO attempts (delivery_id, attempt, started_at, duration_ms, status, error_class, error,
                                                 request_headers, response_headers, response_body) ",
                $rows
            )
        };
    }
    let sql = if updated {
        insert!("VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
    } else {
        insert!(
            "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?1)"
        )
    };
    tx.prepare_cached(sql)?.execute(params![
        id,
        log.attempt,
        log.started_ms,
        log.duration_ms,
        log.status,
        log.class,
        log.error,
        log.request_headers,
        log.response_headers,
        log.response_body.as_deref(),
    ])?;
    Ok(())
}

/// The due deliveries are listed first without their bodies, so that the
/// ones the dispatcher holds (the oldest, usually) cost an index read only;
/// the bodies of those taken are read one by one.
pub(super) fn claim(
    tx: &Transaction<'_>,
    target: &str,
    limit: usize,
    held: &[i64],
    now: i64,
) -> Result<Claimed, rusqlite::Error> {
    let skip: HashSet<i64> = held.iter().copied().collect();
    let asked = limit + skip.len();
    let mut select = tx.prepare_cached(
        "SELECT id, event_id, route, attempts FROM deliveries
         WHERE target = ?1 AND state = 'pending' AND due_at <= ?2
         ORDER BY due_at, id LIMIT ?3",
    )?;
    let mut rows = select.query(params![target, now, asked as i64])?;
    let (mut listed, mut due) = (0, Vec::new());
    while let Some(r) = rows.next()? {
        listed += 1;
        let id: i64 = r.get(0)?;
        if skip.contains(&id) {
            continue;
        }
        due.push((id, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?));
    }
    // Everything due was seen, and there was room for all of it.
    let exhausted = listed < asked && due.len() <= limit;
    due.truncate(limit);
    let ready = with_bodies(tx, target, due)?;
    let next_due_ms = tx
        .prepare_cached("SELECT MIN(due_at) FROM deliveries WHERE target = ?1 AND state = 'pending' AND due_at > ?2")?
        .query_row(params![target, now], |r| r.get::<_, Option<i64>>(0))?;
    Ok(Claimed {
        exhausted,
        ready,
        next_due_ms,
    })
}

/// The listed due deliveries `(id, event, route, attempts)` with their
/// bodies, one read each; one whose row went meanwhile is left out.
fn with_bodies(
    tx: &Transaction<'_>,
    target: &str,
    due: Vec<(i64, String, String, u32)>,
) -> Result<Vec<Ready>, rusqlite::Error> {
    let mut body = tx.prepare_cached(
        "SELECT COALESCE(b.body, e.body), e.trace FROM deliveries d JOIN events e ON e.id = d.event_id
         LEFT JOIN delivery_bodies b ON b.id = d.id WHERE d.id = ?1",
    )?;
    let mut ready = Vec::with_capacity(due.len());
    for (id, event, route, attempts) in due {
        let Some((bytes, trace)) = body
            .query_row([id], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .optional()?
        else {
            continue;
        };
        ready.push(Ready {
            id,
            event: Uuid::parse_str(&event).unwrap_or_default(),
            target: target.to_owned(),
            route,
            attempts,
            body: Bytes::from(bytes),
            trace: trace.as_deref().and_then(crate::trace::Context::stored_arc),
        });
    }
    Ok(ready)
}

/// Dead-letters the pending and parked deliveries of targets not in
/// `keep`; returns how many, and their bytes.
fn dead_letter_others(
    tx: &Transaction<'_>,
    keep: &[String],
    now: i64,
) -> Result<(u64, u64), rusqlite::Error> {
    let mut targets = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT DISTINCT target FROM deliveries WHERE state IN ('pending', 'parked')",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for target in rows {
            let target = target?;
            if !keep.contains(&target) {
                targets.push(target);
            }
        }
    }
    let (mut n, mut bytes) = (0, 0);
    for target in targets {
        let (count, size): (i64, i64) = tx.query_row(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM deliveries WHERE target = ?1 AND state IN ('pending', 'parked')",
            params![target],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        tx.execute(
            "UPDATE deliveries SET state = 'dead', updated_at = ?2, last_error = 'target removed from the config'
             WHERE target = ?1 AND state IN ('pending', 'parked')",
            params![target, now],
        )?;
        tracing::warn!(
            target,
            deliveries = count,
            "target no longer configured; its pending deliveries are dead letters now (replay them after adding it back)"
        );
        n += count as u64;
        bytes += size as u64;
    }
    Ok((n, bytes))
}

/// Applies one change; returns its count and the deliveries and bytes that
/// left the pending set.
pub(super) fn change(
    tx: &Transaction<'_>,
    change: &Change,
    now: i64,
) -> Result<(u64, (u64, u64)), rusqlite::Error> {
    match change {
        Change::DeadLetterOthers(keep) => {
            dead_letter_others(tx, keep, now).map(|settled| (settled.0, settled))
        }
        Change::Unpark(target) => Ok((unpark(tx, target, now)?, (0, 0))),
        // One relay per file: no leases to give up.
        Change::Release | Change::Nothing => Ok((0, (0, 0))),
    }
}

/// Makes `target`'s parked deliveries due; how many.
fn unpark(tx: &Transaction<'_>, target: &str, now: i64) -> Result<u64, rusqlite::Error> {
    let n = tx.execute(
        "UPDATE deliveries SET state = 'pending', due_at = ?2, updated_at = ?2 WHERE target = ?1 AND state = 'parked'",
        params![target, now],
    )?;
    Ok(n as u64)
}
