//! The audit log and the bulk jobs in a spool file: recording an
//! operator's action, reading the log newest first, and a job's row from
//! its start to its end (progress, the stop flag). Plain statements, each
//! atomic on its own; nothing else is written.

use rusqlite::{Connection, OptionalExtension, params};

use crate::spool::SpoolError;
use crate::spool::audit::{AuditEntry, AuditRecord, Job, JobState, NewJob, rfc3339};
use crate::time::now_ms;

/// Records an operator's action, now.
pub fn audit(conn: &Connection, entry: &AuditEntry) -> Result<(), SpoolError> {
    let filter = entry.filter.as_ref().map(ToString::to_string);
    conn.execute(
        "INSERT INTO audit (at, who, action, target, filter, count, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![now_ms(), entry.who, entry.action, entry.target, filter, entry.count, entry.detail],
    )?;
    Ok(())
}

/// Up to `limit` recorded actions older than row `before`, newest first.
pub fn audit_log(
    conn: &Connection,
    limit: usize,
    before: Option<i64>,
) -> Result<Vec<AuditRecord>, SpoolError> {
    let mut stmt = conn.prepare(
        "SELECT id, at, who, action, target, filter, count, detail FROM audit
         WHERE ?1 IS NULL OR id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![before, limit as i64], |r| {
            let filter: Option<String> = r.get(5)?;
            let at_ms: i64 = r.get(1)?;
            Ok(AuditRecord {
                id: r.get(0)?,
                at_ms,
                at: rfc3339(at_ms),
                who: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                filter: filter.and_then(|f| serde_json::from_str(&f).ok()),
                count: r.get(6)?,
                detail: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Records a job as it starts, running.
pub fn job_start(conn: &Connection, job: &NewJob) -> Result<(), SpoolError> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO jobs (id, kind, filter, state, total, done, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'running', ?4, 0, ?5, ?6, ?6)",
        params![job.id, job.kind, job.filter.to_string(), job.total, job.created_by, now],
    )?;
    Ok(())
}

/// The job with this id.
pub fn job(conn: &Connection, id: &str) -> Result<Option<Job>, SpoolError> {
    Ok(conn
        .query_row(
            "SELECT id, kind, filter, state, total, done, created_by, created_at, updated_at, stop, error
             FROM jobs WHERE id = ?1",
            params![id],
            |r| {
                let filter: String = r.get(2)?;
                let state: String = r.get(3)?;
                let (created_ms, updated_ms): (i64, i64) = (r.get(7)?, r.get(8)?);
                Ok(Job {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    filter: serde_json::from_str(&filter).unwrap_or_default(),
                    state: JobState::parse(&state),
                    total: r.get(4)?,
                    done: r.get(5)?,
                    created_by: r.get(6)?,
                    created_ms,
                    created_at: rfc3339(created_ms),
                    updated_ms,
                    updated_at: rfc3339(updated_ms),
                    stop_requested: r.get::<_, i64>(9)? != 0,
                    error: r.get(10)?,
                })
            },
        )
        .optional()?)
}

/// Records a job's progress; whether an operator asked it to stop.
pub fn job_progress(
    conn: &Connection,
    id: &str,
    done: i64,
    state: JobState,
    error: Option<&str>,
) -> Result<bool, SpoolError> {
    let stop: Option<i64> = conn
        .query_row(
            "UPDATE jobs SET done = ?2, state = ?3, error = ?4, updated_at = ?5 WHERE id = ?1 RETURNING stop",
            params![id, done, state.as_str(), error, now_ms()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(stop.is_some_and(|s| s != 0))
}

/// Asks a job to stop; the job as it is then, if there is one.
pub fn job_stop(conn: &Connection, id: &str) -> Result<Option<Job>, SpoolError> {
    conn.execute("UPDATE jobs SET stop = 1 WHERE id = ?1", params![id])?;
    job(conn, id)
}
