//! One replica's writer: group commit on one connection, and the SQL of
//! accepting, recording, claiming and the heartbeat.
//!
//! Every command waiting when the writer wakes goes into one transaction, in
//! this order: leases of unoffered deliveries given up, accepts (one
//! statement for all events, which takes their `webhook-id`s and leaves out
//! the duplicates, one for all deliveries), outcomes (one
//! statement), dead-lettering and unparking, the heartbeat, then claims.
//! Outcomes before claims is what lets a worker trust a claim: a delivery it
//! has just recorded is not handed back. After the commit the writer logs
//! the `accepted` lines, offers the fresh deliveries to their windows, then
//! answers accepts, then claims
//! (so a dispatcher that drains its window after a claim has seen every
//! fresh delivery the claim could also return).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use deadpool_postgres::{Object, Pool, Transaction};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::{Shared, TRANSACTION_BUDGET};
use crate::spool::{
    Admitted, Announce, Claimed, NewDelivery, NewEvent, Pending, Ready, Record, SpoolError,
};
use crate::time::now_ms;

/// A reply owed to a waiting caller.
pub(super) type Reply<T> = oneshot::Sender<Result<T, SpoolError>>;

pub(super) enum Command {
    Accept {
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
        reply: Reply<Admitted>,
    },
    Record {
        id: i64,
        outcome: Record,
    },
    Claim {
        target: String,
        limit: usize,
        held: Vec<i64>,
        reply: Reply<Claimed>,
    },
    Change {
        change: Change,
        reply: Reply<u64>,
    },
    /// Heartbeat: stay registered, renew leases, count live replicas.
    Tick,
}

/// Changes that answer with a count.
pub(super) enum Change {
    /// Dead-letter pending deliveries of targets not in the list.
    DeadLetterOthers(Vec<String>),
    /// Make a target's parked deliveries due.
    Unpark(String),
    /// Give up every lease and leave `replicas` (shutdown).
    Release,
    /// Nothing: answers once everything before it is committed.
    Nothing,
}

/// Outcomes kept across failed commits beyond this are dropped (and their
/// deliveries repeated): memory stays bounded during a long outage.
const MAX_UNWRITTEN: usize = 100_000;

pub(super) struct Writer {
    pool: Pool,
    client: Option<Object>,
    shared: Arc<Shared>,
    replica: Arc<str>,
    lease_ms: i64,
    batch: usize,
    /// Outcomes whose commit failed: written first in the next transaction.
    unwritten: Vec<(i64, Record)>,
    /// Fresh deliveries no window took: their leases are given up in the
    /// next transaction, so whichever replica has room claims them.
    unoffered: Vec<i64>,
}

/// One batch, sorted by kind.
#[derive(Default)]
struct Work {
    accepts: Vec<(NewEvent, Vec<NewDelivery>, Reply<Admitted>)>,
    records: Vec<(i64, Record)>,
    claims: Vec<(String, usize, Vec<i64>, Reply<Claimed>)>,
    changes: Vec<(Change, Reply<u64>)>,
    tick: bool,
}

/// What a committed batch did.
#[derive(Default)]
struct Done {
    offers: Vec<Ready>,
    /// Per accept: deliveries and body bytes added, or `None` for a
    /// duplicate `webhook-id` (nothing written).
    accepted: Vec<Option<(u64, u64)>>,
    /// Deliveries and bytes that left the pending set.
    settled: (u64, u64),
    claims: Vec<Claimed>,
    counts: Vec<u64>,
    live: Option<u32>,
}

impl Writer {
    pub(super) fn new(
        pool: Pool,
        shared: Arc<Shared>,
        replica: Arc<str>,
        lease_ms: i64,
        batch: usize,
    ) -> Writer {
        Writer {
            pool,
            client: None,
            shared,
            replica,
            lease_ms,
            batch,
            unwritten: Vec::new(),
            unoffered: Vec::new(),
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(first) = commands.recv().await {
            let mut batch = vec![first];
            while batch.len() < self.batch {
                match commands.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            let (started, commands) = (std::time::Instant::now(), batch.len());
            self.process(batch).await;
            crate::metrics::spool_commit(started.elapsed(), commands);
        }
    }

    async fn process(&mut self, batch: Vec<Command>) {
        let mut work = Work {
            records: std::mem::take(&mut self.unwritten),
            ..Work::default()
        };
        for command in batch {
            match command {
                Command::Accept {
                    event,
                    deliveries,
                    reply,
                } => work.accepts.push((event, deliveries, reply)),
                Command::Record { id, outcome } => work.records.push((id, outcome)),
                Command::Claim {
                    target,
                    limit,
                    held,
                    reply,
                } => work.claims.push((target, limit, held, reply)),
                Command::Change { change, reply } => work.changes.push((change, reply)),
                Command::Tick => work.tick = true,
            }
        }
        let unoffered = std::mem::take(&mut self.unoffered);
        let mut tries = 0;
        let result = loop {
            tries += 1;
            let attempt = tokio::time::timeout(TRANSACTION_BUDGET, self.apply(&work, &unoffered));
            match attempt.await {
                Ok(Ok(done)) => break Ok(done),
                // Another replica's bulk change (a replay, a reload's dead
                // letters) crossed this batch: the database aborted one of
                // the two, and this batch can simply run again.
                Ok(Err(error)) if transient(&error) && tries < 3 => {
                    tracing::debug!(%error, "spool transaction aborted; running it again");
                }
                Ok(Err(error)) => break Err(error.to_string()),
                Err(_) => break Err(format!("no answer within {TRANSACTION_BUDGET:?}")),
            }
        };
        match result {
            Ok(done) => self.committed(work, done),
            Err(error) => self.failed(work, unoffered, error),
        }
    }

    fn committed(&mut self, work: Work, done: Done) {
        if !self.shared.up.send_replace(true) {
            tracing::info!("the PostgreSQL spool answers again: accepting and delivering");
        }
        // Logged before the offers: no delivery's line precedes its
        // webhook's.
        let mut replies = Vec::with_capacity(work.accepts.len());
        for ((event, deliveries, reply), stored) in work.accepts.into_iter().zip(&done.accepted) {
            if stored.is_some() {
                Announce::of(event, deliveries.len()).log();
                replies.push((reply, Admitted::Stored));
            } else {
                replies.push((reply, Admitted::Duplicate));
            }
        }
        self.offer(done.offers);
        // Counted before the 202s go out, so that a sender who got one sees
        // its deliveries pending.
        let added: u64 = done.accepted.iter().flatten().map(|(n, _)| n).sum();
        let added_bytes: u64 = done.accepted.iter().flatten().map(|(_, b)| b).sum();
        self.shared.pending.add(added, added_bytes);
        self.shared.pending.settle(done.settled.0, done.settled.1);
        for (reply, admitted) in replies {
            let _ = reply.send(Ok(admitted));
        }
        for ((target, _, _, _), claimed) in work.claims.iter().zip(&done.claims) {
            if claimed.exhausted {
                self.shared.windows.caught_up(target);
            }
        }
        for ((_, _, _, reply), claimed) in work.claims.into_iter().zip(done.claims) {
            let _ = reply.send(Ok(claimed));
        }
        for ((_, reply), n) in work.changes.into_iter().zip(done.counts) {
            let _ = reply.send(Ok(n));
        }
        if let Some(live) = done.live {
            let was = self.shared.live.swap(live.max(1), Ordering::Relaxed);
            if was != live.max(1) {
                tracing::info!(
                    live_replicas = live,
                    "replicas changed; each sends at its share of every target's rate"
                );
            }
        }
    }

    fn failed(&mut self, work: Work, unoffered: Vec<i64>, error: String) {
        // Whatever state the connection is in, it is not trusted again.
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
        if self.shared.up.send_replace(false) {
            tracing::error!(%error, "the PostgreSQL spool is unreachable: answering webhooks 503 and pausing delivery until it is back");
        } else {
            tracing::debug!(%error, "the PostgreSQL spool is still unreachable");
        }
        for (_, _, reply) in work.accepts {
            let _ = reply.send(Err(SpoolError::Commit(error.clone())));
        }
        for (_, _, _, reply) in work.claims {
            let _ = reply.send(Err(SpoolError::Commit(error.clone())));
        }
        for (_, reply) in work.changes {
            let _ = reply.send(Err(SpoolError::Commit(error.clone())));
        }
        let mut records = work.records;
        if records.len() > MAX_UNWRITTEN {
            let dropped = records.len() - MAX_UNWRITTEN;
            records.drain(..dropped);
            tracing::error!(
                dropped,
                "too many outcomes waiting for the database; the oldest are dropped (those deliveries will be repeated)"
            );
        }
        self.unwritten = records;
        self.unoffered = unoffered;
    }

    /// Hands fresh deliveries to their windows; a full window leaves them in
    /// the database (their leases given up next) and tells the dispatcher.
    fn offer(&mut self, offers: Vec<Ready>) {
        let unoffered = &mut self.unoffered;
        self.shared.windows.offer(offers, |id| unoffered.push(id));
    }

    /// Runs the batch in one transaction.
    async fn apply(&mut self, work: &Work, unoffered: &[i64]) -> Result<Done, SpoolError> {
        if self.client.is_none() {
            self.client = Some(self.pool.get().await?);
        }
        let Some(client) = self.client.as_mut() else {
            return Err(SpoolError::Stopped);
        };
        let tx = client.transaction().await?;
        let now = now_ms();
        let me: &str = &self.replica;
        let mut done = Done::default();
        if !unoffered.is_empty() {
            let stmt = tx.prepare_cached(RELEASE_SOME).await?;
            tx.execute(&stmt, &[&unoffered, &me]).await?;
        }
        insert(&tx, work, now, me, self.lease_ms, &mut done).await?;
        done.settled = record(&tx, &work.records, now).await?;
        for (change, _) in &work.changes {
            let (n, settled) = change_state(&tx, change, now, me).await?;
            done.counts.push(n);
            done.settled.0 += settled.0;
            done.settled.1 += settled.1;
        }
        if work.tick {
            let stmt = tx.prepare_cached(RENEW).await?;
            tx.execute(&stmt, &[&me, &self.lease_ms]).await?;
            done.live = Some(heartbeat(&*tx, me, self.lease_ms).await?);
        }
        for (target, limit, held, _) in &work.claims {
            done.claims
                .push(claim(&tx, target, *limit, held, now, me, self.lease_ms).await?);
        }
        tx.commit().await?;
        Ok(done)
    }
}

/// A deadlock or serialization failure: the batch may simply run again.
fn transient(error: &SpoolError) -> bool {
    match error {
        SpoolError::Postgres(e) => matches!(
            e.code(),
            Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        ),
        _ => false,
    }
}

/// PostgreSQL text cannot hold NUL.
fn text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

const RELEASE_SOME: &str = "UPDATE deliveries SET leased_by = NULL, leased_until = NULL WHERE id = ANY($1) AND leased_by = $2";

// Each event's `webhook-id`, if it has one, is taken in the same statement
// (no round trip of its own): a row whose id has expired is taken over; one
// still in force is left as it is and not returned, and then its event is not
// inserted (a duplicate). Keys are taken in order, so that replicas taking
// the same ids lock them in the same order; one inserting a key another
// holds uncommitted waits for that commit.
const INSERT_EVENTS: &str = "WITH input AS (
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                              $6::bytea[], $7::text[], $8::bigint[])
              AS u(id, source, client_ip, received_at, routes, body, seen_id, seen_until)
     ), taken AS (
         INSERT INTO seen_ids (source, id, expires_at)
         SELECT source, seen_id, seen_until FROM input WHERE seen_id IS NOT NULL
         ORDER BY source, seen_id
         ON CONFLICT (source, id) DO UPDATE SET expires_at = EXCLUDED.expires_at
             WHERE seen_ids.expires_at <= $9
         RETURNING source, id
     )
     INSERT INTO events (id, source, client_ip, received_at, routes, body)
     SELECT i.id, i.source, i.client_ip, i.received_at, i.routes, i.body FROM input i
     WHERE i.seen_id IS NULL
        OR EXISTS (SELECT 1 FROM taken t WHERE t.source = i.source AND t.id = i.seen_id)
     RETURNING id";

// Ids are drawn in the input's order inside a materialized CTE, so the answer
// lines up with the input without relying on RETURNING's order. The rows are
// leased to this replica: they go to its windows and are not read back.
const INSERT_DELIVERIES: &str = "WITH input AS MATERIALIZED (
         SELECT nextval(pg_get_serial_sequence('deliveries', 'id')) AS id, u.*
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::bigint[])
              WITH ORDINALITY AS u(event_id, target, route, body, size, n)
     ), inserted AS (
         INSERT INTO deliveries (id, event_id, target, route, body, size, state, attempts,
                                 due_at, created_at, updated_at, leased_by, leased_until)
         SELECT id, event_id, target, route, body, size, 'pending', 0, $6, $6, $6,
                $7, switchboard_now_ms() + $8
         FROM input
     )
     SELECT id FROM input ORDER BY n";

/// For each accept of the batch, false if an earlier one in it has the same
/// source and `webhook-id` (a statement must not take one key twice).
fn first_of_their_ids(work: &Work) -> Vec<bool> {
    let mut keys = HashSet::new();
    work.accepts
        .iter()
        .map(|(event, _, _)| {
            event
                .seen
                .as_ref()
                .is_none_or(|seen| keys.insert((event.source.as_str(), seen.id.as_str())))
        })
        .collect()
}

async fn insert(
    tx: &Transaction<'_>,
    work: &Work,
    now: i64,
    me: &str,
    lease_ms: i64,
    done: &mut Done,
) -> Result<(), SpoolError> {
    if work.accepts.is_empty() {
        return Ok(());
    }
    let mut fresh = first_of_their_ids(work);
    let n = work.accepts.len();
    let (mut ids, mut sources, mut ips, mut received, mut routes, mut bodies) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut seen_ids, mut seen_until) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for ((event, _, _), _) in work.accepts.iter().zip(&fresh).filter(|(_, f)| **f) {
        ids.push(event.id);
        sources.push(text(&event.source));
        ips.push(text(&event.client_ip));
        received.push(event.received_ms);
        routes.push(text(
            &serde_json::to_string(&event.routes).unwrap_or_default(),
        ));
        bodies.push(event.body.as_ref());
        seen_ids.push(event.seen.as_ref().map(|seen| text(&seen.id)));
        seen_until.push(event.seen.as_ref().map(|seen| seen.expires_ms));
    }
    if !ids.is_empty() {
        let stmt = tx.prepare_cached(INSERT_EVENTS).await?;
        let rows = tx
            .query(
                &stmt,
                &[
                    &ids,
                    &sources,
                    &ips,
                    &received,
                    &routes,
                    &bodies,
                    &seen_ids,
                    &seen_until,
                    &now,
                ],
            )
            .await?;
        let stored: HashSet<Uuid> = rows.iter().map(|r| r.get(0)).collect();
        for ((event, _, _), fresh) in work.accepts.iter().zip(fresh.iter_mut()) {
            *fresh = *fresh && stored.contains(&event.id);
        }
    }
    let (mut d_events, mut d_targets, mut d_routes, mut d_bodies, mut d_sizes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((event, deliveries, _), _) in work.accepts.iter().zip(&fresh).filter(|(_, f)| **f) {
        for d in deliveries {
            d_events.push(event.id);
            d_targets.push(text(&d.target));
            d_routes.push(text(&d.route));
            d_bodies.push(d.body.as_deref());
            d_sizes.push(d.body.as_ref().map_or(event.body.len(), Bytes::len) as i64);
        }
    }
    let mut new_ids = Vec::new();
    if !d_events.is_empty() {
        let stmt = tx.prepare_cached(INSERT_DELIVERIES).await?;
        let rows = tx
            .query(
                &stmt,
                &[
                    &d_events, &d_targets, &d_routes, &d_bodies, &d_sizes, &now, &me, &lease_ms,
                ],
            )
            .await?;
        new_ids = rows.iter().map(|r| r.get::<_, i64>(0)).collect();
    }
    let mut next = new_ids.into_iter();
    for ((event, deliveries, _), fresh) in work.accepts.iter().zip(fresh) {
        if !fresh {
            done.accepted.push(None);
            continue;
        }
        let mut bytes = 0;
        for d in deliveries {
            let Some(id) = next.next() else {
                return Err(SpoolError::Commit(
                    "the database returned fewer delivery ids than it was given".to_owned(),
                ));
            };
            let body = d.body.clone().unwrap_or_else(|| event.body.clone());
            bytes += body.len() as u64;
            done.offers.push(Ready {
                id,
                event: event.id,
                target: d.target.clone(),
                route: d.route.clone(),
                attempts: 0,
                body,
            });
        }
        done.accepted.push(Some((deliveries.len() as u64, bytes)));
    }
    Ok(())
}

// Only a pending delivery takes an outcome (an expired lease may have let
// another replica finish it first). The lease ends with the attempt.
const RECORD: &str = "UPDATE deliveries d SET
         state = u.state, attempts = d.attempts + 1,
         due_at = COALESCE(u.due_at, d.due_at), updated_at = $6,
         last_status = u.status, last_error = u.error,
         leased_by = NULL, leased_until = NULL
     FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::integer[], $5::text[])
          AS u(id, state, due_at, status, error)
     WHERE d.id = u.id AND d.state = 'pending'
     RETURNING d.state, d.size";

/// Stores outcomes; returns the deliveries and bytes that left the pending
/// set (delivered or dead).
async fn record(
    tx: &Transaction<'_>,
    records: &[(i64, Record)],
    now: i64,
) -> Result<(u64, u64), SpoolError> {
    if records.is_empty() {
        return Ok((0, 0));
    }
    // One outcome per row (the last), in id order: concurrent transactions
    // then lock rows in the same order.
    let last: BTreeMap<i64, &Record> = records.iter().map(|(id, r)| (*id, r)).collect();
    let n = last.len();
    let (mut ids, mut states, mut dues, mut statuses, mut errors) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (id, outcome) in last {
        let (state, due, status, error): (&str, Option<i64>, Option<u16>, Option<&str>) =
            match outcome {
                Record::Delivered { status } => ("delivered", None, Some(*status), None),
                Record::Retry {
                    due_ms,
                    status,
                    error,
                } => ("pending", Some(*due_ms), *status, Some(error)),
                Record::Dead { status, error } => ("dead", None, *status, Some(error)),
                Record::Parked { status, error } => ("parked", None, Some(*status), Some(error)),
            };
        ids.push(id);
        states.push(state);
        dues.push(due);
        statuses.push(status.map(i32::from));
        errors.push(error.map(text));
    }
    let stmt = tx.prepare_cached(RECORD).await?;
    let rows = tx
        .query(&stmt, &[&ids, &states, &dues, &statuses, &errors, &now])
        .await?;
    let mut settled = (0, 0);
    for row in rows {
        let state: &str = row.get(0);
        if state == "delivered" || state == "dead" {
            settled.0 += 1;
            settled.1 += row.get::<_, i64>(1) as u64;
        }
    }
    Ok(settled)
}

const DEAD_LETTER_OTHERS: &str = "UPDATE deliveries SET state = 'dead', updated_at = $2,
         last_error = 'target removed from the config', leased_by = NULL, leased_until = NULL
     WHERE state IN ('pending', 'parked') AND target <> ALL($1::text[])
     RETURNING target, size";

const UNPARK: &str = "UPDATE deliveries SET state = 'pending', due_at = $2, updated_at = $2
     WHERE target = $1 AND state = 'parked'";

const RELEASE_ALL: &str =
    "UPDATE deliveries SET leased_by = NULL, leased_until = NULL WHERE leased_by = $1";

/// Applies one change; returns its count and what left the pending set.
async fn change_state(
    tx: &Transaction<'_>,
    change: &Change,
    now: i64,
    me: &str,
) -> Result<(u64, (u64, u64)), SpoolError> {
    match change {
        Change::DeadLetterOthers(keep) => {
            let stmt = tx.prepare_cached(DEAD_LETTER_OTHERS).await?;
            let rows = tx.query(&stmt, &[keep, &now]).await?;
            let mut by_target: HashMap<String, u64> = HashMap::new();
            let mut bytes = 0;
            for row in &rows {
                *by_target.entry(row.get(0)).or_default() += 1;
                bytes += row.get::<_, i64>(1) as u64;
            }
            for (target, deliveries) in by_target {
                tracing::warn!(
                    target,
                    deliveries,
                    "target no longer configured; its pending deliveries are dead letters now (replay them after adding it back)"
                );
            }
            let n = rows.len() as u64;
            Ok((n, (n, bytes)))
        }
        Change::Unpark(target) => {
            let stmt = tx.prepare_cached(UNPARK).await?;
            Ok((tx.execute(&stmt, &[target, &now]).await?, (0, 0)))
        }
        Change::Release => {
            let stmt = tx.prepare_cached(RELEASE_ALL).await?;
            let n = tx.execute(&stmt, &[&me]).await?;
            tx.execute("DELETE FROM replicas WHERE id = $1", &[&me])
                .await?;
            Ok((n, (0, 0)))
        }
        Change::Nothing => Ok((0, (0, 0))),
    }
}

// Each live replica renews every lease it holds (in its windows, in flight,
// or left in the database for its own next claim): a lease is the promise
// that its holder is alive, however long an attempt takes.
const RENEW: &str = "UPDATE deliveries SET leased_until = switchboard_now_ms() + $2
     WHERE leased_by = $1 AND state = 'pending'";

/// Registers `me` as alive now; returns how many replicas are.
pub(super) async fn heartbeat(
    client: &impl tokio_postgres::GenericClient,
    me: &str,
    lease_ms: i64,
) -> Result<u32, SpoolError> {
    client
        .execute(
            "INSERT INTO replicas (id, started_at, seen_at, lease_ms)
             VALUES ($1, switchboard_now_ms(), switchboard_now_ms(), $2)
             ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at, lease_ms = EXCLUDED.lease_ms",
            &[&me, &lease_ms],
        )
        .await?;
    // Gone for ten leases: not coming back under that name.
    client
        .execute(
            "DELETE FROM replicas WHERE seen_at < switchboard_now_ms() - 10 * lease_ms",
            &[],
        )
        .await?;
    let live: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM replicas WHERE seen_at >= switchboard_now_ms() - lease_ms",
            &[],
        )
        .await?
        .get(0);
    Ok(live.max(1) as u32)
}

// Due, pending, and not leased to a live replica (or leased to this one: a
// window that overflowed or was released takes its own back). SKIP LOCKED:
// rows another replica is claiming or recording right now are left to it.
const CLAIM: &str =
    "UPDATE deliveries d SET leased_by = $4, leased_until = switchboard_now_ms() + $5
     FROM events e
     WHERE e.id = d.event_id AND d.id IN (
         SELECT id FROM deliveries
         WHERE target = $1 AND state = 'pending' AND due_at <= $2
           AND (leased_by IS NULL OR leased_by = $4 OR leased_until < switchboard_now_ms())
           AND NOT (id = ANY($6))
         ORDER BY due_at, id
         LIMIT $3
         FOR UPDATE SKIP LOCKED)
     RETURNING d.id, d.event_id, d.route, d.attempts, COALESCE(d.body, e.body), d.due_at";

const NEXT_DUE: &str = "SELECT MIN(due_at) FROM deliveries
     WHERE target = $1 AND state = 'pending' AND due_at > $2";

async fn claim(
    tx: &Transaction<'_>,
    target: &str,
    limit: usize,
    held: &[i64],
    now: i64,
    me: &str,
    lease_ms: i64,
) -> Result<Claimed, SpoolError> {
    let stmt = tx.prepare_cached(CLAIM).await?;
    let rows = tx
        .query(
            &stmt,
            &[&target, &now, &(limit as i64), &me, &lease_ms, &held],
        )
        .await?;
    let mut ready: Vec<(i64, Ready)> = rows
        .into_iter()
        .map(|r| {
            (
                r.get::<_, i64>(5),
                Ready {
                    id: r.get(0),
                    event: r.get::<_, Uuid>(1),
                    target: target.to_owned(),
                    route: r.get(2),
                    attempts: r.get::<_, i32>(3).max(0) as u32,
                    body: Bytes::from(r.get::<_, Vec<u8>>(4)),
                },
            )
        })
        .collect();
    // RETURNING has no order of its own.
    ready.sort_by_key(|(due, r)| (*due, r.id));
    let stmt = tx.prepare_cached(NEXT_DUE).await?;
    let next_due_ms: Option<i64> = tx.query_one(&stmt, &[&target, &now]).await?.get(0);
    Ok(Claimed {
        exhausted: ready.len() < limit,
        ready: ready.into_iter().map(|(_, r)| r).collect(),
        next_due_ms,
    })
}

/// Pending and parked deliveries and their bytes, across all replicas.
pub(super) async fn count_pending(
    client: &impl tokio_postgres::GenericClient,
) -> Result<Pending, SpoolError> {
    let row = client
        .query_one(
            "SELECT COUNT(*), COALESCE(SUM(size), 0)::bigint FROM deliveries WHERE state IN ('pending', 'parked')",
            &[],
        )
        .await?;
    Ok(Pending {
        deliveries: row.get::<_, i64>(0).max(0) as u64,
        bytes: row.get::<_, i64>(1).max(0) as u64,
    })
}

/// Deletes delivered records and their events older than `cutoff`, and
/// `webhook-id`s expired at `now`, a slice at a time, by one replica at a
/// time (the others skip their turn).
pub(super) async fn prune(
    client: &Object,
    cutoff: i64,
    now: i64,
) -> Result<(u64, u64), SpoolError> {
    const SLICE: i64 = 5_000;
    let (mut deliveries, mut events) = (0, 0);
    for _ in 0..100 {
        let got: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1)",
                &[&super::schema::PRUNE_LOCK],
            )
            .await?
            .get(0);
        if !got {
            break;
        }
        let result = async {
            let d = client
                .execute(
                    "DELETE FROM deliveries WHERE id IN (
                         SELECT id FROM deliveries WHERE state = 'delivered' AND updated_at < $1 LIMIT $2)",
                    &[&cutoff, &SLICE],
                )
                .await?;
            let e = client
                .execute(
                    "DELETE FROM events WHERE id IN (
                         SELECT id FROM events ev WHERE received_at < $1
                           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = ev.id)
                         LIMIT $2)",
                    &[&cutoff, &SLICE],
                )
                .await?;
            let s = client
                .execute(
                    "DELETE FROM seen_ids WHERE (source, id) IN (
                         SELECT source, id FROM seen_ids WHERE expires_at <= $1 LIMIT $2)",
                    &[&now, &SLICE],
                )
                .await?;
            Ok::<_, SpoolError>((d, e, s))
        }
        .await;
        client
            .execute(
                "SELECT pg_advisory_unlock($1)",
                &[&super::schema::PRUNE_LOCK],
            )
            .await?;
        let (d, e, s) = result?;
        deliveries += d;
        events += e;
        if (d as i64) < SLICE && (e as i64) < SLICE && (s as i64) < SLICE {
            break;
        }
    }
    Ok((deliveries, events))
}
