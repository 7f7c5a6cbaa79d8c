//! The key indexer: a thread of its own that writes the lookup keys of
//! committed webhooks into the key index (`<spool>-keys`), so that the
//! spool's writer, the relay's bottleneck under load, does not.
//!
//! The index is derived data (each webhook's row keeps its keys), so it
//! need not share the webhook's transaction: the writer hands the keys over
//! after its commit, and the indexer writes whatever has gathered in one
//! transaction of its own, within some 20 milliseconds. Keys lost in a
//! crash, or dropped when the indexer falls far behind, are indexed again
//! at the next start (`schema::index_keys`). It also forgets the keys of
//! webhooks no longer stored, when the writer prunes. Must not write the
//! spool itself.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rusqlite::{Connection, params};

use crate::spool::SpoolError;

/// Batches that may wait for the indexer before keys are dropped (and
/// indexed again at the next start).
const QUEUE: usize = 4_096;

/// How long the indexer lets keys gather before it writes them: how much
/// later than its 202 a webhook can be found by key, at most.
const GATHER: Duration = Duration::from_millis(20);

/// One key of one webhook: name, value, received at, webhook id.
pub(super) type KeyRow = (String, String, i64, String);

/// What the writer asks of the indexer.
pub(super) enum Work {
    /// Index these keys of committed webhooks.
    Index(Vec<KeyRow>),
    /// Forget the keys of webhooks received before this (unix ms) that the
    /// spool no longer has.
    Prune(i64),
}

/// The writer's end: hands work over without waiting.
pub(super) struct Indexer(SyncSender<Work>);

impl Indexer {
    /// Queues `work`; never blocks the writer. Keys that find the queue full
    /// are dropped, with a warning: the next start indexes them.
    pub(super) fn send(&self, work: Work) {
        match self.0.try_send(work) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => tracing::warn!(
                "the key indexer is behind; some lookup keys wait for the next start to be indexed"
            ),
        }
    }
}

/// Starts the indexer for the spool at `path` on a connection of its own:
/// the key index as its main database, the spool attached (read only) for
/// pruning. It stops when the writer drops its end.
pub(super) fn start(path: &Path) -> Result<Indexer, SpoolError> {
    let conn = connect(path)?;
    let (tx, rx) = sync_channel(QUEUE);
    super::spawn("keys", path, move || run(&conn, &rx))?;
    Ok(Indexer(tx))
}

/// The indexer's connection: the key index of the spool at `path` (whose
/// schema the spool's own connection created), the spool attached.
fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(super::schema::keys_path(path))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute(
        "ATTACH DATABASE ?1 AS spool",
        [path.to_string_lossy().as_ref()],
    )?;
    Ok(conn)
}

/// Takes what has gathered and writes it in one transaction, until the
/// writer is gone.
fn run(conn: &Connection, work: &Receiver<Work>) {
    while let Ok(first) = work.recv() {
        // Under load the writer hands keys over every millisecond or two; a
        // commit for each rewrote the index's inner and newest pages each
        // time. Gathering for a moment writes them once for many webhooks.
        std::thread::sleep(GATHER);
        let mut batch = vec![first];
        batch.extend(work.try_iter());
        if let Err(error) = apply(conn, batch) {
            tracing::warn!(%error, "indexing lookup keys failed; the next start indexes them");
        }
    }
}

fn apply(conn: &Connection, batch: Vec<Work>) -> Result<(), rusqlite::Error> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO event_keys (name, value, received_at, event_id) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for work in batch {
            match work {
                Work::Index(rows) => {
                    for (name, value, received_at, event) in rows {
                        insert.execute(params![name, value, received_at, event])?;
                    }
                }
                Work::Prune(cutoff) => {
                    tx.execute(
                        "DELETE FROM event_keys WHERE received_at < ?1
                           AND NOT EXISTS (SELECT 1 FROM spool.events e WHERE e.id = event_keys.event_id)",
                        params![cutoff],
                    )?;
                }
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::sqlite::schema::open_connection;

    /// Keys are indexed; pruning forgets the keys of webhooks that are gone
    /// (pruned now, or purged before) and keeps those still stored.
    #[test]
    fn indexes_keys_and_prunes_those_of_webhooks_no_longer_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.db");
        let spool = open_connection(&path).unwrap();
        spool
            .execute_batch(
                "INSERT INTO events (id, source, client_ip, received_at, routes, body)
                     VALUES ('kept', 's', '127.0.0.1', 10, '[]', x'7b7d');",
            )
            .unwrap();
        let conn = connect(&path).unwrap();
        let row = |value: &str, at: i64, id: &str| {
            ("call".to_owned(), value.to_owned(), at, id.to_owned())
        };
        apply(
            &conn,
            vec![Work::Index(vec![
                row("a", 10, "kept"),
                row("b", 20, "purged"),
            ])],
        )
        .unwrap();
        let ids = || -> Vec<String> {
            conn.prepare("SELECT event_id FROM event_keys ORDER BY event_id")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(ids(), vec!["kept".to_owned(), "purged".to_owned()]);
        apply(&conn, vec![Work::Prune(1_000)]).unwrap();
        assert_eq!(ids(), vec!["kept".to_owned()]);
    }
}
