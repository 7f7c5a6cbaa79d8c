//! Read-only views of a spool file for the status API and metrics: the
//! backlog per target. Reads only (the history's are in `search`).

use std::collections::HashMap;

use rusqlite::Connection;

use crate::spool::{Backlog, SpoolError};

/// Backlog per target name.
pub fn backlog(conn: &Connection) -> Result<HashMap<String, Backlog>, SpoolError> {
    let mut stmt = conn.prepare_cached(
        "SELECT target, state, COUNT(*), MIN(created_at) FROM deliveries WHERE state IN ('pending', 'parked', 'dead') GROUP BY target, state",
    )?;
    let mut out: HashMap<String, Backlog> = HashMap::new();
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    for row in rows {
        let (target, state, n, oldest) = row?;
        let entry = out.entry(target).or_default();
        match state.as_str() {
            "pending" => {
                entry.pending = n as u64;
                entry.oldest_pending_ms = Some(oldest);
            }
            "parked" => entry.parked = n as u64,
            _ => entry.dead = n as u64,
        }
    }
    Ok(out)
}
