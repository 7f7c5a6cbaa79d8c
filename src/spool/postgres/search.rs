//! The history's reads on the PostgreSQL spool: the event search (newest
//! first, keyset pages over the time-ordered ids, the filter's SQL from
//! [`events_where`]), one webhook's story and its stored input. Reads
//! only, on the ledger's pool; the views are assembled by
//! [`crate::spool::history`].

use deadpool_postgres::Object;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::spool::SpoolError;
use crate::spool::filter::{Dialect, EventFilter, SqlValue};
use crate::spool::history::{
    self, AttemptRow, DeliveryRow, EventDetailRow, EventRow, EventSummary, EventView, Page, Stored,
};
use crate::spool::page;

const EVENT_COLUMNS: &str = "e.id::text, e.source, e.client_ip, e.received_at, e.routes, e.keys";

fn event_row(r: &Row) -> EventRow {
    EventRow {
        id: r.get(0),
        source: r.get(1),
        client_ip: r.get(2),
        received_ms: r.get(3),
        routes: r.get(4),
        keys: r.get(5),
    }
}

/// Webhooks matching `filter`, newest first, older than `cursor`.
pub(super) async fn search(
    client: &Object,
    filter: &EventFilter,
    limit: usize,
    cursor: Option<Uuid>,
) -> Result<Page<EventSummary>, SpoolError> {
    let sql = page::statement(filter, Dialect::Postgres, EVENT_COLUMNS, cursor, limit);
    let values: Vec<Box<dyn ToSql + Sync + Send>> = sql
        .values
        .iter()
        .map(|v| -> Box<dyn ToSql + Sync + Send> {
            match v {
                SqlValue::Text(t) => Box::new(t.clone()),
                SqlValue::Int(i) => Box::new(*i),
            }
        })
        .collect();
    let params: Vec<&(dyn ToSql + Sync)> =
        values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
    let rows = client.query(&sql.text, &params).await?;
    let events: Vec<EventRow> = rows.iter().map(event_row).collect();
    let ids: Vec<Uuid> = events
        .iter()
        .filter_map(|e| Uuid::parse_str(&e.id).ok())
        .collect();
    let deliveries = deliveries(client, &ids, false).await?;
    Ok(history::page(events, &deliveries, limit))
}

/// The deliveries of these webhooks, in one statement, creation order;
/// with their own bodies when `bodies`.
async fn deliveries(
    client: &Object,
    events: &[Uuid],
    bodies: bool,
) -> Result<Vec<DeliveryRow>, SpoolError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let body = if bodies { "d.body" } else { "NULL::bytea" };
    let rows = client
        .query(
            &format!(
                "SELECT d.id, d.event_id::text, d.target, d.route, d.state, d.attempts,
                        d.last_status, d.last_class, d.last_error, d.due_at, d.updated_at, {body}
                 FROM deliveries d WHERE d.event_id = ANY($1) ORDER BY d.id"
            ),
            &[&events],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| DeliveryRow {
            id: r.get(0),
            event: r.get(1),
            target: r.get(2),
            route: r.get(3),
            state: r.get(4),
            attempts: i64::from(r.get::<_, i32>(5)),
            last_status: r.get::<_, Option<i32>>(6).map(i64::from),
            last_class: r.get(7),
            last_error: r.get(8),
            due_ms: r.get(9),
            updated_ms: r.get(10),
            body: r.get(11),
        })
        .collect())
}

/// The webhook with this id and its whole story.
pub(super) async fn event(client: &Object, id: &str) -> Result<Option<EventView>, SpoolError> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    let Some(r) = client
        .query_opt(
            &format!(
                "SELECT {EVENT_COLUMNS}, e.content_type, e.headers, e.config_version, e.body
                 FROM events e WHERE e.id = $1"
            ),
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let row = EventDetailRow {
        event: event_row(&r),
        content_type: r.get(6),
        headers: r.get(7),
        config_version: r.get(8),
        body: r.get(9),
    };
    let deliveries = deliveries(client, &[id], true).await?;
    let attempts: Vec<AttemptRow> = client
        .query(
            "SELECT a.delivery_id, a.attempt, a.started_at, a.duration_ms, a.status,
                    a.error_class, a.error, a.request_headers, a.response_headers,
                    a.response_body
             FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
             WHERE d.event_id = $1 ORDER BY a.delivery_id, a.started_at, a.id",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| AttemptRow {
            delivery: r.get(0),
            attempt: i64::from(r.get::<_, i32>(1)),
            started_ms: r.get(2),
            duration_ms: r.get(3),
            status: r.get::<_, Option<i32>>(4).map(i64::from),
            class: r.get(5),
            error: r.get(6),
            request_headers: r.get(7),
            response_headers: r.get(8),
            response_body: r.get(9),
        })
        .collect();
    Ok(Some(row.view(deliveries, &attempts)))
}

/// The webhook's stored input.
pub(super) async fn stored(client: &Object, id: &str) -> Result<Option<Stored>, SpoolError> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    Ok(client
        .query_opt(
            "SELECT source, content_type, headers, config_version, body FROM events WHERE id = $1",
            &[&id],
        )
        .await?
        .map(|r| Stored {
            source: r.get(0),
            content_type: r.get(1),
            headers: r.get(2),
            config_version: r.get(3),
            body: r.get::<_, Vec<u8>>(4).into(),
        }))
}
