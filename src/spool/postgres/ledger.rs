//! The operator's view of the PostgreSQL spool: dead letters (list, replay,
//! purge), backlog per target, paused targets; the history's reads are in `search`. Plain statements on a
//! pooled connection; a replay is picked up by the replicas' next claims.

use std::collections::HashMap;

use deadpool_postgres::Pool;
use uuid::Uuid;

use super::{bulk, journal, pool, schema, search, shown};
use crate::spool::audit::{AuditEntry, AuditRecord, Job, JobState, NewJob};
use crate::spool::bulk::{Action, Batch, Pended, Rerendered, Scope, Selected, Unrendered};
use crate::spool::{
    Backlog, DeadFilter, DeadGroup, DeadLetter, EventFilter, EventSummary, EventView, Ledger, Page,
    Replica, SpoolError, Stored, TargetControl,
};

/// Dead letters and status, for the admin API and the `dlq` commands.
#[derive(Clone)]
pub struct PgLedger {
    pool: Pool,
}

impl PgLedger {
    /// Connects (migrating a new database) without joining the replicas.
    pub async fn open(config: &tokio_postgres::Config) -> Result<PgLedger, SpoolError> {
        let pool = pool(config, 2)?;
        schema::migrate(&pool, &shown(config)).await?;
        Ok(PgLedger { pool })
    }

    pub(super) fn from_pool(pool: Pool) -> PgLedger {
        PgLedger { pool }
    }
}

/// `filter` as the parameters `$1` (target), `$2` (event ids), `$3` (before)
/// of [`SELECTED`]. Ids that are not UUIDs match nothing.
fn params(filter: &DeadFilter) -> (Option<&str>, Option<Vec<Uuid>>, Option<i64>) {
    let events = (!filter.events.is_empty()).then(|| {
        filter
            .events
            .iter()
            .filter_map(|e| Uuid::parse_str(e).ok())
            .collect()
    });
    (filter.target.as_deref(), events, filter.before_ms)
}

const SELECTED: &str = "d.state = 'dead'
     AND ($1::text IS NULL OR d.target = $1)
     AND ($2::uuid[] IS NULL OR d.event_id = ANY($2))
     AND ($3::bigint IS NULL OR d.updated_at < $3)";

impl Ledger for PgLedger {
    async fn dead_letters(&self, filter: &DeadFilter) -> Result<Vec<DeadLetter>, SpoolError> {
        let client = self.pool.get().await?;
        let (target, events, before) = params(filter);
        let rows = client
            .query(
                &format!(
                    "SELECT d.id, d.event_id::text, d.target, d.route, d.attempts, d.last_status,
                            d.last_error, e.received_at, d.updated_at
                     FROM deliveries d JOIN events e ON e.id = d.event_id
                     WHERE {SELECTED} ORDER BY d.updated_at, d.id"
                ),
                &[&target, &events, &before],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DeadLetter {
                id: r.get(0),
                event: r.get(1),
                target: r.get(2),
                route: r.get(3),
                attempts: r.get::<_, i32>(4).max(0) as u32,
                last_status: r.get::<_, Option<i32>>(5).map(|s| s as u16),
                last_error: r.get(6),
                received_ms: r.get(7),
                dead_ms: r.get(8),
            })
            .collect())
    }

    async fn replay(&self, filter: &DeadFilter) -> Result<u64, SpoolError> {
        // A replay of the dead deliveries `filter` names, in batches.
        let client = self.pool.get().await?;
        let mut scope = Scope::from(filter);
        let replay = Action::Replay {
            include_delivered: false,
        };
        let mut replayed = 0;
        loop {
            let batch = bulk::apply(&client, replay, &scope, "").await?;
            replayed += batch.changed.len() as u64;
            match batch.last {
                Some(last) if !batch.finished(scope.limit) => scope.after = last,
                _ => return Ok(replayed),
            }
        }
    }

    async fn purge(&self, filter: &DeadFilter) -> Result<u64, SpoolError> {
        let mut client = self.pool.get().await?;
        let (target, events, before) = params(filter);
        let tx = client.transaction().await?;
        let gone = tx
            .query(
                &format!("DELETE FROM deliveries d WHERE {SELECTED} RETURNING d.event_id"),
                &[&target, &events, &before],
            )
            .await?;
        let emptied: Vec<Uuid> = gone.iter().map(|r| r.get(0)).collect();
        // Events whose last delivery went with the purge go too.
        tx.execute(
            "DELETE FROM events e WHERE e.id = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)",
            &[&emptied],
        )
        .await?;
        tx.commit().await?;
        Ok(gone.len() as u64)
    }

    async fn backlog(&self) -> Result<HashMap<String, Backlog>, SpoolError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT target, state, COUNT(*), MIN(created_at),
                        COUNT(*) FILTER (WHERE attempts > 0) FROM deliveries
                 WHERE state IN ('pending', 'parked', 'dead') GROUP BY target, state",
                &[],
            )
            .await?;
        let mut out: HashMap<String, Backlog> = HashMap::new();
        for row in rows {
            let n = row.get::<_, i64>(2).max(0) as u64;
            let entry = out.entry(row.get(0)).or_default();
            match row.get::<_, &str>(1) {
                "pending" => {
                    entry.pending = n;
                    entry.retrying = row.get::<_, i64>(4).max(0) as u64;
                    entry.oldest_pending_ms = Some(row.get::<_, i64>(3));
                }
                "parked" => entry.parked = n,
                _ => entry.dead = n,
            }
        }
        Ok(out)
    }

    async fn event(&self, id: &str) -> Result<Option<EventView>, SpoolError> {
        search::event(&self.pool.get().await?, id).await
    }

    async fn search(
        &self,
        filter: &EventFilter,
        limit: usize,
        cursor: Option<Uuid>,
    ) -> Result<Page<EventSummary>, SpoolError> {
        search::search(&self.pool.get().await?, filter, limit, cursor).await
    }

    async fn stored(&self, id: &str) -> Result<Option<Stored>, SpoolError> {
        search::stored(&self.pool.get().await?, id).await
    }

    async fn bulk_count(&self, action: Action, scope: &Scope) -> Result<Selected, SpoolError> {
        bulk::count(&self.pool.get().await?, action, scope).await
    }

    async fn bulk_apply(
        &self,
        action: Action,
        scope: &Scope,
        who: &str,
    ) -> Result<Batch, SpoolError> {
        bulk::apply(&self.pool.get().await?, action, scope, who).await
    }

    async fn unrendered(&self, scope: &Scope) -> Result<Vec<Unrendered>, SpoolError> {
        bulk::unrendered(&self.pool.get().await?, scope).await
    }

    async fn rerendered(&self, results: Vec<Rerendered>) -> Result<Pended, SpoolError> {
        bulk::rerendered(&mut self.pool.get().await?, &results).await
    }

    async fn audit(&self, entry: AuditEntry) -> Result<(), SpoolError> {
        journal::audit(&self.pool.get().await?, &entry).await
    }

    async fn audit_log(
        &self,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<AuditRecord>, SpoolError> {
        journal::audit_log(&self.pool.get().await?, limit, before).await
    }

    async fn job_start(&self, job: NewJob) -> Result<(), SpoolError> {
        journal::job_start(&self.pool.get().await?, &job).await
    }

    async fn job(&self, id: &str) -> Result<Option<Job>, SpoolError> {
        journal::job(&self.pool.get().await?, id).await
    }

    async fn job_progress(
        &self,
        id: &str,
        done: i64,
        state: JobState,
        error: Option<String>,
    ) -> Result<bool, SpoolError> {
        journal::job_progress(&self.pool.get().await?, id, done, state, error.as_deref()).await
    }

    async fn job_stop(&self, id: &str) -> Result<Option<Job>, SpoolError> {
        journal::job_stop(&self.pool.get().await?, id).await
    }

    async fn controls(&self) -> Result<Vec<TargetControl>, SpoolError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT target, paused, changed_at, changed_by FROM target_controls ORDER BY target",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| TargetControl {
                target: r.get(0),
                paused: r.get(1),
                changed_ms: r.get(2),
                changed_by: r.get(3),
            })
            .collect())
    }

    async fn due_now(&self, target: &str, now_ms: i64) -> Result<bool, SpoolError> {
        let client = self.pool.get().await?;
        let changed = client
            .execute(
                "UPDATE deliveries SET due_at = $2
                 WHERE id = (SELECT id FROM deliveries WHERE target = $1 AND state = 'pending'
                             ORDER BY due_at, id LIMIT 1)
                   AND due_at > $2",
                &[&target, &now_ms],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn set_control(&self, control: &TargetControl) -> Result<(), SpoolError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO target_controls (target, paused, changed_at, changed_by) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (target) DO UPDATE SET paused = EXCLUDED.paused,
                     changed_at = EXCLUDED.changed_at, changed_by = EXCLUDED.changed_by",
                &[&control.target, &control.paused, &control.changed_ms, &control.changed_by],
            )
            .await?;
        Ok(())
    }

    async fn dead_groups(&self) -> Result<Vec<DeadGroup>, SpoolError> {
        super::groups::dead_groups(&self.pool.get().await?).await
    }

    async fn replicas(&self) -> Result<Option<Vec<Replica>>, SpoolError> {
        super::groups::replicas(&self.pool.get().await?)
            .await
            .map(Some)
    }
}
