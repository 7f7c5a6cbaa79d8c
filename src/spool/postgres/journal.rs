//! The audit log and the bulk jobs in the PostgreSQL spool, shared by the
//! replicas: any replica reports (and stops) a job another one runs.
//! Plain statements, each atomic on its own; nothing else is written.

use deadpool_postgres::Object;
use tokio_postgres::Row;

use crate::spool::SpoolError;
use crate::spool::audit::{AuditEntry, AuditRecord, Job, JobState, NewJob, rfc3339};
use crate::time::now_ms;

/// Records an operator's action, now.
pub async fn audit(client: &Object, entry: &AuditEntry) -> Result<(), SpoolError> {
    let filter = entry.filter.as_ref().map(ToString::to_string);
    client
        .execute(
            "INSERT INTO audit (at, who, action, target, filter, count, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &now_ms(),
                &entry.who,
                &entry.action,
                &entry.target,
                &filter,
                &entry.count,
                &entry.detail,
            ],
        )
        .await?;
    Ok(())
}

/// Up to `limit` recorded actions older than row `before`, newest first.
pub async fn audit_log(
    client: &Object,
    limit: usize,
    before: Option<i64>,
) -> Result<Vec<AuditRecord>, SpoolError> {
    let rows = client
        .query(
            "SELECT id, at, who, action, target, filter, count, detail FROM audit
             WHERE $1::bigint IS NULL OR id < $1 ORDER BY id DESC LIMIT $2",
            &[&before, &(limit as i64)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let at_ms: i64 = r.get(1);
            AuditRecord {
                id: r.get(0),
                at_ms,
                at: rfc3339(at_ms),
                who: r.get(2),
                action: r.get(3),
                target: r.get(4),
                filter: r
                    .get::<_, Option<String>>(5)
                    .and_then(|f| serde_json::from_str(&f).ok()),
                count: r.get(6),
                detail: r.get(7),
            }
        })
        .collect())
}

/// Records a job as it starts, running.
pub async fn job_start(client: &Object, job: &NewJob) -> Result<(), SpoolError> {
    let now = now_ms();
    client
        .execute(
            "INSERT INTO jobs (id, kind, filter, state, total, done, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, 'running', $4, 0, $5, $6, $6)",
            &[
                &job.id,
                &job.kind,
                &job.filter.to_string(),
                &job.total,
                &job.created_by,
                &now,
            ],
        )
        .await?;
    Ok(())
}

fn job_of(r: &Row) -> Job {
    let (created_ms, updated_ms): (i64, i64) = (r.get(7), r.get(8));
    Job {
        id: r.get(0),
        kind: r.get(1),
        filter: serde_json::from_str(r.get::<_, &str>(2)).unwrap_or_default(),
        state: JobState::parse(r.get(3)),
        total: r.get(4),
        done: r.get(5),
        created_by: r.get(6),
        created_ms,
        created_at: rfc3339(created_ms),
        updated_ms,
        updated_at: rfc3339(updated_ms),
        stop_requested: r.get(9),
        error: r.get(10),
    }
}

/// The job with this id.
pub async fn job(client: &Object, id: &str) -> Result<Option<Job>, SpoolError> {
    Ok(client
        .query_opt(
            "SELECT id, kind, filter, state, total, done, created_by, created_at, updated_at, stop, error
             FROM jobs WHERE id = $1",
            &[&id],
        )
        .await?
        .as_ref()
        .map(job_of))
}

/// Records a job's progress; whether an operator asked it to stop.
pub async fn job_progress(
    client: &Object,
    id: &str,
    done: i64,
    state: JobState,
    error: Option<&str>,
) -> Result<bool, SpoolError> {
    let row = client
        .query_opt(
            "UPDATE jobs SET done = $2, state = $3, error = $4, updated_at = $5 WHERE id = $1 RETURNING stop",
            &[&id, &done, &state.as_str(), &error, &now_ms()],
        )
        .await?;
    Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
}

/// Asks a job to stop; the job as it is then, if there is one.
pub async fn job_stop(client: &Object, id: &str) -> Result<Option<Job>, SpoolError> {
    client
        .execute("UPDATE jobs SET stop = true WHERE id = $1", &[&id])
        .await?;
    job(client, id).await
}
