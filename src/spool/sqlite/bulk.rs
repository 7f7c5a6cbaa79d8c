//! Bulk actions on a spool file: counting what a filter selects for an
//! action, and applying the action one batch at a time, each batch its own
//! short `IMMEDIATE` transaction (the relay's writer waits at most one
//! batch). Safe beside a running relay: an outcome stored meanwhile only
//! changes rows `WHERE state = 'pending'`, so it never undoes a cancel.
//! Must not decide what is selected (`spool::bulk` and `spool::filter`
//! do) nor render bodies (the caller does).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::spool::bulk::{self, Action, Batch, Pended, Rerendered, Scope, Selected, Unrendered};
use crate::spool::filter::{Dialect, Sql, SqlValue};
use crate::spool::{Pending, SpoolError, bulk::cancelled_by};
use crate::time::now_ms;

/// The condition's values as SQLite values.
fn values(sql: &Sql) -> Vec<Value> {
    sql.values
        .iter()
        .map(|v| match v {
            SqlValue::Text(t) => Value::Text(t.clone()),
            SqlValue::Int(i) => Value::Integer(*i),
        })
        .collect()
}

/// How many deliveries `action` would touch within `scope`, and the highest
/// delivery id now.
pub fn count(conn: &Connection, action: Action, scope: &Scope) -> Result<Selected, SpoolError> {
    let sql = bulk::selected(action, scope, Dialect::Sqlite, 1);
    let (count, through) = conn.query_row(
        &format!(
            "SELECT COUNT(*), (SELECT COALESCE(MAX(id), 0) FROM deliveries)
             FROM deliveries d JOIN events e ON e.id = d.event_id WHERE {}",
            sql.text
        ),
        rusqlite::params_from_iter(values(&sql)),
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    )?;
    Ok(Selected {
        count: count.max(0) as u64,
        through,
    })
}

/// The next batch, in id order: each id, whether the pending count counts
/// it now (pending or parked), and its body size.
fn pick(
    tx: &Transaction<'_>,
    sql: &Sql,
    limit: usize,
) -> Result<Vec<(i64, bool, u64)>, SpoolError> {
    let mut stmt = tx.prepare(&format!(
        "SELECT d.id, d.state IN ('pending', 'parked'), d.size
         FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE {} ORDER BY d.id LIMIT {limit}",
        sql.text
    ))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(values(sql)), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Applies `action` in place to the next batch within `scope` (a replay's
/// unrendered deliveries excepted: see [`unrendered`]). `who` is named in a
/// cancelled delivery's `last_error`.
pub fn apply(
    conn: &Connection,
    action: Action,
    scope: &Scope,
    who: &str,
) -> Result<Batch, SpoolError> {
    let sql = bulk::changed(action, scope, Dialect::Sqlite, 1);
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let picked = pick(&tx, &sql, scope.limit)?;
    let now = now_ms();
    let mut changed = Vec::with_capacity(picked.len());
    let mut moved = Pending::default();
    {
        let (set, error) = match action {
            Action::Replay { .. } => (
                "state = 'pending', attempts = 0, due_at = ?1, last_error = NULL, last_class = NULL",
                None,
            ),
            Action::Cancel => (
                "state = 'cancelled', last_error = ?3",
                Some(cancelled_by(who)),
            ),
        };
        let mut update = tx.prepare(&format!(
            "UPDATE deliveries AS d SET {set}, updated_at = ?1 WHERE d.id = ?2 AND {}",
            action.changes()
        ))?;
        for &(id, counted, size) in &picked {
            let n = match &error {
                Some(error) => update.execute(params![now, id, error])?,
                None => update.execute(params![now, id])?,
            };
            if n == 0 {
                continue;
            }
            changed.push(id);
            // A replay counts what it makes pending; a cancel stops
            // counting what it cancels (all pending).
            if matches!(action, Action::Cancel) == counted {
                moved.deliveries += 1;
                moved.bytes += size;
            }
        }
    }
    tx.commit()?;
    Ok(Batch {
        scanned: picked.len(),
        last: picked.last().map(|p| p.0),
        changed,
        moved,
    })
}

/// The next batch of unrendered deliveries within `scope`, with their
/// webhooks.
pub fn unrendered(conn: &Connection, scope: &Scope) -> Result<Vec<Unrendered>, SpoolError> {
    let sql = bulk::unrendered(scope, Dialect::Sqlite, 1);
    let mut stmt = conn.prepare(&format!(
        "SELECT d.id, e.source, e.headers, e.body, d.target, d.route
         FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE {} ORDER BY d.id LIMIT {}",
        sql.text, scope.limit
    ))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(values(&sql)), |r| {
            Ok(Unrendered {
                id: r.get(0)?,
                source: r.get(1)?,
                headers: r.get(2)?,
                body: bytes::Bytes::from(r.get::<_, Vec<u8>>(3)?),
                target: r.get(4)?,
                route: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Stores what rendering unrendered deliveries again came to: a body makes
/// its delivery pending (due now, attempts reset), an error is kept as its
/// `last_error`. Returns those made pending.
pub fn rerendered(conn: &Connection, results: &[Rerendered]) -> Result<Pended, SpoolError> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let now = now_ms();
    let mut pended = Pended::default();
    {
        let mut own = tx.prepare(
            "UPDATE deliveries SET state = 'pending', attempts = 0, due_at = ?1, updated_at = ?1,
                 last_error = NULL, last_class = NULL, size = ?3
             WHERE id = ?2 AND state = 'unrendered' RETURNING size",
        )?;
        let mut raw = tx.prepare(
            "UPDATE deliveries SET state = 'pending', attempts = 0, due_at = ?1, updated_at = ?1,
                 last_error = NULL, last_class = NULL,
                 size = (SELECT length(e.body) FROM events e WHERE e.id = deliveries.event_id)
             WHERE id = ?2 AND state = 'unrendered' RETURNING size",
        )?;
        let mut failed = tx.prepare(
            "UPDATE deliveries SET last_error = ?3, updated_at = ?1 WHERE id = ?2 AND state = 'unrendered'",
        )?;
        let mut store =
            tx.prepare("INSERT OR REPLACE INTO delivery_bodies (id, body) VALUES (?1, ?2)")?;
        let mut forget = tx.prepare("DELETE FROM delivery_bodies WHERE id = ?1")?;
        for r in results {
            let size: Option<i64> = match &r.body {
                Ok(Some(body)) => {
                    let size = own
                        .query_row(params![now, r.id, body.len() as i64], |r| r.get(0))
                        .optional()?;
                    if size.is_some() {
                        store.execute(params![r.id, body.as_ref()])?;
                    }
                    size
                }
                Ok(None) => {
                    let size = raw.query_row(params![now, r.id], |r| r.get(0)).optional()?;
                    if size.is_some() {
                        forget.execute(params![r.id])?;
                    }
                    size
                }
                Err(error) => {
                    failed.execute(params![now, r.id, error])?;
                    None
                }
            };
            if let Some(size) = size {
                pended.ids.push(r.id);
                pended.moved.deliveries += 1;
                pended.moved.bytes += size.max(0) as u64;
            }
        }
    }
    tx.commit()?;
    Ok(pended)
}
