//! The history's reads on a spool file: the event search (newest first,
//! keyset pages over the time-ordered ids, the filter's SQL from
//! [`events_where`]), one webhook's story and its stored input. Reads
//! only; the views are assembled by [`crate::spool::history`].

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use uuid::Uuid;

use crate::spool::SpoolError;
use crate::spool::filter::{Dialect, EventFilter, SqlValue};
use crate::spool::history::{
    self, AttemptRow, DeliveryRow, EventDetailRow, EventRow, EventSummary, EventView, Page, Stored,
};
use crate::spool::page;

fn value(v: &SqlValue) -> Sql {
    match v {
        SqlValue::Text(t) => Sql::Text(t.clone()),
        SqlValue::Int(i) => Sql::Integer(*i),
    }
}

/// Webhooks matching `filter`, newest first, older than `cursor`.
pub fn search(
    conn: &Connection,
    filter: &EventFilter,
    limit: usize,
    cursor: Option<Uuid>,
) -> Result<Page<EventSummary>, SpoolError> {
    let sql = page::statement(
        filter,
        Dialect::Sqlite,
        "e.id, e.source, e.client_ip, e.received_at, e.routes, e.keys",
        cursor,
        limit,
    );
    let mut stmt = conn.prepare(&sql.text)?;
    let events = stmt
        .query_map(params_from_iter(sql.values.iter().map(value)), event_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let deliveries = deliveries(conn, &ids, false)?;
    Ok(history::page(events, &deliveries, limit))
}

/// Reads `e.id, e.source, e.client_ip, e.received_at, e.routes, e.keys`.
fn event_row(r: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: r.get(0)?,
        source: r.get(1)?,
        client_ip: r.get(2)?,
        received_ms: r.get(3)?,
        routes: r.get(4)?,
        keys: r.get(5)?,
    })
}

/// The deliveries of these webhooks, in one statement, creation order;
/// with their own bodies when `bodies`.
fn deliveries(
    conn: &Connection,
    events: &[&str],
    bodies: bool,
) -> Result<Vec<DeliveryRow>, SpoolError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let list = (1..=events.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (body, join) = if bodies {
        ("b.body", "LEFT JOIN delivery_bodies b ON b.id = d.id")
    } else {
        ("NULL", "")
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT d.id, d.event_id, d.target, d.route, d.state, d.attempts, d.last_status,
                d.last_class, d.last_error, d.due_at, d.updated_at, {body}
         FROM deliveries d {join} WHERE d.event_id IN ({list}) ORDER BY d.id"
    ))?;
    let rows = stmt.query_map(params_from_iter(events.iter()), |r| {
        Ok(DeliveryRow {
            id: r.get(0)?,
            event: r.get(1)?,
            target: r.get(2)?,
            route: r.get(3)?,
            state: r.get(4)?,
            attempts: r.get(5)?,
            last_status: r.get(6)?,
            last_class: r.get(7)?,
            last_error: r.get(8)?,
            due_ms: r.get(9)?,
            updated_ms: r.get(10)?,
            body: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The webhook with this id and its whole story.
pub fn event(conn: &Connection, id: &str) -> Result<Option<EventView>, SpoolError> {
    let row = conn
        .query_row(
            "SELECT id, source, client_ip, received_at, routes, keys, content_type, headers,
                    config_version, body
             FROM events WHERE id = ?1",
            params![id],
            |r| {
                Ok(EventDetailRow {
                    event: event_row(r)?,
                    content_type: r.get(6)?,
                    headers: r.get(7)?,
                    config_version: r.get(8)?,
                    body: r.get(9)?,
                })
            },
        )
        .optional()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let deliveries = deliveries(conn, &[id], true)?;
    let mut stmt = conn.prepare_cached(
        "SELECT a.delivery_id, a.attempt, a.started_at, a.duration_ms, a.status, a.error_class,
                a.error, a.request_headers, a.response_headers, a.response_body
         FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
         WHERE d.event_id = ?1 ORDER BY a.delivery_id, a.started_at, a.attempt",
    )?;
    let attempts = stmt
        .query_map(params![id], |r| {
            Ok(AttemptRow {
                delivery: r.get(0)?,
                attempt: r.get(1)?,
                started_ms: r.get(2)?,
                duration_ms: r.get(3)?,
                status: r.get(4)?,
                class: r.get(5)?,
                error: r.get(6)?,
                request_headers: r.get(7)?,
                response_headers: r.get(8)?,
                response_body: r.get(9)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(row.view(deliveries, &attempts)))
}

/// The webhook's stored input.
pub fn stored(conn: &Connection, id: &str) -> Result<Option<Stored>, SpoolError> {
    Ok(conn
        .query_row(
            "SELECT source, content_type, headers, config_version, body FROM events WHERE id = ?1",
            params![id],
            |r| {
                Ok(Stored {
                    source: r.get(0)?,
                    content_type: r.get(1)?,
                    headers: r.get(2)?,
                    config_version: r.get(3)?,
                    body: r.get::<_, Vec<u8>>(4)?.into(),
                })
            },
        )
        .optional()?)
}

#[cfg(test)]
mod tests;
