//! The audit log's and the bulk jobs' rows, as the spool stores and reads
//! them: who did what to which deliveries and how many ([`AuditEntry`],
//! [`AuditRecord`]); a bulk action's progress ([`NewJob`], [`Job`]). Types
//! only: each backend's `bulk` writes and reads them.

/// An operator's action, to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntry {
    /// The admin token's name, `anonymous` when the API has no token, or
    /// `cli:<user>` for the command line on the spool itself.
    pub who: String,
    /// `replay`, `cancel`, `purge`, `pause`, `resume`, `probe`, `reload`...
    pub action: String,
    /// The target it was about, if one.
    pub target: Option<String>,
    /// The filter, as JSON, if it selected deliveries.
    pub filter: Option<serde_json::Value>,
    /// How many deliveries it selected or changed, if it counts.
    pub count: Option<i64>,
    /// Anything else worth keeping (a job id, a reload's outcome).
    pub detail: Option<String>,
}

/// A recorded action, newest first in [`crate::spool::Ledger::audit_log`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditRecord {
    /// Its row id (the cursor's position).
    pub id: i64,
    /// When (unix milliseconds).
    pub at_ms: i64,
    /// When, as RFC 3339.
    pub at: String,
    pub who: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Working through its batches.
    Running,
    /// Every batch done.
    Done,
    /// Stopped by an operator before the end.
    Stopped,
    /// A batch failed; `error` says why.
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Stopped => "stopped",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> JobState {
        match name {
            "done" => JobState::Done,
            "stopped" => JobState::Stopped,
            "failed" => JobState::Failed,
            _ => JobState::Running,
        }
    }
}

/// A job to record as it starts.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    /// `replay` or `cancel`.
    pub kind: String,
    /// The request's filter, as JSON.
    pub filter: serde_json::Value,
    /// Deliveries selected when it started.
    pub total: i64,
    pub created_by: String,
}

/// A job's progress, for `GET /api/jobs/{id}`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub filter: serde_json::Value,
    pub state: JobState,
    /// Deliveries selected when it started.
    pub total: i64,
    /// Deliveries it has changed so far.
    pub done: i64,
    pub created_by: String,
    pub created_ms: i64,
    pub created_at: String,
    pub updated_ms: i64,
    pub updated_at: String,
    /// An operator asked it to stop; it does between two batches.
    pub stop_requested: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A unix-milliseconds time as RFC 3339, to the millisecond.
pub fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}
