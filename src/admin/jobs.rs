//! Bulk jobs: a replay or cancel the admin API started, worked through
//! batch by batch on a task of its own, its progress and end written to
//! the spool's `jobs` (so any replica reports it), and stopped between two
//! batches when an operator asks. At most one job of each kind runs in a
//! relay at a time. The command line runs the same jobs on a spool itself
//! ([`begin`], [`execute`]). A replay only makes deliveries due and wakes the
//! workers; a cancel has the workers drop what they hold of it. Must not
//! send anything itself: dispatch does, within each target's window, rate
//! limit and circuit.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Control;
use super::rerender::rerender;
use crate::runtime::Runtime;
use crate::spool::audit::{AuditEntry, JobState, NewJob};
use crate::spool::bulk::{Action, Scope, Selected};
use crate::spool::{Ledger, LedgerBackend, Pending, SpoolError};

/// The pause between two batches: the relay's own writes (accepts,
/// outcomes) get the spool between them.
const PAUSE: Duration = Duration::from_millis(20);

/// The kinds of job running in this relay, and their stop at shutdown.
#[derive(Default)]
pub struct Jobs {
    running: Mutex<HashSet<&'static str>>,
    /// Cancelled when the admin listener stops: jobs end after their batch
    /// in progress, recorded as stopped.
    halt: CancellationToken,
}

/// A kind's place, held by its running job and given back when it ends.
pub(super) struct Slot {
    jobs: Arc<Jobs>,
    kind: &'static str,
}

impl Jobs {
    /// Has the running jobs end after their batch in progress.
    pub(super) fn halt(&self) {
        self.halt.cancel();
    }

    /// The place for a job of `kind`, unless one runs already.
    pub(super) fn take(self: &Arc<Jobs>, kind: &'static str) -> Option<Slot> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.insert(kind).then(|| Slot {
            jobs: self.clone(),
            kind,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.jobs.running.lock().unwrap_or_else(|e| e.into_inner());
        running.remove(self.kind);
    }
}

/// What a job does.
pub struct Work {
    /// The job's id.
    pub id: String,
    pub action: Action,
    pub scope: Scope,
    /// Who asked: named in a cancelled delivery's `last_error`.
    pub who: String,
}

/// What a job needs of the relay beside the spool: the rules in force (to
/// render unrendered deliveries again; `None` leaves them alone), and
/// telling the workers what changed. The admin API has the running relay;
/// the command line on a spool file has at most a config.
pub trait Effects: Send + Sync {
    fn runtime(&self) -> Option<Arc<Runtime>>;
    /// Replayed deliveries (`ids`) are due now; cancelled ones must not be
    /// sent from memory. `moved` entered the pending count (a replay) or
    /// left it (a cancel).
    fn changed(&self, action: Action, ids: &[i64], moved: Pending);

    /// Whether the job should end now (the relay shuts down).
    fn halted(&self) -> bool {
        false
    }
}

/// The running relay's effects, and its shutdown.
struct Live<C>(Arc<C>, CancellationToken);

impl<C: Control> Effects for Live<C> {
    fn runtime(&self) -> Option<Arc<Runtime>> {
        Some(self.0.runtime())
    }

    fn halted(&self) -> bool {
        self.1.is_cancelled()
    }

    fn changed(&self, action: Action, ids: &[i64], moved: Pending) {
        if ids.is_empty() {
            return;
        }
        match action {
            Action::Replay { .. } => {
                self.0.pending_moved(moved, Pending::default());
                self.0.wake_dispatch();
            }
            Action::Cancel => {
                self.0.pending_moved(Pending::default(), moved);
                self.0.forget(ids);
            }
        }
    }
}

/// Records a job about to start (and the action in the audit log) for the
/// deliveries `selected` counted within `scope`; the work to run.
pub async fn begin(
    ledger: &LedgerBackend,
    action: Action,
    mut scope: Scope,
    selected: Selected,
    filter: serde_json::Value,
    who: &str,
) -> Result<Work, SpoolError> {
    scope.through = selected.through;
    let id = uuid::Uuid::now_v7().to_string();
    let job = NewJob {
        id: id.clone(),
        kind: action.as_str().to_owned(),
        filter: filter.clone(),
        total: selected.count as i64,
        created_by: who.to_owned(),
    };
    ledger.job_start(job).await?;
    let entry = AuditEntry {
        who: who.to_owned(),
        action: action.as_str().to_owned(),
        target: scope.filter.target.clone(),
        filter: Some(filter),
        count: Some(selected.count as i64),
        detail: Some(format!("job {id}")),
    };
    tracing::info!(who, action = action.as_str(), count = selected.count, job = %id, "operator action");
    ledger.audit(entry).await?;
    Ok(Work {
        id,
        action,
        scope,
        who: who.to_owned(),
    })
}

/// Runs a job for the admin API, holding its kind's place.
pub(super) async fn run<C: Control>(relay: Arc<C>, ledger: LedgerBackend, work: Work, slot: Slot) {
    let halt = slot.jobs.halt.clone();
    execute(&Live(relay, halt), &ledger, &work).await;
    drop(slot);
}

/// Runs a job to its end and records how it ended; its state.
pub async fn execute<E: Effects>(effects: &E, ledger: &LedgerBackend, work: &Work) -> JobState {
    let mut done = 0;
    let (state, error) = match steps(effects, ledger, work, &mut done).await {
        Ok(End::Done) => (JobState::Done, None),
        Ok(End::Stopped) => (JobState::Stopped, None),
        Ok(End::Halted) => (
            JobState::Stopped,
            Some(
                "the relay shut down before the job ended: start it again for the rest".to_owned(),
            ),
        ),
        Err(error) => (JobState::Failed, Some(chain(&error))),
    };
    let id = work.id.as_str();
    tracing::info!(
        job = id,
        action = work.action.as_str(),
        done,
        state = state.as_str(),
        error = error.as_deref().unwrap_or(""),
        "bulk job ended"
    );
    if let Err(error) = ledger.job_progress(id, done as i64, state, error).await {
        tracing::error!(job = id, %error, "could not record the end of a bulk job");
    }
    state
}

/// The job's batches: in place first, then (a replay) the unrendered
/// deliveries rendered again.
async fn steps<E: Effects>(
    effects: &E,
    ledger: &LedgerBackend,
    work: &Work,
    done: &mut u64,
) -> Result<End, SpoolError> {
    let mut scope = work.scope.clone();
    loop {
        let batch = ledger.bulk_apply(work.action, &scope, &work.who).await?;
        *done += batch.changed.len() as u64;
        effects.changed(work.action, &batch.changed, batch.moved);
        if let Some(end) = progress(effects, ledger, work, *done).await? {
            return Ok(end);
        }
        match batch.last {
            Some(last) if !batch.finished(scope.limit) => scope.after = last,
            _ => break,
        }
        tokio::time::sleep(PAUSE).await;
    }
    let Some(runtime) = effects.runtime().filter(|_| work.action.unrendered()) else {
        return Ok(End::Done);
    };
    let mut scope = work.scope.clone();
    loop {
        let rows = ledger.unrendered(&scope).await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            return Ok(End::Done);
        };
        let finished = rows.len() < scope.limit;
        let runtime = runtime.clone();
        // jq programs run here: off the async threads.
        let results = tokio::task::spawn_blocking(move || {
            rows.iter().map(|row| rerender(&runtime, row)).collect()
        })
        .await
        .map_err(SpoolError::Task)?;
        let pended = ledger.rerendered(results).await?;
        *done += pended.ids.len() as u64;
        effects.changed(work.action, &pended.ids, pended.moved);
        if let Some(end) = progress(effects, ledger, work, *done).await? {
            return Ok(end);
        }
        if finished {
            return Ok(End::Done);
        }
        scope.after = last;
        tokio::time::sleep(PAUSE).await;
    }
}

/// How a job's batches ended.
enum End {
    /// Every batch done.
    Done,
    /// An operator asked it to stop.
    Stopped,
    /// The relay is shutting down.
    Halted,
}

/// Records progress; whether to stop here.
async fn progress<E: Effects>(
    effects: &E,
    ledger: &LedgerBackend,
    work: &Work,
    done: u64,
) -> Result<Option<End>, SpoolError> {
    let asked = ledger
        .job_progress(&work.id, done as i64, JobState::Running, None)
        .await?;
    Ok(if asked {
        Some(End::Stopped)
    } else if effects.halted() {
        Some(End::Halted)
    } else {
        None
    })
}

/// An error with its causes, one line (a database error's detail is in
/// its source).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
