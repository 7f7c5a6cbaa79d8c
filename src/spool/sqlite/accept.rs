//! The SQL of accepting a webhook inside the writer's transaction: its
//! `webhook-id` taken, its event row, its delivery rows (bodies of their
//! own in `delivery_bodies`). Statements only: no batching, no replies.

use rusqlite::{Connection, Transaction, params};

use crate::spool::{NewDelivery, NewEvent, Ready, SeenId};

/// Writes one webhook, or nothing if its `webhook-id` is taken: with an id,
/// in a savepoint, so that a duplicate or a failure half way leaves no row
/// of it behind while the rest of the batch commits. `None` for a duplicate.
pub(super) fn admit(
    tx: &mut Transaction<'_>,
    event: &NewEvent,
    deliveries: &[NewDelivery],
    now: i64,
) -> Result<Option<(Vec<Ready>, u64)>, rusqlite::Error> {
    let Some(seen) = &event.seen else {
        // Nothing to take (an unsigned source: the common case), so no
        // savepoint: SQLite keeps a sub-journal of every page a savepoint
        // touches, and one per accept cost a third of the accept rate.
        return insert(tx, event, deliveries, now).map(Some);
    };
    let savepoint = tx.savepoint()?;
    if !take_id(&savepoint, &event.source, seen, now)? {
        return Ok(None);
    }
    let stored = insert(&savepoint, event, deliveries, now)?;
    savepoint.commit()?;
    Ok(Some(stored))
}

/// Takes `seen` for `source`, unless it is taken and not yet expired at
/// `now`. An expired row is taken over.
fn take_id(
    conn: &Connection,
    source: &str,
    seen: &SeenId,
    now: i64,
) -> Result<bool, rusqlite::Error> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO seen_ids (source, id, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (source, id) DO UPDATE SET expires_at = excluded.expires_at
             WHERE seen_ids.expires_at <= ?4",
        )?
        .execute(params![source, seen.id, seen.expires_ms, now])?;
    Ok(changed == 1)
}

/// Inserts the event and its deliveries; returns them ready to offer, and
/// their body bytes.
fn insert(
    tx: &Connection,
    event: &NewEvent,
    deliveries: &[NewDelivery],
    now: i64,
) -> Result<(Vec<Ready>, u64), rusqlite::Error> {
    let routes = serde_json::to_string(&event.routes).unwrap_or_default();
    let event_id = event.id.to_string();
    tx.prepare_cached(
        "INSERT INTO events (id, source, client_ip, received_at, routes, body, content_type, headers, keys, config_version, trace)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        event_id,
        event.source,
        event.client_ip,
        event.received_ms,
        routes,
        event.body.as_ref(),
        event.content_type,
        event.headers,
        event.keys_json(),
        event.config_version,
        event.trace.as_ref().map(|t| t.stored()),
    ])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO deliveries (event_id, target, route, size, state, attempts, due_at, created_at, updated_at, last_error)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6, ?6, ?7)",
    )?;
    let mut insert_body =
        tx.prepare_cached("INSERT INTO delivery_bodies (id, body) VALUES (?1, ?2)")?;
    let mut ready = Vec::with_capacity(deliveries.len());
    let mut bytes = 0;
    for d in deliveries {
        let body = d.body_of(event);
        insert.execute(params![
            event_id,
            d.target,
            d.route,
            body.len() as i64,
            d.state(),
            now,
            d.unrendered
        ])?;
        let id = tx.last_insert_rowid();
        if let Some(own) = &d.body {
            insert_body.execute(params![id, own.as_ref()])?;
        }
        if d.unrendered.is_none() {
            bytes += body.len() as u64;
            ready.push(Ready::fresh(id, event, d, body));
        }
    }
    Ok((ready, bytes))
}
