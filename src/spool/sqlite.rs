//! The embedded spool: one SQLite file (WAL, `synchronous=FULL`) owned by one
//! writer thread that commits in groups.
//!
//! Every command waiting when the writer wakes (accepts, outcomes, claims)
//! shares one transaction and one fsync: that is what makes durable accept
//! fast, since a single commit costs milliseconds. An accept carrying a
//! `webhook-id` takes it in `seen_ids` in the same transaction, or is a
//! duplicate and writes nothing. After each commit the writer logs each
//! stored webhook's `accepted` line, offers the new deliveries to their
//! targets' windows, then answers the waiting accepts (so a 202 always
//! follows the commit), then the claims.
//! Because offers and claims are both made by this one thread, a dispatcher
//! that drains its window after a claim has seen every delivery the claim
//! could also return; with the ones it settled while the claim was out kept
//! aside, that is how it avoids sending one twice.
//!
//! A second thread copies the WAL into the file (checkpoints) beside the
//! writer, so that commits do not wait for it: see `start_checkpointer`.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::windows::{PendingCount, Windows};
use super::{
    Admitted, Announce, Backlog, Claimed, DeadFilter, DeadLetter, EventView, Ledger, NewDelivery,
    NewEvent, Pending, Ready, Record, SeenId, Spool, SpoolError, Window,
};
use crate::time::now_ms;

/// The schema this build writes; older files are migrated forward.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA_V1: &str = "
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    client_ip   TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    routes      TEXT NOT NULL,
    body        BLOB NOT NULL
);
CREATE INDEX events_received ON events(received_at);
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL,
    target      TEXT NOT NULL,
    route       TEXT NOT NULL,
    body        BLOB,
    size        INTEGER NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    last_status INTEGER,
    last_error  TEXT
);
CREATE INDEX deliveries_due ON deliveries(target, state, due_at, id);
CREATE INDEX deliveries_state ON deliveries(state, updated_at);
CREATE INDEX deliveries_event ON deliveries(event_id);
";

/// Version 2 keeps transformed bodies out of `deliveries`: each outcome
/// rewrites its delivery's row, and with a body inline a row filled most of a
/// page, so every outcome wrote a page of WAL. Small rows share pages, and a
/// batch of outcomes touches a few. `deliveries.body` stays, always NULL.
const SCHEMA_V2: &str = "
CREATE TABLE delivery_bodies (
    id   INTEGER PRIMARY KEY,
    body BLOB NOT NULL
);
INSERT INTO delivery_bodies (id, body) SELECT id, body FROM deliveries WHERE body IS NOT NULL;
UPDATE deliveries SET body = NULL WHERE body IS NOT NULL;
CREATE TRIGGER deliveries_forget_body AFTER DELETE ON deliveries
BEGIN
    DELETE FROM delivery_bodies WHERE id = OLD.id;
END;
";

/// Version 3 remembers the Standard Webhooks `webhook-id`s each source has
/// taken, until their timestamps are too old to verify, so that a replay is
/// refused after a restart too. Without a rowid: the key is the row.
const SCHEMA_V3: &str = "
CREATE TABLE seen_ids (
    source     TEXT NOT NULL,
    id         TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (source, id)
) WITHOUT ROWID;
CREATE INDEX seen_ids_expiry ON seen_ids(expires_at);
";

/// How the spool is opened.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database file; its directory is created.
    pub path: PathBuf,
    /// Most commands in one transaction; 1 turns group commit off.
    pub commit_batch: usize,
    /// How long delivered records are kept.
    pub retention: Duration,
}

/// The SQLite spool. Cheap to share: clone the `Arc`.
pub struct SqliteSpool {
    commands: mpsc::Sender<Command>,
    windows: Arc<Windows>,
    pending: Arc<PendingCount>,
    maintenance: tokio::task::JoinHandle<()>,
}

enum Command {
    Accept {
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
        reply: Reply<Admitted>,
    },
    Record {
        id: i64,
        outcome: Record,
    },
    Claim {
        target: String,
        limit: usize,
        held: Vec<i64>,
        reply: Reply<Claimed>,
    },
    DeadLetterOthers {
        keep: Vec<String>,
        reply: Reply<u64>,
    },
    Unpark {
        target: String,
        reply: Reply<u64>,
    },
    Maintain,
    Flush {
        reply: Reply<u64>,
    },
}

impl SqliteSpool {
    /// Opens (creating and migrating) the spool and starts its writer thread.
    /// Must be called inside a tokio runtime.
    pub fn open(options: Options) -> Result<SqliteSpool, SpoolError> {
        let conn = open_connection(&options.path)?;
        // The checkpointer thread copies the WAL into the database; the
        // writer does it itself only if that falls far behind.
        conn.pragma_update(None, "wal_autocheckpoint", FALLBACK_CHECKPOINT_PAGES)?;
        let checkpoint = start_checkpointer(&options.path)?;
        let pending = Arc::new(PendingCount::new(count_pending(&conn)?));
        let windows = Arc::new(Windows::default());
        let (commands, rx) = mpsc::channel(16_384);
        let writer = Writer {
            conn,
            windows: windows.clone(),
            pending: pending.clone(),
            batch: options.commit_batch.max(1),
            retention: options.retention,
            last_prune: std::time::Instant::now(),
            checkpoint,
        };
        std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| SpoolError::Directory {
                path: options.path.display().to_string(),
                source: e,
            })?;
        let tick = commands.clone();
        let maintenance = tokio::spawn(async move {
            // Not at once: `open` has just counted, and windows start in
            // overflow anyway.
            let period = Duration::from_secs(10);
            let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                every.tick().await;
                if tick.send(Command::Maintain).await.is_err() {
                    return;
                }
            }
        });
        Ok(SqliteSpool {
            commands,
            windows,
            pending,
            maintenance,
        })
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, SpoolError>>) -> Command,
    ) -> Result<T, SpoolError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| SpoolError::Stopped)?;
        answer.await.map_err(|_| SpoolError::Stopped)?
    }
}

impl Drop for SqliteSpool {
    fn drop(&mut self) {
        self.maintenance.abort();
    }
}

impl Spool for SqliteSpool {
    async fn accept(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<Admitted, SpoolError> {
        self.ask(|reply| Command::Accept {
            event,
            deliveries,
            reply,
        })
        .await
    }

    async fn record(&self, id: i64, outcome: Record) {
        if self
            .commands
            .send(Command::Record { id, outcome })
            .await
            .is_err()
        {
            tracing::error!(
                id,
                "spool writer stopped; outcome not recorded (the delivery will be repeated)"
            );
        }
    }

    async fn claim(
        &self,
        target: &str,
        limit: usize,
        held: Vec<i64>,
    ) -> Result<Claimed, SpoolError> {
        self.ask(|reply| Command::Claim {
            target: target.to_owned(),
            limit,
            held,
            reply,
        })
        .await
    }

    fn attach(&self, target: &str, window: Window) {
        self.windows.attach(target, window);
    }

    fn detach(&self, target: &str) {
        self.windows.detach(target);
    }

    async fn dead_letter_others(&self, keep: Vec<String>) -> Result<u64, SpoolError> {
        self.ask(|reply| Command::DeadLetterOthers { keep, reply })
            .await
    }

    async fn unpark(&self, target: &str) -> Result<u64, SpoolError> {
        self.ask(|reply| Command::Unpark {
            target: target.to_owned(),
            reply,
        })
        .await
    }

    async fn flush(&self) -> Result<(), SpoolError> {
        self.ask(|reply| Command::Flush { reply }).await.map(|_| ())
    }

    async fn close(&self) -> Result<(), SpoolError> {
        // One relay per file: nothing to hand over.
        self.flush().await
    }

    fn share(&self) -> NonZeroU32 {
        NonZeroU32::MIN
    }

    fn pending(&self) -> Pending {
        self.pending.get()
    }
}

fn open_connection(path: &Path) -> Result<Connection, SpoolError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SpoolError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A page cache that holds the hot tails of the tables and indexes (the
    // default 2 MB is re-read from the file under load). The relay's writer
    // leaves checkpoints to a thread of its own (see `start_checkpointer`);
    // other connections (the `dlq` commands) keep SQLite's default.
    conn.pragma_update(None, "cache_size", -16_384)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(SpoolError::NewerSchema {
            path: path.display().to_string(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V1} PRAGMA user_version = 1; COMMIT;"
        ))?;
    }
    if version < 2 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V2} PRAGMA user_version = 2; COMMIT;"
        ))?;
    }
    if version < 3 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V3} PRAGMA user_version = 3; COMMIT;"
        ))?;
    }
    Ok(conn)
}

/// How long the checkpointer lets commits gather after one before it copies
/// them into the database.
const CHECKPOINT_AFTER: Duration = Duration::from_millis(10);

/// WAL pages (32 MB) after which the writer checkpoints by itself: only if
/// the checkpointer thread falls that far behind.
const FALLBACK_CHECKPOINT_PAGES: i64 = 8_192;

/// Starts the thread that checkpoints the WAL into the database, on a
/// connection of its own, shortly after commits. The writer kicks it after
/// each commit; it stops when the writer drops its end.
///
/// In the writer, a checkpoint held up every commit behind it until its
/// pages and its fsync were on disk: at 4 MB per checkpoint that was the p99
/// of the 202 at half load (6-7 ms). A PASSIVE checkpoint beside the writer
/// runs while commits go on appending to the WAL, which SQLite starts again
/// from its beginning once everything in it is in the database.
fn start_checkpointer(path: &Path) -> Result<std::sync::mpsc::SyncSender<()>, SpoolError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // The checkpoint syncs the WAL before it copies and the database after.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("spool-checkpoint".into())
        .spawn(move || {
            // A failing disk fails every checkpoint: say so once a minute.
            let mut warned: Option<std::time::Instant> = None;
            let mut failed = 0u64;
            while kicked.recv().is_ok() {
                std::thread::sleep(CHECKPOINT_AFTER);
                // Commits in the meantime are in this checkpoint; a kick
                // after this line brings another.
                while kicked.try_recv().is_ok() {}
                match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    Ok(()) => failed = 0,
                    Err(error) => {
                        failed += 1;
                        if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                            warned = Some(std::time::Instant::now());
                            tracing::warn!(%error, failed, "spool checkpoint failed; trying again after the next commit (the WAL grows meanwhile)");
                        }
                    }
                }
            }
        })
        .map_err(|source| SpoolError::Directory {
            path: path.display().to_string(),
            source,
        })?;
    Ok(kick)
}

struct Writer {
    conn: Connection,
    windows: Arc<Windows>,
    pending: Arc<PendingCount>,
    batch: usize,
    retention: Duration,
    last_prune: std::time::Instant,
    /// Kicks the checkpointer thread.
    checkpoint: std::sync::mpsc::SyncSender<()>,
}

/// How long a small batch under load waits for more commands.
const LINGER: Duration = Duration::from_micros(400);

/// A batch this large is committed without waiting.
const LINGER_BELOW: usize = 64;

/// A reply owed to a waiting caller.
type Reply<T> = oneshot::Sender<Result<T, SpoolError>>;

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
}

impl Writer {
    fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(first) = commands.blocking_recv() {
            let mut batch = vec![first];
            self.fill(&mut batch, &mut commands);
            // Under load (more than one command was waiting), a small batch
            // waits a moment for company: a commit's cost is mostly per
            // commit (the fsync, the tails of tables and indexes rewritten
            // to the WAL), so a fuller one is cheaper per webhook. A lone
            // command on an idle relay is committed at once.
            if batch.len() > 1 && batch.len() < LINGER_BELOW.min(self.batch) {
                let until = std::time::Instant::now() + LINGER;
                while batch.len() < LINGER_BELOW.min(self.batch)
                    && std::time::Instant::now() < until
                {
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
        let (started, commands) = (std::time::Instant::now(), batch.len());
        let result = self.apply(batch, &mut after);
        crate::metrics::spool_commit(started.elapsed(), commands);
        match result {
            Ok(()) => {
                let _ = self.checkpoint.try_send(());
                for line in &after.announce {
                    line.log();
                }
                // What a window does not take stays in the file, due: its
                // dispatcher claims it.
                self.windows.offer(after.offers, |_| {});
                // Counted before the 202s go out, so that a sender who got
                // one sees its deliveries pending.
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
            Err(error) => {
                tracing::error!(%error, "spool commit failed; the webhooks in it were answered 503");
                for (reply, _, _, _) in after.accepts {
                    let _ = reply.send(Err(SpoolError::Commit(error.to_string())));
                }
                for (reply, _) in after.claims {
                    let _ = reply.send(Err(SpoolError::Commit(error.to_string())));
                }
                for (reply, _) in after.counts {
                    let _ = reply.send(Err(SpoolError::Commit(error.to_string())));
                }
            }
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
            match command {
                Command::Accept {
                    event,
                    deliveries,
                    reply,
                } => match admit(&mut tx, &event, &deliveries, now) {
                    Ok(Some((ready, bytes))) => {
                        after
                            .accepts
                            .push((reply, Admitted::Stored, ready.len() as u64, bytes));
                        after.announce.push(Announce::of(event, ready.len()));
                        after.offers.extend(ready);
                    }
                    Ok(None) => after.accepts.push((reply, Admitted::Duplicate, 0, 0)),
                    Err(error) => {
                        // This webhook fails alone: the rest of the batch
                        // still commits.
                        let _ = reply.send(Err(SpoolError::Db(error)));
                    }
                },
                Command::Record { id, outcome } => {
                    if let Some(size) = record(&tx, id, &outcome, now)? {
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
                    let claimed = claim(&tx, &target, limit, &held, now);
                    if claimed.as_ref().is_ok_and(|c| c.exhausted) {
                        self.windows.caught_up(&target);
                    }
                    after.claims.push((reply, claimed.map_err(SpoolError::Db)));
                }
                Command::DeadLetterOthers { keep, reply } => {
                    let result = dead_letter_others(&tx, &keep, now);
                    if let Ok((n, bytes)) = result {
                        after.settled.0 += n;
                        after.settled.1 += bytes;
                    }
                    after
                        .counts
                        .push((reply, result.map(|(n, _)| n).map_err(SpoolError::Db)));
                }
                Command::Unpark { target, reply } => {
                    let result = tx.execute(
                        "UPDATE deliveries SET state = 'pending', due_at = ?2, updated_at = ?2 WHERE target = ?1 AND state = 'parked'",
                        params![target, now],
                    );
                    after
                        .counts
                        .push((reply, result.map(|n| n as u64).map_err(SpoolError::Db)));
                }
                Command::Maintain => after.maintain = true,
                Command::Flush { reply } => after.counts.push((reply, Ok(0))),
            }
        }
        tx.commit()
    }

    /// Recounts pending work (a `dlq replay` from another process changes it)
    /// and prunes old delivered records once a minute.
    fn maintain(&mut self) {
        if let Ok(pending) = count_pending(&self.conn) {
            self.pending.set(pending);
        }
        // Other processes' replays: let every dispatcher look again. Only a
        // look: fresh deliveries go on being handed over (a claim leaves out
        // what the dispatcher holds, and it drops what it got twice).
        self.windows.wake_all();
        if self.last_prune.elapsed() < Duration::from_secs(60) {
            return;
        }
        self.last_prune = std::time::Instant::now();
        let cutoff = now_ms() - self.retention.as_millis() as i64;
        let pruned = self.conn.execute(
            "DELETE FROM deliveries WHERE state = 'delivered' AND updated_at < ?1",
            params![cutoff],
        );
        let events = self.conn.execute(
            "DELETE FROM events WHERE received_at < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
            params![cutoff],
        );
        if let Err(error) = self.conn.execute(
            "DELETE FROM seen_ids WHERE expires_at <= ?1",
            params![now_ms()],
        ) {
            tracing::warn!(%error, "forgetting expired webhook-ids failed");
        }
        match (pruned, events) {
            (Ok(d), Ok(e)) if d + e > 0 => tracing::info!(
                deliveries = d,
                events = e,
                "pruned delivered records past retention"
            ),
            (Err(error), _) | (_, Err(error)) => tracing::warn!(%error, "pruning the spool failed"),
            _ => {}
        }
    }
}

/// Deliveries not yet delivered or dead, and their body bytes.
fn count_pending(conn: &Connection) -> Result<Pending, rusqlite::Error> {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM deliveries WHERE state IN ('pending', 'parked')",
        [],
        |r| {
            Ok(Pending {
                deliveries: r.get::<_, i64>(0)? as u64,
                bytes: r.get::<_, i64>(1)? as u64,
            })
        },
    )
}

/// Writes one webhook, or nothing if its `webhook-id` is taken: with an id,
/// in a savepoint, so that a duplicate or a failure half way leaves no row
/// of it behind while the rest of the batch commits. `None` for a duplicate.
fn admit(
    tx: &mut Transaction<'_>,
    event: &NewEvent,
    deliveries: &[NewDelivery],
    now: i64,
) -> Result<Option<(Vec<Ready>, u64)>, rusqlite::Error> {
    let Some(seen) = &event.seen else {
        // Nothing to take (an unsigned source: the common case), so no
        // savepoint: SQLite keeps a sub-journal of every page a savepoint
        // touches, and one per accept cost a third of the accept rate.
        return insert(tx, event, deliveries, now).map(Some);
    };
    let savepoint = tx.savepoint()?;
    if !take_id(&savepoint, &event.source, seen, now)? {
        return Ok(None);
    }
    let stored = insert(&savepoint, event, deliveries, now)?;
    savepoint.commit()?;
    Ok(Some(stored))
}

/// Takes `seen` for `source`, unless it is taken and not yet expired at
/// `now`. An expired row is taken over.
fn take_id(
    conn: &Connection,
    source: &str,
    seen: &SeenId,
    now: i64,
) -> Result<bool, rusqlite::Error> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO seen_ids (source, id, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (source, id) DO UPDATE SET expires_at = excluded.expires_at
             WHERE seen_ids.expires_at <= ?4",
        )?
        .execute(params![source, seen.id, seen.expires_ms, now])?;
    Ok(changed == 1)
}

fn insert(
    tx: &Connection,
    event: &NewEvent,
    deliveries: &[NewDelivery],
    now: i64,
) -> Result<(Vec<Ready>, u64), rusqlite::Error> {
    let routes = serde_json::to_string(&event.routes).unwrap_or_default();
    let event_id = event.id.to_string();
    tx.prepare_cached("INSERT INTO events (id, source, client_ip, received_at, routes, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![
            event_id,
            event.source,
            event.client_ip,
            event.received_ms,
            routes,
            event.body.as_ref()
        ])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO deliveries (event_id, target, route, size, state, attempts, due_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5)",
    )?;
    let mut insert_body =
        tx.prepare_cached("INSERT INTO delivery_bodies (id, body) VALUES (?1, ?2)")?;
    let mut ready = Vec::with_capacity(deliveries.len());
    let mut bytes = 0;
    for d in deliveries {
        let body = d.body.clone().unwrap_or_else(|| event.body.clone());
        bytes += body.len() as u64;
        insert.execute(params![event_id, d.target, d.route, body.len() as i64, now])?;
        let id = tx.last_insert_rowid();
        if let Some(own) = &d.body {
            insert_body.execute(params![id, own.as_ref()])?;
        }
        ready.push(Ready {
            id,
            event: event.id,
            target: d.target.clone(),
            route: d.route.clone(),
            attempts: 0,
            body,
        });
    }
    Ok((ready, bytes))
}

/// Stores an outcome; returns the body size when the delivery left the
/// pending set (delivered or dead).
fn record(
    tx: &Transaction<'_>,
    id: i64,
    outcome: &Record,
    now: i64,
) -> Result<Option<u64>, rusqlite::Error> {
    let settle = |state: &str,
                  status: Option<u16>,
                  error: Option<&str>|
     -> Result<Option<u64>, rusqlite::Error> {
        tx.prepare_cached(
            "UPDATE deliveries SET state = ?2, attempts = attempts + 1, updated_at = ?3, last_status = ?4, last_error = ?5
             WHERE id = ?1 AND state = 'pending' RETURNING size",
        )?
        .query_row(params![id, state, now, status, error], |r| r.get::<_, i64>(0))
        .optional()
        .map(|size| size.map(|s| s as u64))
    };
    match outcome {
        Record::Delivered { status } => settle("delivered", Some(*status), None),
        Record::Dead { status, error } => settle("dead", *status, Some(error)),
        Record::Retry {
            due_ms,
            status,
            error,
        } => {
            tx.prepare_cached(
                "UPDATE deliveries SET attempts = attempts + 1, due_at = ?2, updated_at = ?3, last_status = ?4, last_error = ?5
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, due_ms, now, status, error])?;
            Ok(None)
        }
        Record::Parked { status, error } => {
            tx.prepare_cached(
                "UPDATE deliveries SET state = 'parked', attempts = attempts + 1, updated_at = ?2, last_status = ?3, last_error = ?4
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, now, status, error])?;
            Ok(None)
        }
    }
}

/// The due deliveries are listed first without their bodies, so that the
/// ones the dispatcher holds (the oldest, usually) cost an index read only;
/// the bodies of those taken are read one by one.
fn claim(
    tx: &Transaction<'_>,
    target: &str,
    limit: usize,
    held: &[i64],
    now: i64,
) -> Result<Claimed, rusqlite::Error> {
    let skip: HashSet<i64> = held.iter().copied().collect();
    let asked = limit + skip.len();
    let mut select = tx.prepare_cached(
        "SELECT id, event_id, route, attempts FROM deliveries
         WHERE target = ?1 AND state = 'pending' AND due_at <= ?2
         ORDER BY due_at, id LIMIT ?3",
    )?;
    let mut rows = select.query(params![target, now, asked as i64])?;
    let (mut listed, mut due) = (0, Vec::new());
    while let Some(r) = rows.next()? {
        listed += 1;
        let id: i64 = r.get(0)?;
        if skip.contains(&id) {
            continue;
        }
        due.push((id, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?));
    }
    // Everything due was seen, and there was room for all of it.
    let exhausted = listed < asked && due.len() <= limit;
    due.truncate(limit);
    let mut body = tx.prepare_cached(
        "SELECT COALESCE(b.body, e.body) FROM deliveries d JOIN events e ON e.id = d.event_id
         LEFT JOIN delivery_bodies b ON b.id = d.id WHERE d.id = ?1",
    )?;
    let mut ready = Vec::with_capacity(due.len());
    for (id, event, route, attempts) in due {
        let Some(bytes) = body
            .query_row([id], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
        else {
            continue;
        };
        ready.push(Ready {
            id,
            event: Uuid::parse_str(&event).unwrap_or_default(),
            target: target.to_owned(),
            route,
            attempts,
            body: Bytes::from(bytes),
        });
    }
    let next_due_ms = tx
        .prepare_cached("SELECT MIN(due_at) FROM deliveries WHERE target = ?1 AND state = 'pending' AND due_at > ?2")?
        .query_row(params![target, now], |r| r.get::<_, Option<i64>>(0))?;
    Ok(Claimed {
        exhausted,
        ready,
        next_due_ms,
    })
}

fn dead_letter_others(
    tx: &Transaction<'_>,
    keep: &[String],
    now: i64,
) -> Result<(u64, u64), rusqlite::Error> {
    let mut targets = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT DISTINCT target FROM deliveries WHERE state IN ('pending', 'parked')",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for target in rows {
            let target = target?;
            if !keep.contains(&target) {
                targets.push(target);
            }
        }
    }
    let (mut n, mut bytes) = (0, 0);
    for target in targets {
        let (count, size): (i64, i64) = tx.query_row(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM deliveries WHERE target = ?1 AND state IN ('pending', 'parked')",
            params![target],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        tx.execute(
            "UPDATE deliveries SET state = 'dead', updated_at = ?2, last_error = 'target removed from the config'
             WHERE target = ?1 AND state IN ('pending', 'parked')",
            params![target, now],
        )?;
        tracing::warn!(
            target,
            deliveries = count,
            "target no longer configured; its pending deliveries are dead letters now (replay them after adding it back)"
        );
        n += count as u64;
        bytes += size as u64;
    }
    Ok((n, bytes))
}

/// Dead letters, for `dlq` commands working on the file directly (safe while
/// a relay runs: SQLite serialises the writers, and the relay rereads due
/// work every few seconds).
pub mod dlq {
    use super::*;

    fn filter_sql(filter: &DeadFilter) -> (String, Vec<rusqlite::types::Value>) {
        let mut sql = String::from("d.state = 'dead'");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(target) = &filter.target {
            args.push(target.clone().into());
            sql.push_str(&format!(" AND d.target = ?{}", args.len()));
        }
        if !filter.events.is_empty() {
            let mut marks = Vec::new();
            for event in &filter.events {
                args.push(event.clone().into());
                marks.push(format!("?{}", args.len()));
            }
            sql.push_str(&format!(" AND d.event_id IN ({})", marks.join(", ")));
        }
        if let Some(before) = filter.before_ms {
            args.push(before.into());
            sql.push_str(&format!(" AND d.updated_at < ?{}", args.len()));
        }
        (sql, args)
    }

    /// Opens the spool file of a config (creating nothing new but the schema).
    pub fn open(path: &Path) -> Result<Connection, SpoolError> {
        open_connection(path)
    }

    /// Lists dead letters, oldest first.
    pub fn list(conn: &Connection, filter: &DeadFilter) -> Result<Vec<DeadLetter>, SpoolError> {
        let (cond, args) = filter_sql(filter);
        let mut stmt = conn.prepare(&format!(
            "SELECT d.id, d.event_id, d.target, d.route, d.attempts, d.last_status, d.last_error, e.received_at, d.updated_at
             FROM deliveries d JOIN events e ON e.id = d.event_id WHERE {cond} ORDER BY d.updated_at, d.id"
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                event: r.get(1)?,
                target: r.get(2)?,
                route: r.get(3)?,
                attempts: r.get(4)?,
                last_status: r.get(5)?,
                last_error: r.get(6)?,
                received_ms: r.get(7)?,
                dead_ms: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Makes dead letters due again, with their attempt count reset.
    pub fn replay(conn: &Connection, filter: &DeadFilter) -> Result<usize, SpoolError> {
        let (cond, args) = filter_sql(filter);
        let now = now_ms();
        Ok(conn.execute(
            &format!(
                "UPDATE deliveries SET state = 'pending', attempts = 0, due_at = {now}, updated_at = {now}, last_error = NULL
                 WHERE id IN (SELECT d.id FROM deliveries d WHERE {cond})"
            ),
            rusqlite::params_from_iter(args),
        )?)
    }

    /// Deletes dead letters (and events left with no deliveries).
    pub fn purge(conn: &Connection, filter: &DeadFilter) -> Result<usize, SpoolError> {
        let (cond, args) = filter_sql(filter);
        // Three statements, each atomic on its own: a read transaction
        // upgraded to a write would fail at once ("database is locked")
        // whenever the relay's writer committed in between.
        let events: Vec<String> = conn
            .prepare(&format!(
                "SELECT DISTINCT d.event_id FROM deliveries d WHERE {cond}"
            ))?
            .query_map(rusqlite::params_from_iter(args.clone()), |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let n = conn.execute(
            &format!(
                "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d WHERE {cond})"
            ),
            rusqlite::params_from_iter(args),
        )?;
        // Events whose last delivery went with the purge go too.
        let mut orphan = conn.prepare(
            "DELETE FROM events WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event_id = ?1)",
        )?;
        for event in events {
            orphan.execute(params![event])?;
        }
        Ok(n)
    }
}

/// Read-only views for the status API and metrics.
pub mod inspect {
    use super::*;

    pub use crate::spool::Backlog;

    /// Backlog per target name.
    pub fn backlog(conn: &Connection) -> Result<HashMap<String, Backlog>, SpoolError> {
        let mut stmt = conn.prepare_cached(
            "SELECT target, state, COUNT(*) FROM deliveries WHERE state IN ('pending', 'parked', 'dead') GROUP BY target, state",
        )?;
        let mut out: HashMap<String, Backlog> = HashMap::new();
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (target, state, n) = row?;
            let entry = out.entry(target).or_default();
            match state.as_str() {
                "pending" => entry.pending = n as u64,
                "parked" => entry.parked = n as u64,
                _ => entry.dead = n as u64,
            }
        }
        Ok(out)
    }

    pub use crate::spool::{DeliveryView, EventView};

    /// The webhook with this id, if the spool still has it.
    pub fn event(conn: &Connection, id: &str) -> Result<Option<EventView>, SpoolError> {
        let event = conn
            .query_row(
                "SELECT id, source, client_ip, received_at, routes, length(body) FROM events WHERE id = ?1",
                params![id],
                |r| {
                    let routes: String = r.get(4)?;
                    Ok(EventView {
                        id: r.get(0)?,
                        source: r.get(1)?,
                        client_ip: r.get(2)?,
                        received_ms: r.get(3)?,
                        routes: serde_json::from_str(&routes).unwrap_or_default(),
                        size: r.get::<_, i64>(5)? as usize,
                        deliveries: Vec::new(),
                    })
                },
            )
            .optional()?;
        let Some(mut event) = event else {
            return Ok(None);
        };
        let mut stmt = conn.prepare_cached(
            "SELECT target, route, state, attempts, last_status, last_error, due_at, updated_at
             FROM deliveries WHERE event_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok(DeliveryView {
                target: r.get(0)?,
                route: r.get(1)?,
                state: r.get(2)?,
                attempts: r.get(3)?,
                last_status: r.get(4)?,
                last_error: r.get(5)?,
                due_ms: r.get(6)?,
                updated_ms: r.get(7)?,
            })
        })?;
        event.deliveries = rows.collect::<Result<_, _>>()?;
        Ok(Some(event))
    }
}

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
            .unwrap_or(Err(SpoolError::Stopped))
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
        self.query(move |c| inspect::event(c, &id)).await
    }
}
