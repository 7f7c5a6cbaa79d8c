//! Dead letters, for `dlq` commands working on the file directly (safe while
//! a relay runs: SQLite serialises the writers, and the relay rereads due
//! work every few seconds). List, replay, purge; nothing else is written.

use std::path::Path;

use rusqlite::{Connection, params};

use super::bulk;
use super::schema::open_connection;
use crate::spool::bulk::{Action, Scope};
use crate::spool::{DeadFilter, DeadLetter, SpoolError};

const REPLAY: Action = Action::Replay {
    include_delivered: false,
};

fn filter_sql(filter: &DeadFilter) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = String::from("d.state = 'dead'");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(target) = &filter.target {
        args.push(target.clone().into());
        sql.push_str(&format!(" AND d.target = ?{}", args.len()));
    }
    if !filter.events.is_empty() {
        let mut marks = Vec::new();
        for event in &filter.events {
            args.push(event.clone().into());
            marks.push(format!("?{}", args.len()));
        }
        sql.push_str(&format!(" AND d.event_id IN ({})", marks.join(", ")));
    }
    if let Some(before) = filter.before_ms {
        args.push(before.into());
        sql.push_str(&format!(" AND d.updated_at < ?{}", args.len()));
    }
    (sql, args)
}

/// Opens the spool file of a config (creating nothing new but the schema).
pub fn open(path: &Path) -> Result<Connection, SpoolError> {
    open_connection(path)
}

/// Lists dead letters, oldest first.
pub fn list(conn: &Connection, filter: &DeadFilter) -> Result<Vec<DeadLetter>, SpoolError> {
    let (cond, args) = filter_sql(filter);
    let mut stmt = conn.prepare(&format!(
        "SELECT d.id, d.event_id, d.target, d.route, d.attempts, d.last_status, d.last_error, e.received_at, d.updated_at
         FROM deliveries d JOIN events e ON e.id = d.event_id WHERE {cond} ORDER BY d.updated_at, d.id"
    ))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok(DeadLetter {
            id: r.get(0)?,
            event: r.get(1)?,
            target: r.get(2)?,
            route: r.get(3)?,
            attempts: r.get(4)?,
            last_status: r.get(5)?,
            last_error: r.get(6)?,
            received_ms: r.get(7)?,
            dead_ms: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Makes dead letters due again, with their attempt count reset: a replay
/// of the dead deliveries `filter` names, in batches (see `bulk`).
pub fn replay(conn: &Connection, filter: &DeadFilter) -> Result<usize, SpoolError> {
    let mut scope = Scope::from(filter);
    let mut replayed = 0;
    loop {
        let batch = bulk::apply(conn, REPLAY, &scope, "")?;
        replayed += batch.changed.len();
        match batch.last {
            Some(last) if !batch.finished(scope.limit) => scope.after = last,
            _ => return Ok(replayed),
        }
    }
}

/// Deletes dead letters (and events left with no deliveries).
pub fn purge(conn: &Connection, filter: &DeadFilter) -> Result<usize, SpoolError> {
    let (cond, args) = filter_sql(filter);
    // Three statements, each atomic on its own: a read transaction
    // upgraded to a write would fail at once ("database is locked")
    // whenever the relay's writer committed in between.
    let events: Vec<String> = conn
        .prepare(&format!(
            "SELECT DISTINCT d.event_id FROM deliveries d WHERE {cond}"
        ))?
        .query_map(rusqlite::params_from_iter(args.clone()), |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let n = conn.execute(
        &format!("DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d WHERE {cond})"),
        rusqlite::params_from_iter(args),
    )?;
    // Events whose last delivery went with the purge go too.
    let mut orphan = conn.prepare(
        "DELETE FROM events WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event_id = ?1)",
    )?;
    for event in events {
        orphan.execute(params![event])?;
    }
    Ok(n)
}
