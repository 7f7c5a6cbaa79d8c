//! What operators need from storage ([`Ledger`]: dead letters, backlog,
//! one webhook's story, paused targets) and the views it answers with
//! (the history's are in `history`). The trait and its types only: each
//! backend implements it in its own `ledger` and `search`.

use std::collections::HashMap;
use std::future::Future;

use super::SpoolError;
use super::audit::{AuditEntry, AuditRecord, Job, JobState, NewJob};
use super::bulk::{Action, Batch, Pended, Rerendered, Scope, Selected, Unrendered};
use super::filter::EventFilter;
use super::history::{EventSummary, EventView, Page, Stored};

/// A dead letter, for `dlq list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    /// Spool row id.
    pub id: i64,
    /// The webhook's id.
    pub event: String,
    /// Target name.
    pub target: String,
    /// Route name.
    pub route: String,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP status, if any.
    pub last_status: Option<u16>,
    /// Last error.
    pub last_error: Option<String>,
    /// When the webhook arrived (unix milliseconds).
    pub received_ms: i64,
    /// When it was given up (unix milliseconds).
    pub dead_ms: i64,
}

/// Which dead letters a `dlq` command applies to.
#[derive(Debug, Clone, Default)]
pub struct DeadFilter {
    /// Only this target.
    pub target: Option<String>,
    /// Only these webhook ids.
    pub events: Vec<String>,
    /// Only those given up before this (unix milliseconds).
    pub before_ms: Option<i64>,
}

/// Per-target counts of the spool's unfinished and dead deliveries.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, Eq)]
pub struct Backlog {
    /// Due or waiting for a retry.
    pub pending: u64,
    /// Of `pending`, those attempted at least once (waiting for a retry, or
    /// due again after one).
    pub retrying: u64,
    /// Waiting for a target disabled by a 410.
    pub parked: u64,
    /// Dead letters.
    pub dead: u64,
    /// When the oldest pending delivery was created (unix ms), if any.
    pub oldest_pending_ms: Option<i64>,
}

/// Dead or parked deliveries of one target that failed alike: what
/// `GET /api/dead-letters/groups` lists, and the bulk filter
/// `{target, states: [state], class}` selects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadGroup {
    /// Target name.
    pub target: String,
    /// `dead` or `parked`.
    pub state: super::DeliveryState,
    /// The last status (`500`), error class (`timeout`) or `none`: see
    /// [`super::filter::CLASS_OF`].
    pub class: String,
    /// How many.
    pub count: u64,
    /// When the first of them was given up or parked (unix ms).
    pub oldest_ms: i64,
    /// When the last was (unix ms).
    pub newest_ms: i64,
}

/// A relay sharing a PostgreSQL spool, as its heartbeat row says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Replica {
    /// Its name (host and process).
    pub id: String,
    /// When it started (unix ms).
    pub started_ms: i64,
    /// Its last heartbeat (unix ms).
    pub seen_ms: i64,
}

/// An operator's pause of a target, as `target_controls` keeps it: it
/// holds across restarts, reloads and replicas.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetControl {
    /// Target name.
    pub target: String,
    /// Whether the target is paused.
    pub paused: bool,
    /// When it was last paused or resumed (unix ms).
    pub changed_ms: i64,
    /// Who did it (the admin token's name), when known.
    pub changed_by: Option<String>,
}

/// What operators need from storage: the admin API and the `dlq` commands.
/// Opened beside a running relay (its own connection), or alone by the CLI;
/// a running relay picks replayed deliveries up within a few seconds.
pub trait Ledger: Send + Sync + 'static {
    /// Dead letters matching `filter`, oldest first.
    fn dead_letters(
        &self,
        filter: &DeadFilter,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, SpoolError>> + Send;

    /// Makes matching dead letters due again, attempts reset; how many.
    fn replay(&self, filter: &DeadFilter) -> impl Future<Output = Result<u64, SpoolError>> + Send;

    /// Deletes matching dead letters (and events left with no deliveries).
    fn purge(&self, filter: &DeadFilter) -> impl Future<Output = Result<u64, SpoolError>> + Send;

    /// Unfinished and dead deliveries per target name.
    fn backlog(&self) -> impl Future<Output = Result<HashMap<String, Backlog>, SpoolError>> + Send;

    /// The webhook with this id and its whole story (bodies, headers,
    /// each delivery's attempts), if the spool still has it.
    fn event(&self, id: &str)
    -> impl Future<Output = Result<Option<EventView>, SpoolError>> + Send;

    /// How many deliveries `action` would touch within `scope` (the
    /// unrendered ones a replay renders again included), and the highest
    /// delivery id now.
    fn bulk_count(
        &self,
        action: Action,
        scope: &Scope,
    ) -> impl Future<Output = Result<Selected, SpoolError>> + Send;

    /// Applies `action` in place to the next batch within `scope`, in one
    /// short transaction: a replay makes them pending (attempts reset, due
    /// now), a cancel makes pending ones `cancelled`, naming `who`. A
    /// replay's unrendered deliveries are left to [`Ledger::unrendered`].
    fn bulk_apply(
        &self,
        action: Action,
        scope: &Scope,
        who: &str,
    ) -> impl Future<Output = Result<Batch, SpoolError>> + Send;

    /// The next batch of unrendered deliveries within `scope`, with their
    /// webhooks, oldest id first.
    fn unrendered(
        &self,
        scope: &Scope,
    ) -> impl Future<Output = Result<Vec<Unrendered>, SpoolError>> + Send;

    /// Stores what rendering unrendered deliveries again came to; the ids
    /// made pending.
    fn rerendered(
        &self,
        results: Vec<Rerendered>,
    ) -> impl Future<Output = Result<Pended, SpoolError>> + Send;

    /// Records an operator's action in the audit log.
    fn audit(&self, entry: AuditEntry) -> impl Future<Output = Result<(), SpoolError>> + Send;

    /// Up to `limit` recorded actions older than row `before`, newest first.
    fn audit_log(
        &self,
        limit: usize,
        before: Option<i64>,
    ) -> impl Future<Output = Result<Vec<AuditRecord>, SpoolError>> + Send;

    /// Records a bulk job as it starts.
    fn job_start(&self, job: NewJob) -> impl Future<Output = Result<(), SpoolError>> + Send;

    /// The job with this id, whichever replica runs it.
    fn job(&self, id: &str) -> impl Future<Output = Result<Option<Job>, SpoolError>> + Send;

    /// Records a job's progress; whether an operator asked it to stop.
    fn job_progress(
        &self,
        id: &str,
        done: i64,
        state: JobState,
        error: Option<String>,
    ) -> impl Future<Output = Result<bool, SpoolError>> + Send;

    /// Asks a job to stop (between two batches); the job then, if any.
    fn job_stop(&self, id: &str) -> impl Future<Output = Result<Option<Job>, SpoolError>> + Send;
    /// Every target an operator ever paused or resumed, paused or not.
    fn controls(&self) -> impl Future<Output = Result<Vec<TargetControl>, SpoolError>> + Send;

    /// For a probe: unless one of `target`'s pending deliveries is due at
    /// `now_ms`, makes the one due next due now (its retry's wait cut
    /// short). Whether it changed one.
    fn due_now(
        &self,
        target: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, SpoolError>> + Send;

    /// Keeps `control` (a pause or a resume) for every relay on this spool.
    fn set_control(
        &self,
        control: &TargetControl,
    ) -> impl Future<Output = Result<(), SpoolError>> + Send;

    /// Webhooks matching `filter`, newest first: at most `limit`, older
    /// than `cursor` (the last id of the page before). Ids are time-ordered,
    /// so pages neither repeat nor skip while webhooks arrive.
    fn search(
        &self,
        filter: &EventFilter,
        limit: usize,
        cursor: Option<uuid::Uuid>,
    ) -> impl Future<Output = Result<Page<EventSummary>, SpoolError>> + Send;

    /// The webhook's stored input (its body, content type, headers, source
    /// and config version), if the spool still has it.
    fn stored(&self, id: &str) -> impl Future<Output = Result<Option<Stored>, SpoolError>> + Send;

    /// Dead and parked deliveries grouped by target, state and class,
    /// largest group first.
    fn dead_groups(&self) -> impl Future<Output = Result<Vec<DeadGroup>, SpoolError>> + Send;

    /// The live relays sharing the spool: `None` when the spool is not
    /// shared (SQLite).
    fn replicas(&self) -> impl Future<Output = Result<Option<Vec<Replica>>, SpoolError>> + Send;
}

/// The statement behind [`Ledger::dead_groups`], the same on both
/// backends; its class is the filter's, so a group's filter selects it.
pub fn dead_groups_sql() -> String {
    format!(
        "SELECT d.target, d.state, {} AS class, COUNT(*), MIN(d.updated_at), MAX(d.updated_at)
           FROM deliveries d WHERE d.state IN ('dead', 'parked')
          GROUP BY d.target, d.state, class ORDER BY COUNT(*) DESC, d.target, class",
        super::filter::CLASS_OF
    )
}
