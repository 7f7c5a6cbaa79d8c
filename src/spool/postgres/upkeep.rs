//! Upkeep beside the writer, on a connection of its own so the writer never
//! waits for it: the recount of pending work across all replicas (for
//! backpressure) and the pruning of delivered records past retention and
//! of expired `webhook-id`s, by one replica at a time.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Object, Pool};

use super::Shared;
use super::schema::PRUNE_LOCK;
use crate::spool::{Pending, SpoolError};
use crate::time::now_ms;

/// How often pending work is recounted and old records pruned.
const RECOUNT: Duration = Duration::from_secs(5);
const PRUNE: Duration = Duration::from_secs(60);

/// Recounts pending work across all replicas (for backpressure) and prunes
/// delivered records past retention, on a connection of its own so the
/// writer never waits for it.
pub(super) async fn upkeep(pool: Pool, shared: Arc<Shared>, retention: Duration) {
    // The spool counted when it opened: the first recount comes a period
    // later. A recount at once raced the first accepts, which could commit
    // between its read and its store and be lost from the count until the
    // next one (seen as a flaky `pending()` in the PostgreSQL tests).
    let start = tokio::time::Instant::now() + RECOUNT;
    let mut recount = tokio::time::interval_at(start, RECOUNT);
    recount.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    loop {
        recount.tick().await;
        let Ok(client) = pool.get().await else {
            continue;
        };
        if let Ok(pending) = count_pending(&**client).await {
            shared.pending.set(pending);
        }
        if last_prune.elapsed() < PRUNE {
            continue;
        }
        last_prune = tokio::time::Instant::now();
        let cutoff = now_ms() - retention.as_millis() as i64;
        match prune(&client, cutoff, now_ms()).await {
            Ok((d, e)) if d + e > 0 => tracing::info!(
                deliveries = d,
                events = e,
                "pruned delivered records past retention"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "pruning the spool failed"),
        }
    }
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

/// Rows deleted per statement, so that pruning never holds many locks.
const SLICE: i64 = 5_000;

/// Deletes delivered records and their events older than `cutoff`, and
/// `webhook-id`s expired at `now`, a slice at a time, by one replica at a
/// time (the others skip their turn).
pub(super) async fn prune(
    client: &Object,
    cutoff: i64,
    now: i64,
) -> Result<(u64, u64), SpoolError> {
    let (mut deliveries, mut events) = (0, 0);
    for _ in 0..100 {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&PRUNE_LOCK])
            .await?
            .get(0);
        if !got {
            break;
        }
        let result = prune_slice(client, cutoff, now).await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&PRUNE_LOCK])
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

/// One slice of each: delivered records, events left without deliveries,
/// expired `webhook-id`s; how many of each went.
async fn prune_slice(
    client: &Object,
    cutoff: i64,
    now: i64,
) -> Result<(u64, u64, u64), SpoolError> {
    let d = client
        .execute(
            "DELETE FROM deliveries WHERE id IN (
                 SELECT id FROM deliveries WHERE state IN ('delivered', 'cancelled') AND updated_at < $1 LIMIT $2)",
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
    Ok((d, e, s))
}
