//! Read-only views of a spool file for the status API and metrics: the
//! backlog per target, one webhook's story. Reads only.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::spool::{Backlog, DeliveryView, EventView, SpoolError};

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

/// The webhook with this id, if the spool still has it.
pub fn event(conn: &Connection, id: &str) -> Result<Option<EventView>, SpoolError> {
    let event = conn
        .query_row(
            "SELECT id, source, client_ip, received_at, routes, length(body) FROM events WHERE id = ?1",
            params![id],
            |r| {
                let routes: String = r.get(4)?;
                Ok(EventView {
                    id: r.get(0)?,
                    source: r.get(1)?,
                    client_ip: r.get(2)?,
                    received_ms: r.get(3)?,
                    routes: serde_json::from_str(&routes).unwrap_or_default(),
                    size: r.get::<_, i64>(5)? as usize,
                    deliveries: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut event) = event else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT target, route, state, attempts, last_status, last_error, due_at, updated_at
         FROM deliveries WHERE event_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![id], |r| {
        Ok(DeliveryView {
            target: r.get(0)?,
            route: r.get(1)?,
            state: r.get(2)?,
            attempts: r.get(3)?,
            last_status: r.get(4)?,
            last_error: r.get(5)?,
            due_ms: r.get(6)?,
            updated_ms: r.get(7)?,
        })
    })?;
    event.deliveries = rows.collect::<Result<_, _>>()?;
    Ok(Some(event))
}
