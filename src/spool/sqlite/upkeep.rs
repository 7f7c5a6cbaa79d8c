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
    // Keys of webhooks no longer here (pruned now, or purged since): found
    // through the index by time, each checked against the events.
    if let Err(error) = conn.execute(
        "DELETE FROM keys.event_keys WHERE received_at < ?1
           AND NOT EXISTS (SELECT 1 FROM main.events e WHERE e.id = event_keys.event_id)",
        params![cutoff],
    ) {
        tracing::warn!(%error, "forgetting the keys of pruned webhooks failed");
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::sqlite::schema::open_connection;

    /// Pruning forgets the keys of webhooks that are gone (pruned now, or
    /// purged before), and keeps those of webhooks still stored.
    #[test]
    fn pruning_forgets_the_keys_of_webhooks_no_longer_stored() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("spool.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO events (id, source, client_ip, received_at, routes, body)
                 VALUES ('kept', 's', '127.0.0.1', 10, '[]', x'7b7d');
             INSERT INTO deliveries (event_id, target, route, size, state, due_at, created_at, updated_at)
                 VALUES ('kept', 't', 'r', 2, 'dead', 10, 10, 10);
             INSERT INTO event_keys VALUES ('call', 'a', 10, 'kept'), ('call', 'b', 20, 'purged');",
        )
        .unwrap();
        prune(&conn, 1_000, 1_000);
        let left: Vec<String> = conn
            .prepare("SELECT event_id FROM event_keys")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(left, vec!["kept".to_owned()]);
    }
}
