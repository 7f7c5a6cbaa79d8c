//! The SQL of accepting a batch's webhooks inside the writer's
//! transaction: one statement for all events, which takes their
//! `webhook-id`s and leaves out the duplicates, and one for all their
//! deliveries, leased to this replica. Statements only: no replies, no
//! windows.

use std::collections::HashSet;

use bytes::Bytes;
use deadpool_postgres::Transaction;
use uuid::Uuid;

use super::writer::{Accept, Done};
use crate::spool::{NewEvent, Ready, SpoolError};

/// PostgreSQL text cannot hold NUL.
pub(super) fn text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

// Each event's `webhook-id`, if it has one, is taken in the same statement
// (no round trip of its own): a row whose id has expired is taken over; one
// still in force is left as it is and not returned, and then its event is not
// inserted (a duplicate). Keys are taken in order, so that replicas taking
// the same ids lock them in the same order; one inserting a key another
// holds uncommitted waits for that commit.
const INSERT_EVENTS: &str = "WITH input AS (
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                              $6::bytea[], $7::text[], $8::bigint[], $10::text[], $11::text[],
                              $12::text[], $13::text[], $14::text[])
              AS u(id, source, client_ip, received_at, routes, body, seen_id, seen_until,
                   content_type, headers, keys, config_version, trace)
     ), taken AS (
         INSERT INTO seen_ids (source, id, expires_at)
         SELECT source, seen_id, seen_until FROM input WHERE seen_id IS NOT NULL
         ORDER BY source, seen_id
         ON CONFLICT (source, id) DO UPDATE SET expires_at = EXCLUDED.expires_at
             WHERE seen_ids.expires_at <= $9
         RETURNING source, id
     )
     INSERT INTO events (id, source, client_ip, received_at, routes, body, content_type,
                         headers, keys, config_version, trace)
     SELECT i.id, i.source, i.client_ip, i.received_at, i.routes, i.body, i.content_type,
            i.headers, i.keys, i.config_version, i.trace FROM input i
     WHERE i.seen_id IS NULL
        OR EXISTS (SELECT 1 FROM taken t WHERE t.source = i.source AND t.id = i.seen_id)
     RETURNING id";

// Ids are drawn in the input's order inside a materialized CTE, so the answer
// lines up with the input without relying on RETURNING's order. The rows are
// leased to this replica: they go to its windows and are not read back.
// An unrendered delivery is not leased: nobody sends it.
const INSERT_DELIVERIES: &str = "WITH input AS MATERIALIZED (
         SELECT nextval(pg_get_serial_sequence('deliveries', 'id')) AS id, u.*
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::bigint[], $9::text[])
              WITH ORDINALITY AS u(event_id, target, route, body, size, unrendered, n)
     ), inserted AS (
         INSERT INTO deliveries (id, event_id, target, route, body, size, state, attempts,
                                 due_at, created_at, updated_at, leased_by, leased_until,
                                 last_error)
         SELECT id, event_id, target, route, body, size,
                CASE WHEN unrendered IS NULL THEN 'pending' ELSE 'unrendered' END, 0, $6, $6, $6,
                CASE WHEN unrendered IS NULL THEN $7 END,
                CASE WHEN unrendered IS NULL THEN switchboard_now_ms() + $8 END, unrendered
         FROM input
     )
     SELECT id FROM input ORDER BY n";

/// For each accept of the batch, false if an earlier one in it has the same
/// source and `webhook-id` (a statement must not take one key twice).
fn first_of_their_ids(accepts: &[Accept]) -> Vec<bool> {
    let mut keys = HashSet::new();
    accepts
        .iter()
        .map(|(event, _, _)| {
            event
                .seen
                .as_ref()
                .is_none_or(|seen| keys.insert((event.source.as_str(), seen.id.as_str())))
        })
        .collect()
}

/// Writes the batch's webhooks and their deliveries. Per accept, `done`
/// gets the deliveries and bytes added, or `None` for a duplicate
/// `webhook-id`; the fresh deliveries go to `done.offers`.
pub(super) async fn insert(
    tx: &Transaction<'_>,
    accepts: &[Accept],
    now: i64,
    me: &str,
    lease_ms: i64,
    done: &mut Done,
) -> Result<(), SpoolError> {
    if accepts.is_empty() {
        return Ok(());
    }
    let mut fresh = first_of_their_ids(accepts);
    insert_events(tx, accepts, &mut fresh, now).await?;
    let ids = insert_deliveries(tx, accepts, &fresh, now, me, lease_ms).await?;
    let mut ids = ids.into_iter();
    for ((event, deliveries, _), fresh) in accepts.iter().zip(fresh) {
        if !fresh {
            done.accepted.push(None);
            continue;
        }
        let (mut sent, mut bytes) = (0, 0);
        for d in deliveries {
            let id = ids.next().ok_or(SpoolError::FewerIds)?;
            if d.unrendered.is_some() {
                continue;
            }
            let body = d.body_of(event);
            bytes += body.len() as u64;
            sent += 1;
            done.offers.push(Ready::fresh(id, event, d, body));
        }
        done.accepted.push(Some((sent, bytes)));
    }
    Ok(())
}

/// The events of a batch as the columns [`INSERT_EVENTS`] unnests.
#[derive(Default)]
struct Events<'a> {
    ids: Vec<Uuid>,
    sources: Vec<String>,
    ips: Vec<String>,
    received: Vec<i64>,
    routes: Vec<String>,
    bodies: Vec<&'a [u8]>,
    seen_ids: Vec<Option<String>>,
    seen_until: Vec<Option<i64>>,
    content_types: Vec<Option<String>>,
    headers: Vec<String>,
    keys: Vec<String>,
    versions: Vec<String>,
    traces: Vec<Option<String>>,
}

impl<'a> Events<'a> {
    fn push(&mut self, event: &'a NewEvent) {
        self.ids.push(event.id);
        self.sources.push(text(&event.source));
        self.ips.push(text(&event.client_ip));
        self.received.push(event.received_ms);
        self.routes.push(text(
            &serde_json::to_string(&event.routes).unwrap_or_default(),
        ));
        self.bodies.push(event.body.as_ref());
        self.seen_ids
            .push(event.seen.as_ref().map(|seen| text(&seen.id)));
        self.seen_until
            .push(event.seen.as_ref().map(|seen| seen.expires_ms));
        self.content_types
            .push(event.content_type.as_deref().map(text));
        self.headers.push(text(&event.headers));
        self.keys.push(text(&event.keys_json()));
        self.versions.push(text(&event.config_version));
        self.traces
            .push(event.trace.as_ref().map(|t| text(&t.stored())));
    }
}

/// Inserts the events still `fresh`, and leaves `fresh` only those stored
/// (not duplicates of a `webhook-id` taken before).
async fn insert_events(
    tx: &Transaction<'_>,
    accepts: &[Accept],
    fresh: &mut [bool],
    now: i64,
) -> Result<(), SpoolError> {
    let mut events = Events::default();
    for ((event, _, _), _) in accepts.iter().zip(fresh.iter()).filter(|(_, f)| **f) {
        events.push(event);
    }
    if events.ids.is_empty() {
        return Ok(());
    }
    let stmt = tx.prepare_cached(INSERT_EVENTS).await?;
    let e = &events;
    let rows = tx
        .query(
            &stmt,
            &[
                &e.ids,
                &e.sources,
                &e.ips,
                &e.received,
                &e.routes,
                &e.bodies,
                &e.seen_ids,
                &e.seen_until,
                &now,
                &e.content_types,
                &e.headers,
                &e.keys,
                &e.versions,
                &e.traces,
            ],
        )
        .await?;
    let stored: HashSet<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    for ((event, _, _), fresh) in accepts.iter().zip(fresh.iter_mut()) {
        *fresh = *fresh && stored.contains(&event.id);
    }
    insert_keys(tx, accepts, fresh).await
}

/// Indexes the lookup keys of the events stored.
async fn insert_keys(
    tx: &Transaction<'_>,
    accepts: &[Accept],
    fresh: &[bool],
) -> Result<(), SpoolError> {
    let (mut names, mut values, mut received, mut ids) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((event, _, _), _) in accepts.iter().zip(fresh).filter(|(_, f)| **f) {
        for (name, value) in &event.keys {
            names.push(text(name));
            values.push(text(value));
            received.push(event.received_ms);
            ids.push(event.id);
        }
    }
    if names.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO event_keys (name, value, received_at, event_id)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::uuid[])
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&stmt, &[&names, &values, &received, &ids])
        .await?;
    Ok(())
}

/// Inserts the deliveries of the `fresh` events, leased to `me`; returns
/// their ids in the order given.
async fn insert_deliveries(
    tx: &Transaction<'_>,
    accepts: &[Accept],
    fresh: &[bool],
    now: i64,
    me: &str,
    lease_ms: i64,
) -> Result<Vec<i64>, SpoolError> {
    let (mut events, mut targets, mut routes, mut bodies, mut sizes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut unrendered = Vec::new();
    for ((event, deliveries, _), _) in accepts.iter().zip(fresh).filter(|(_, f)| **f) {
        for d in deliveries {
            events.push(event.id);
            targets.push(text(&d.target));
            routes.push(text(&d.route));
            bodies.push(d.body.as_deref());
            sizes.push(d.body.as_ref().map_or(event.body.len(), Bytes::len) as i64);
            unrendered.push(d.unrendered.as_deref().map(text));
        }
    }
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = tx.prepare_cached(INSERT_DELIVERIES).await?;
    let rows = tx
        .query(
            &stmt,
            &[
                &events,
                &targets,
                &routes,
                &bodies,
                &sizes,
                &now,
                &me,
                &lease_ms,
                &unrendered,
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get::<_, i64>(0)).collect())
}
