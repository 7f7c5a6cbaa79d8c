//! The spool file's upkeep, run by the writer on its periodic tick: the
//! recount of pending work that backpressure reads, and the pruning of
//! delivered records past retention and of expired `webhook-id`s. Failures
//! are logged, never answered: nobody waits on upkeep.

use rusqlite::{Connection, params};

use crate::spool::Pending;

/// Deliveries not yet delivered or dead, and their body bytes.
pub(super) fn count_pending(conn: &Connection) -> Result<Pending, rusqlite::Error> {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM deliveries WHERE state IN ('pending', 'parked')",
        [],
        |r| {
            Ok(Pending {
                deliveries: r.get::<_, i64>(0)? as u64,
                bytes: r.get::<_, i64>(1)? as u64,
            })
        },
    )
}

/// Deletes delivered records and their events older than `cutoff`, and
/// `webhook-id`s expired at `now`.
pub(super) fn prune(conn: &Connection, cutoff: i64, now: i64) {
    let pruned = conn.execute(
        "DELETE FROM deliveries WHERE state IN ('delivered', 'cancelled') AND updated_at < ?1",
        params![cutoff],
    );
    let events = conn.execute(
        "DELETE FROM events WHERE received_at < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
        params![cutoff],
    );
    if let Err(error) = conn.execute("DELETE FROM seen_ids WHERE expires_at <= ?1", params![now]) {
        tracing::warn!(%error, "forgetting expired webhook-ids failed");
    }
    match (pruned, events) {
        (Ok(d), Ok(e)) if d + e > 0 => tracing::info!(
            deliveries = d,
            events = e,
            "pruned delivered records past retention"
        ),
        (Err(error), _) | (_, Err(error)) => tracing::warn!(%error, "pruning the spool failed"),
        _ => {}
    }
}
