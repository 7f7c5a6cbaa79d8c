//! The operator's view of a spool file ([`Ledger`]): the admin API's and the
//! `dlq` commands', on a connection of its own, used off the async threads.
//! The SQL is in `dlq`, `inspect` and `search`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::schema::open_connection;
use super::{bulk, dlq, inspect, journal, search};
use crate::spool::audit::{AuditEntry, AuditRecord, Job, JobState, NewJob};
use crate::spool::bulk::{Action, Batch, Pended, Rerendered, Scope, Selected, Unrendered};
use crate::spool::{
    Backlog, DeadFilter, DeadGroup, DeadLetter, EventFilter, EventSummary, EventView, Ledger, Page,
    Replica, SpoolError, Stored, TargetControl,
};

/// The operator's view of a spool file: the admin API's and the `dlq`
/// commands'. Its own connection, used off the async threads.
#[derive(Clone)]
pub struct SqliteLedger {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteLedger {
    /// Opens the spool file (creating nothing new but the schema).
    pub fn open(path: &Path) -> Result<SqliteLedger, SpoolError> {
        Ok(SqliteLedger {
            conn: Arc::new(Mutex::new(open_connection(path)?)),
        })
    }

    async fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, SpoolError> + Send + 'static,
    ) -> Result<T, SpoolError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&conn.lock().unwrap_or_else(|e| e.into_inner())))
            .await
            .unwrap_or_else(|e| Err(SpoolError::Task(e)))
    }
}

impl Ledger for SqliteLedger {
    async fn dead_letters(&self, filter: &DeadFilter) -> Result<Vec<DeadLetter>, SpoolError> {
        let filter = filter.clone();
        self.query(move |c| dlq::list(c, &filter)).await
    }

    async fn replay(&self, filter: &DeadFilter) -> Result<u64, SpoolError> {
        let filter = filter.clone();
        self.query(move |c| dlq::replay(c, &filter).map(|n| n as u64))
            .await
    }

    async fn purge(&self, filter: &DeadFilter) -> Result<u64, SpoolError> {
        let filter = filter.clone();
        self.query(move |c| dlq::purge(c, &filter).map(|n| n as u64))
            .await
    }

    async fn backlog(&self) -> Result<HashMap<String, Backlog>, SpoolError> {
        self.query(inspect::backlog).await
    }

    async fn event(&self, id: &str) -> Result<Option<EventView>, SpoolError> {
        let id = id.to_owned();
        self.query(move |c| search::event(c, &id)).await
    }

    async fn search(
        &self,
        filter: &EventFilter,
        limit: usize,
        cursor: Option<uuid::Uuid>,
    ) -> Result<Page<EventSummary>, SpoolError> {
        let filter = filter.clone();
        self.query(move |c| search::search(c, &filter, limit, cursor))
            .await
    }

    async fn stored(&self, id: &str) -> Result<Option<Stored>, SpoolError> {
        let id = id.to_owned();
        self.query(move |c| search::stored(c, &id)).await
    }

    async fn bulk_count(&self, action: Action, scope: &Scope) -> Result<Selected, SpoolError> {
        let scope = scope.clone();
        self.query(move |c| bulk::count(c, action, &scope)).await
    }

    async fn bulk_apply(
        &self,
        action: Action,
        scope: &Scope,
        who: &str,
    ) -> Result<Batch, SpoolError> {
        let (scope, who) = (scope.clone(), who.to_owned());
        self.query(move |c| bulk::apply(c, action, &scope, &who))
            .await
    }

    async fn unrendered(&self, scope: &Scope) -> Result<Vec<Unrendered>, SpoolError> {
        let scope = scope.clone();
        self.query(move |c| bulk::unrendered(c, &scope)).await
    }

    async fn rerendered(&self, results: Vec<Rerendered>) -> Result<Pended, SpoolError> {
        self.query(move |c| bulk::rerendered(c, &results)).await
    }

    async fn audit(&self, entry: AuditEntry) -> Result<(), SpoolError> {
        self.query(move |c| journal::audit(c, &entry)).await
    }

    async fn audit_log(
        &self,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<AuditRecord>, SpoolError> {
        self.query(move |c| journal::audit_log(c, limit, before))
            .await
    }

    async fn job_start(&self, job: NewJob) -> Result<(), SpoolError> {
        self.query(move |c| journal::job_start(c, &job)).await
    }

    async fn job(&self, id: &str) -> Result<Option<Job>, SpoolError> {
        let id = id.to_owned();
        self.query(move |c| journal::job(c, &id)).await
    }

    async fn job_progress(
        &self,
        id: &str,
        done: i64,
        state: JobState,
        error: Option<String>,
    ) -> Result<bool, SpoolError> {
        let id = id.to_owned();
        self.query(move |c| journal::job_progress(c, &id, done, state, error.as_deref()))
            .await
    }

    async fn job_stop(&self, id: &str) -> Result<Option<Job>, SpoolError> {
        let id = id.to_owned();
        self.query(move |c| journal::job_stop(c, &id)).await
    }

    async fn controls(&self) -> Result<Vec<TargetControl>, SpoolError> {
        self.query(inspect::controls).await
    }

    async fn due_now(&self, target: &str, now_ms: i64) -> Result<bool, SpoolError> {
        let target = target.to_owned();
        self.query(move |c| inspect::due_now(c, &target, now_ms))
            .await
    }

    async fn set_control(&self, control: &TargetControl) -> Result<(), SpoolError> {
        let control = control.clone();
        self.query(move |c| inspect::set_control(c, &control)).await
    }

    async fn dead_groups(&self) -> Result<Vec<DeadGroup>, SpoolError> {
        self.query(inspect::dead_groups).await
    }

    async fn replicas(&self) -> Result<Option<Vec<Replica>>, SpoolError> {
        Ok(None)
    }
}
