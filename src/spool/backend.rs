//! Choosing the spool: [`Backend`] / [`LedgerBackend`] open the one
//! `server.spool` names (a [`Location`]) and delegate to it.
//!
//! The traits use `async fn`, so there is no `dyn Spool`: an enum with one
//! arm per backend is the whole mechanism. Owns no SQL.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use super::audit::{AuditEntry, AuditRecord, Job, JobState, NewJob};
use super::bulk::{Action, Batch, Pended, Rerendered, Scope, Selected, Unrendered};
use super::front::{Front, HasFront};
use super::postgres::{self, PgLedger, PgSpool};
use super::sqlite::{self, SqliteLedger, SqliteSpool};
use super::{
    AttemptLog, Backlog, DeadFilter, DeadGroup, DeadLetter, EventFilter, EventSummary, EventView,
    Ledger, Location, Page, Record, Replica, Spool, SpoolError, Stored, TargetControl,
};

/// The relay's spool, whichever backend `server.spool` chose.
pub enum Backend {
    Sqlite(SqliteSpool),
    Postgres(PgSpool),
}

impl Backend {
    /// Opens (creating and migrating) the spool at `location`. `lease` is
    /// how long a PostgreSQL replica's claim outlives its last heartbeat.
    /// Must be called inside a tokio runtime.
    pub async fn open(
        location: &Location,
        commit_batch: usize,
        retention: Duration,
        lease: Duration,
    ) -> Result<Backend, SpoolError> {
        Ok(match location {
            Location::Sqlite(path) => Backend::Sqlite(SqliteSpool::open(sqlite::Options {
                path: path.clone(),
                commit_batch,
                retention,
            })?),
            Location::Postgres(config) => Backend::Postgres(
                PgSpool::open(postgres::Options {
                    config: (**config).clone(),
                    commit_batch,
                    retention,
                    lease,
                })
                .await?,
            ),
        })
    }

    /// The operator's view of the same spool, on a connection of its own.
    pub fn ledger(&self, location: &Location) -> Result<LedgerBackend, SpoolError> {
        Ok(match (self, location) {
            (Backend::Postgres(spool), _) => LedgerBackend::Postgres(spool.ledger()),
            (Backend::Sqlite(_), Location::Sqlite(path)) => {
                LedgerBackend::Sqlite(SqliteLedger::open(path)?)
            }
            (Backend::Sqlite(_), Location::Postgres(_)) => {
                return Err(SpoolError::Mismatch);
            }
        })
    }
}

impl HasFront for Backend {
    fn front(&self) -> Front<'_> {
        match self {
            Backend::Sqlite(s) => s.front(),
            Backend::Postgres(s) => s.front(),
        }
    }
}

/// The trait's forwarding through the chosen backend's front; what the
/// backends do differently goes to them.
impl Spool for Backend {
    async fn record(&self, id: i64, outcome: Record, log: AttemptLog) {
        match self {
            Backend::Sqlite(s) => s.record(id, outcome, log).await,
            Backend::Postgres(s) => s.record(id, outcome, log).await,
        }
    }

    fn share(&self) -> NonZeroU32 {
        match self {
            Backend::Sqlite(s) => s.share(),
            Backend::Postgres(s) => s.share(),
        }
    }

    async fn close(&self) -> Result<(), SpoolError> {
        match self {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(s) => s.close().await,
        }
    }
}

/// The operator's view, whichever backend `server.spool` chose.
#[derive(Clone)]
pub enum LedgerBackend {
    Sqlite(SqliteLedger),
    Postgres(PgLedger),
}

impl LedgerBackend {
    /// Opens the spool at `location` for the `dlq` commands, without
    /// starting a relay (no writer, no heartbeat, no leases). A SQLite file
    /// that does not exist is an error, not a new empty spool: the command
    /// was most likely pointed at the wrong place.
    pub async fn open(location: &Location) -> Result<LedgerBackend, SpoolError> {
        Ok(match location {
            Location::Sqlite(path) if !path.exists() => {
                return Err(SpoolError::Missing {
                    path: path.display().to_string(),
                });
            }
            Location::Sqlite(path) => LedgerBackend::Sqlite(SqliteLedger::open(path)?),
            Location::Postgres(config) => LedgerBackend::Postgres(PgLedger::open(config).await?),
        })
    }
}

impl Ledger for LedgerBackend {
    async fn dead_letters(&self, filter: &DeadFilter) -> Result<Vec<DeadLetter>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.dead_letters(filter).await,
            LedgerBackend::Postgres(l) => l.dead_letters(filter).await,
        }
    }

    async fn replay(&self, filter: &DeadFilter) -> Result<u64, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.replay(filter).await,
            LedgerBackend::Postgres(l) => l.replay(filter).await,
        }
    }

    async fn purge(&self, filter: &DeadFilter) -> Result<u64, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.purge(filter).await,
            LedgerBackend::Postgres(l) => l.purge(filter).await,
        }
    }

    async fn backlog(&self) -> Result<HashMap<String, Backlog>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.backlog().await,
            LedgerBackend::Postgres(l) => l.backlog().await,
        }
    }

    async fn event(&self, id: &str) -> Result<Option<EventView>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.event(id).await,
            LedgerBackend::Postgres(l) => l.event(id).await,
        }
    }

    async fn bulk_count(&self, action: Action, scope: &Scope) -> Result<Selected, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.bulk_count(action, scope).await,
            LedgerBackend::Postgres(l) => l.bulk_count(action, scope).await,
        }
    }

    async fn bulk_apply(
        &self,
        action: Action,
        scope: &Scope,
        who: &str,
    ) -> Result<Batch, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.bulk_apply(action, scope, who).await,
            LedgerBackend::Postgres(l) => l.bulk_apply(action, scope, who).await,
        }
    }

    async fn unrendered(&self, scope: &Scope) -> Result<Vec<Unrendered>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.unrendered(scope).await,
            LedgerBackend::Postgres(l) => l.unrendered(scope).await,
        }
    }

    async fn rerendered(&self, results: Vec<Rerendered>) -> Result<Pended, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.rerendered(results).await,
            LedgerBackend::Postgres(l) => l.rerendered(results).await,
        }
    }

    async fn audit(&self, entry: AuditEntry) -> Result<(), SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.audit(entry).await,
            LedgerBackend::Postgres(l) => l.audit(entry).await,
        }
    }

    async fn audit_log(
        &self,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<AuditRecord>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.audit_log(limit, before).await,
            LedgerBackend::Postgres(l) => l.audit_log(limit, before).await,
        }
    }

    async fn job_start(&self, job: NewJob) -> Result<(), SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.job_start(job).await,
            LedgerBackend::Postgres(l) => l.job_start(job).await,
        }
    }

    async fn job(&self, id: &str) -> Result<Option<Job>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.job(id).await,
            LedgerBackend::Postgres(l) => l.job(id).await,
        }
    }

    async fn job_progress(
        &self,
        id: &str,
        done: i64,
        state: JobState,
        error: Option<String>,
    ) -> Result<bool, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.job_progress(id, done, state, error).await,
            LedgerBackend::Postgres(l) => l.job_progress(id, done, state, error).await,
        }
    }

    async fn job_stop(&self, id: &str) -> Result<Option<Job>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.job_stop(id).await,
            LedgerBackend::Postgres(l) => l.job_stop(id).await,
        }
    }

    async fn controls(&self) -> Result<Vec<TargetControl>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.controls().await,
            LedgerBackend::Postgres(l) => l.controls().await,
        }
    }

    async fn due_now(&self, target: &str, now_ms: i64) -> Result<bool, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.due_now(target, now_ms).await,
            LedgerBackend::Postgres(l) => l.due_now(target, now_ms).await,
        }
    }

    async fn set_control(&self, control: &TargetControl) -> Result<(), SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.set_control(control).await,
            LedgerBackend::Postgres(l) => l.set_control(control).await,
        }
    }

    async fn search(
        &self,
        filter: &EventFilter,
        limit: usize,
        cursor: Option<uuid::Uuid>,
    ) -> Result<Page<EventSummary>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.search(filter, limit, cursor).await,
            LedgerBackend::Postgres(l) => l.search(filter, limit, cursor).await,
        }
    }

    async fn stored(&self, id: &str) -> Result<Option<Stored>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.stored(id).await,
            LedgerBackend::Postgres(l) => l.stored(id).await,
        }
    }

    async fn dead_groups(&self) -> Result<Vec<DeadGroup>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.dead_groups().await,
            LedgerBackend::Postgres(l) => l.dead_groups().await,
        }
    }

    async fn replicas(&self) -> Result<Option<Vec<Replica>>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.replicas().await,
            LedgerBackend::Postgres(l) => l.replicas().await,
        }
    }
}
