//! One replica's writer: group commit on one connection.
//!
//! Every command waiting when the writer wakes goes into one transaction, in
//! this order: leases of unoffered deliveries given up, accepts (one
//! statement for all events, which takes their `webhook-id`s and leaves out
//! the duplicates, one for all deliveries), outcomes (one
//! statement), dead-lettering and unparking, the heartbeat, then claims.
//! Outcomes before claims is what lets a worker trust a claim: a delivery it
//! has just recorded is not handed back. After the commit the writer logs
//! the `accepted` lines, offers the fresh deliveries to their windows, then
//! answers accepts, then claims
//! (so a dispatcher that drains its window after a claim has seen every
//! fresh delivery the claim could also return): see `answer`. The SQL is
//! in `accept`, `deliveries` and `replicas`.

use std::sync::Arc;

use deadpool_postgres::{Object, Pool};
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;

use super::{Shared, TRANSACTION_BUDGET, accept, deliveries, replicas};
use crate::spool::command::{Change, Command, Reply};
use crate::spool::{
    Admitted, AttemptLog, Claimed, CommitError, NewDelivery, NewEvent, Ready, Record, SpoolError,
};
use crate::time::now_ms;

pub(super) struct Writer {
    pool: Pool,
    pub(super) client: Option<Object>,
    pub(super) shared: Arc<Shared>,
    replica: Arc<str>,
    lease_ms: i64,
    batch: usize,
    /// Outcomes whose commit failed: written first in the next transaction.
    pub(super) unwritten: Vec<Recorded>,
    /// Fresh deliveries no window took: their leases are given up in the
    /// next transaction, so whichever replica has room claims them.
    pub(super) unoffered: Vec<i64>,
}

/// An outcome as the writer holds it: the delivery, what became of it, the
/// attempt for the history.
pub(super) type Recorded = (i64, Record, Box<AttemptLog>);

/// An accept as the writer holds it.
pub(super) type Accept = (NewEvent, Vec<NewDelivery>, Reply<Admitted>);

/// One batch, sorted by kind.
#[derive(Default)]
pub(super) struct Work {
    pub(super) accepts: Vec<Accept>,
    pub(super) records: Vec<Recorded>,
    pub(super) claims: Vec<(String, usize, Vec<i64>, Reply<Claimed>)>,
    pub(super) changes: Vec<(Change, Reply<u64>)>,
    pub(super) tick: bool,
}

impl Work {
    /// Sorts `batch` by kind, after `records` (outcomes left from a failed
    /// commit).
    fn sort(batch: Vec<Command>, records: Vec<Recorded>) -> Work {
        let mut work = Work {
            records,
            ..Work::default()
        };
        for command in batch {
            match command {
                Command::Accept {
                    event,
                    deliveries,
                    reply,
                } => work.accepts.push((*event, deliveries, reply)),
                Command::Record { id, outcome, log } => work.records.push((id, outcome, log)),
                Command::Claim {
                    target,
                    limit,
                    held,
                    reply,
                } => work.claims.push((target, limit, held, reply)),
                Command::Change { change, reply } => work.changes.push((change, reply)),
                Command::Tick => work.tick = true,
            }
        }
        work
    }
}

/// What a committed batch did.
#[derive(Default)]
pub(super) struct Done {
    pub(super) offers: Vec<Ready>,
    /// Per accept: deliveries and body bytes added, or `None` for a
    /// duplicate `webhook-id` (nothing written).
    pub(super) accepted: Vec<Option<(u64, u64)>>,
    /// Deliveries and bytes that left the pending set.
    pub(super) settled: (u64, u64),
    pub(super) claims: Vec<Claimed>,
    pub(super) counts: Vec<u64>,
    pub(super) live: Option<u32>,
}

impl Writer {
    pub(super) fn new(
        pool: Pool,
        shared: Arc<Shared>,
        replica: Arc<str>,
        lease_ms: i64,
        batch: usize,
    ) -> Writer {
        Writer {
            pool,
            client: None,
            shared,
            replica,
            lease_ms,
            batch,
            unwritten: Vec::new(),
            unoffered: Vec::new(),
        }
    }

    /// Runs until every sender is gone.
    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(first) = commands.recv().await {
            let mut batch = vec![first];
            while batch.len() < self.batch {
                match commands.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            let (started, commands) = (std::time::Instant::now(), batch.len());
            self.process(batch).await;
            crate::metrics::spool_commit(started.elapsed(), commands);
        }
    }

    async fn process(&mut self, batch: Vec<Command>) {
        let work = Work::sort(batch, std::mem::take(&mut self.unwritten));
        let unoffered = std::mem::take(&mut self.unoffered);
        let mut tries = 0;
        let result = loop {
            tries += 1;
            let attempt = tokio::time::timeout(TRANSACTION_BUDGET, self.apply(&work, &unoffered));
            match attempt.await {
                Ok(Ok(done)) => break Ok(done),
                // Another replica's bulk change (a replay, a reload's dead
                // letters) crossed this batch: the database aborted one of
                // the two, and this batch can simply run again.
                Ok(Err(error)) if transient(&error) && tries < 3 => {
                    tracing::debug!(%error, "spool transaction aborted; running it again");
                }
                Ok(Err(error)) => break Err(CommitError::Postgres(error)),
                Err(_) => break Err(CommitError::Timeout(TRANSACTION_BUDGET)),
            }
        };
        match result {
            Ok(done) => self.committed(work, done),
            Err(error) => self.failed(work, unoffered, error),
        }
    }

    /// Runs the batch in one transaction.
    async fn apply(&mut self, work: &Work, unoffered: &[i64]) -> Result<Done, SpoolError> {
        let client = match &mut self.client {
            Some(client) => client,
            slot @ None => slot.insert(self.pool.get().await?),
        };
        let tx = client.transaction().await?;
        let (now, me, lease_ms) = (now_ms(), &*self.replica, self.lease_ms);
        let mut done = Done::default();
        deliveries::release(&tx, unoffered, me).await?;
        accept::insert(&tx, &work.accepts, now, me, lease_ms, &mut done).await?;
        done.settled = deliveries::record(&tx, &work.records, now).await?;
        for (change, _) in &work.changes {
            let (n, settled) = deliveries::change_state(&tx, change, now, me).await?;
            done.counts.push(n);
            done.settled.0 += settled.0;
            done.settled.1 += settled.1;
        }
        if work.tick {
            replicas::renew(&tx, me, lease_ms).await?;
            done.live = Some(replicas::heartbeat(&*tx, me, lease_ms).await?);
        }
        for (target, limit, held, _) in &work.claims {
            let claimed = deliveries::claim(&tx, target, *limit, held, now, me, lease_ms).await?;
            done.claims.push(claimed);
        }
        tx.commit().await?;
        Ok(done)
    }
}

/// A deadlock or serialization failure: the batch may simply run again.
fn transient(error: &SpoolError) -> bool {
    match error {
        SpoolError::Postgres(e) => matches!(
            e.code(),
            Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        ),
        _ => false,
    }
}
