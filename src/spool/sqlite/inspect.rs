//! Views of a spool file for the status API and metrics: the backlog per
//! target (the history's reads are in `search`); and the paused targets
//! (read, and written by a pause or resume: the one write here); dead
//! letters by group.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use crate::spool::{Backlog, DeadGroup, DeliveryState, SpoolError, TargetControl};

/// Backlog per target name.
pub fn backlog(conn: &Connection) -> Result<HashMap<String, Backlog>, SpoolError> {
    let mut stmt = conn.prepare_cached(
        "SELECT target, state, COUNT(*), MIN(created_at), SUM(attempts > 0) FROM deliveries WHERE state IN ('pending', 'parked', 'dead') GROUP BY target, state",
    )?;
    let mut out: HashMap<String, Backlog> = HashMap::new();
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (target, state, n, oldest, retrying) = row?;
        let entry = out.entry(target).or_default();
        match state.as_str() {
            "pending" => {
                entry.pending = n as u64;
                entry.retrying = retrying.max(0) as u64;
                entry.oldest_pending_ms = Some(oldest);
            }
            "parked" => entry.parked = n as u64,
            _ => entry.dead = n as u64,
        }
    }
    Ok(out)
}

/// Every target an operator paused or resumed.
pub fn controls(conn: &Connection) -> Result<Vec<TargetControl>, SpoolError> {
    let mut stmt = conn.prepare_cached(
        "SELECT target, paused, changed_at, changed_by FROM target_controls ORDER BY target",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(TargetControl {
            target: r.get(0)?,
            paused: r.get::<_, i64>(1)? != 0,
            changed_ms: r.get(2)?,
            changed_by: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// See [`crate::spool::Ledger::due_now`].
pub fn due_now(conn: &Connection, target: &str, now_ms: i64) -> Result<bool, SpoolError> {
    let changed = conn.execute(
        "UPDATE deliveries SET due_at = ?2
         WHERE id = (SELECT id FROM deliveries WHERE target = ?1 AND state = 'pending'
                     ORDER BY due_at, id LIMIT 1)
           AND due_at > ?2",
        params![target, now_ms],
    )?;
    Ok(changed > 0)
}

/// Keeps a pause or a resume.
pub fn set_control(conn: &Connection, control: &TargetControl) -> Result<(), SpoolError> {
    conn.execute(
        "INSERT INTO target_controls (target, paused, changed_at, changed_by) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (target) DO UPDATE SET paused = excluded.paused, changed_at = excluded.changed_at, changed_by = excluded.changed_by",
        params![control.target, i64::from(control.paused), control.changed_ms, control.changed_by],
    )?;
    Ok(())
}

/// See [`crate::spool::Ledger::dead_groups`].
pub fn dead_groups(conn: &Connection) -> Result<Vec<DeadGroup>, SpoolError> {
    let mut stmt = conn.prepare_cached(&crate::spool::dead_groups_sql())?;
    let rows = stmt.query_map([], |r| {
        Ok(DeadGroup {
            target: r.get(0)?,
            state: DeliveryState::of(&r.get::<_, String>(1)?, 1),
            class: r.get(2)?,
            count: r.get::<_, i64>(3)?.max(0) as u64,
            oldest_ms: r.get(4)?,
            newest_ms: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
