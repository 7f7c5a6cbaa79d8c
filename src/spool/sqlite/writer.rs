//! The SQLite writer thread: group commit on the spool's one writing
//! connection. It takes every command waiting, runs them in one
//! transaction, and only once the commit's outcome is known logs the
//! `accepted` lines, offers fresh deliveries to their windows and answers
//! its callers. The SQL of each command is in `accept` and `deliveries`;
//! recounts and pruning in `upkeep`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Transaction;
use tokio::sync::mpsc;

use super::keys::{Indexer, KeyRow, Work};
use super::{accept, deliveries, upkeep};
use crate::spool::command::{Command, Reply};
use crate::spool::windows::{PendingCount, Windows};
use crate::spool::{Admitted, Announce, Claimed, CommitError, Ready, SpoolError};
use crate::time::now_ms;

/// How long a small batch under load waits for more commands.
const LINGER: Duration = Duration::from_micros(400);

/// A batch this large is committed without waiting.
const LINGER_BELOW: usize = 64;

/// How often delivered records past retention are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub(super) struct Writer {
    pub(super) conn: rusqlite::Connection,
    pub(super) windows: Arc<Windows>,
    pub(super) pending: Arc<PendingCount>,
    /// Most commands in one transaction.
    pub(super) batch: usize,
    /// How long delivered records are kept.
    pub(super) retention: Duration,
    pub(super) last_prune: Instant,
    /// Kicks the checkpointer thread.
    pub(super) checkpoint: std::sync::mpsc::SyncSender<()>,
    /// Indexes the lookup keys of what was committed.
    pub(super) keys: Indexer,
}

/// What a batch does after its commit.
#[derive(Default)]
struct After {
    /// The `accepted` lines of the webhooks stored.
    announce: Vec<Announce>,
    offers: Vec<Ready>,
    /// Accepts with what became of them, their delivery count and bytes.
    accepts: Vec<(Reply<Admitted>, Admitted, u64, u64)>,
    claims: Vec<(Reply<Claimed>, Result<Claimed, SpoolError>)>,
    counts: Vec<(Reply<u64>, Result<u64, SpoolError>)>,
    settled: (u64, u64),
    maintain: bool,
    /// The lookup keys of the webhooks stored, for the indexer.
    keys: Vec<KeyRow>,
}

impl Writer {
    /// Runs until every sender is gone.
    pub(super) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(first) = commands.blocking_recv() {
            let mut batch = vec![first];
            self.fill(&mut batch, &mut commands);
            // Under load (more than one command was waiting), a small batch
            // waits a moment for company: a commit's cost is mostly per
            // commit (the fsync, the tails of tables and indexes rewritten
            // to the WAL), so a fuller one is cheaper per webhook. A lone
            // command on an idle relay is committed at once.
            if batch.len() > 1 && batch.len() < LINGER_BELOW.min(self.batch) {
                let until = Instant::now() + LINGER;
                while batch.len() < LINGER_BELOW.min(self.batch) && Instant::now() < until {
                    std::thread::sleep(LINGER / 4);
                    self.fill(&mut batch, &mut commands);
                }
            }
            self.process(batch);
        }
    }

    /// Takes what is waiting, up to the batch limit.
    fn fill(&self, batch: &mut Vec<Command>, commands: &mut mpsc::Receiver<Command>) {
        while batch.len() < self.batch {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
    }

    fn process(&mut self, batch: Vec<Command>) {
        let mut after = After::default();
        let (started, commands) = (Instant::now(), batch.len());
        let result = self.apply(batch, &mut after);
        crate::metrics::spool_commit(started.elapsed(), commands);
        match result {
            Ok(()) => self.committed(after),
            Err(error) => failed(after, error),
        }
    }

    fn committed(&mut self, after: After) {
        let _ = self.checkpoint.try_send(());
        if !after.keys.is_empty() {
            self.keys.send(Work::Index(after.keys));
        }
        for line in &after.announce {
            line.log(self.windows.tail());
        }
        // What a window does not take stays in the file, due: its
        // dispatcher claims it.
        self.windows.offer(after.offers, |_| {});
        // Counted before the 202s go out, so that a sender who got one sees
        // its deliveries pending.
        let added: u64 = after.accepts.iter().map(|(_, _, n, _)| n).sum();
        let added_bytes: u64 = after.accepts.iter().map(|(_, _, _, b)| b).sum();
        self.pending.add(added, added_bytes);
        for (reply, admitted, _, _) in after.accepts {
            let _ = reply.send(Ok(admitted));
        }
        self.pending.settle(after.settled.0, after.settled.1);
        for (reply, claimed) in after.claims {
            let _ = reply.send(claimed);
        }
        for (reply, count) in after.counts {
            let _ = reply.send(count);
        }
        if after.maintain {
            self.maintain();
        }
    }

    /// Runs the batch in one transaction. Replies are collected in `after` and
    /// sent only once the commit's outcome is known.
    fn apply(&mut self, batch: Vec<Command>, after: &mut After) -> Result<(), rusqlite::Error> {
        // IMMEDIATE: take the write lock up front (waiting out a `dlq` command
        // from another process) rather than failing when a read in this
        // batch is followed by a write after someone else committed.
        let mut tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        for command in batch {
            apply_one(&mut tx, &self.windows, command, now, after)?;
        }
        tx.commit()
    }

    /// Recounts pending work (a `dlq replay` from another process changes it)
    /// and prunes old delivered records once a minute.
    fn maintain(&mut self) {
        if let Ok(pending) = upkeep::count_pending(&self.conn) {
            self.pending.set(pending);
        }
        // Other processes' replays: let every dispatcher look again. Only a
        // look: fresh deliveries go on being handed over (a claim leaves out
        // what the dispatcher holds, and it drops what it got twice).
        self.windows.wake_all();
        if self.last_prune.elapsed() < PRUNE_EVERY {
            return;
        }
        self.last_prune = Instant::now();
        let cutoff = now_ms() - self.retention.as_millis() as i64;
        upkeep::prune(&self.conn, cutoff, now_ms());
        self.keys.send(Work::Prune(cutoff));
    }
}

/// Runs one command in the batch's transaction. An error fails the whole
/// batch; an accept that fails fails alone.
fn apply_one(
    tx: &mut Transaction<'_>,
    windows: &Windows,
    command: Command,
    now: i64,
    after: &mut After,
) -> Result<(), rusqlite::Error> {
    match command {
        Command::Accept {
            event,
            deliveries,
            reply,
        } => match accept::admit(tx, &event, &deliveries, now) {
            Ok(Some((ready, bytes))) => {
                // The indexer takes the keys; the announcement needs them
                // only for someone watching the tail.
                let mut event = event;
                let keys = if windows.tail().watched() {
                    event.keys.clone()
                } else {
                    std::mem::take(&mut event.keys)
                };
                let id = event.id.to_string();
                after.keys.extend(
                    keys.into_iter()
                        .map(|(name, value)| (name, value, event.received_ms, id.clone())),
                );
                after
                    .accepts
                    .push((reply, Admitted::Stored, ready.len() as u64, bytes));
                after.announce.push(Announce::of(
                    *event,
                    ready.iter().map(|r| r.target.as_str()),
                    windows.tail(),
                ));
                after.offers.extend(ready);
            }
            Ok(None) => after.accepts.push((reply, Admitted::Duplicate, 0, 0)),
            // This webhook fails alone: the rest of the batch still commits.
            Err(error) => {
                let _ = reply.send(Err(SpoolError::Db(error)));
            }
        },
        Command::Record { id, outcome, log } => {
            if let Some(size) = deliveries::record(tx, id, &outcome, &log, now)? {
                after.settled.0 += 1;
                after.settled.1 += size;
            }
        }
        Command::Claim {
            target,
            limit,
            held,
            reply,
        } => {
            let claimed = deliveries::claim(tx, &target, limit, &held, now);
            if claimed.as_ref().is_ok_and(|c| c.exhausted) {
                windows.caught_up(&target);
            }
            after.claims.push((reply, claimed.map_err(SpoolError::Db)));
        }
        Command::Change { change, reply } => {
            let result = deliveries::change(tx, &change, now);
            if let Ok((_, settled)) = &result {
                after.settled.0 += settled.0;
                after.settled.1 += settled.1;
            }
            let count = result.map(|(n, _)| n).map_err(SpoolError::Db);
            after.counts.push((reply, count));
        }
        Command::Tick => after.maintain = true,
    }
    Ok(())
}

/// Answers every caller of a batch that did not commit with its cause.
fn failed(after: After, error: rusqlite::Error) {
    tracing::error!(%error, "spool commit failed; the webhooks in it were answered 503");
    let cause = Arc::new(CommitError::Sqlite(error));
    let error = || SpoolError::Commit(cause.clone());
    for (reply, _, _, _) in after.accepts {
        let _ = reply.send(Err(error()));
    }
    for (reply, _) in after.claims {
        let _ = reply.send(Err(error()));
    }
    for (reply, _) in after.counts {
        let _ = reply.send(Err(error()));
    }
}
