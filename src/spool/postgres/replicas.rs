//! Being one of the replicas: this replica's name, its heartbeat (the row
//! in `replicas` that says it is alive, the leases it renews, the count of
//! live replicas that splits rate limits) and the ticker that asks the
//! writer for it. The heartbeat runs in the writer's transaction.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Transaction;

use super::Shared;
use crate::spool::SpoolError;
use crate::spool::command::Commands;

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

/// Renews every lease `me` holds.
pub(super) async fn renew(tx: &Transaction<'_>, me: &str, lease_ms: i64) -> Result<(), SpoolError> {
    let stmt = tx.prepare_cached(RENEW).await?;
    tx.execute(&stmt, &[&me, &lease_ms]).await?;
    Ok(())
}

/// `host/pid/random`: readable in `leased_by`, unique across restarts.
pub(super) fn replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "relay".to_owned());
    let random = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "{host}/{}/{}",
        std::process::id(),
        &random[random.len() - 8..]
    )
}

/// A third of the lease: two heartbeats may be missed before it expires.
pub(super) fn heartbeat_every(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

/// Sends the writer a heartbeat now and then: more often while the
/// database is away, so that delivery resumes soon after it is back.
pub(super) async fn tick(commands: Commands, shared: Arc<Shared>, every: Duration) {
    loop {
        let up = *shared.up.borrow();
        let wait = if up {
            every
        } else {
            every.min(Duration::from_secs(1))
        };
        tokio::time::sleep(wait).await;
        if !commands.tick().await {
            return;
        }
    }
}
