//! The operator's summaries of a PostgreSQL spool beyond the backlog:
//! dead letters by group, and the live replicas (from their heartbeat
//! rows, which `replicas` writes). Reads only.

use deadpool_postgres::Object;

use crate::spool::{DeadGroup, DeliveryState, Replica, SpoolError};

/// See [`crate::spool::Ledger::dead_groups`].
pub(super) async fn dead_groups(client: &Object) -> Result<Vec<DeadGroup>, SpoolError> {
    let rows = client.query(&crate::spool::dead_groups_sql(), &[]).await?;
    Ok(rows
        .iter()
        .map(|r| DeadGroup {
            target: r.get(0),
            state: DeliveryState::of(r.get(1), 1),
            class: r.get(2),
            count: r.get::<_, i64>(3).max(0) as u64,
            oldest_ms: r.get(4),
            newest_ms: r.get(5),
        })
        .collect())
}

/// The replicas whose last heartbeat is within their lease, oldest first.
pub(super) async fn replicas(client: &Object) -> Result<Vec<Replica>, SpoolError> {
    let rows = client
        .query(
            "SELECT id, started_at, seen_at FROM replicas
              WHERE seen_at >= switchboard_now_ms() - lease_ms ORDER BY started_at, id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Replica {
            id: r.get(0),
            started_ms: r.get(1),
            seen_ms: r.get(2),
        })
        .collect())
}
