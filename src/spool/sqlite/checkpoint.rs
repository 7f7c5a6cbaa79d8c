//! The checkpointer: a thread of its own that copies the WAL into the
//! spool file shortly after commits, so that the writer never waits for a
//! checkpoint. It writes no rows and answers no caller.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::spool::SpoolError;

/// How long the checkpointer lets commits gather after one before it copies
/// them into the database. The pages every commit touches (the newest rows
/// of each table and index) are copied once per checkpoint, so a longer
/// gather writes less: 30 ms wrote 6% fewer bytes per webhook than 10 ms,
/// with the WAL a few megabytes at most in between.
const CHECKPOINT_AFTER: Duration = Duration::from_millis(30);

/// WAL pages (32 MB) after which the writer checkpoints by itself: only if
/// the checkpointer thread falls that far behind.
pub(super) const FALLBACK_PAGES: i64 = 8_192;

/// Starts the thread that checkpoints the WAL into the database, on a
/// connection of its own, shortly after commits. The writer kicks it after
/// each commit; it stops when the writer drops its end.
///
/// In the writer, a checkpoint held up every commit behind it until its
/// pages and its fsync were on disk: at 4 MB per checkpoint that was the p99
/// of the 202 at half load (6-7 ms). A PASSIVE checkpoint beside the writer
/// runs while commits go on appending to the WAL, which SQLite starts again
/// from its beginning once everything in it is in the database.
pub(super) fn start(path: &Path) -> Result<std::sync::mpsc::SyncSender<()>, SpoolError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // The checkpoint syncs the WAL before it copies and the database after.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // A checkpoint without a schema name covers every attached file: the
    // key index's WAL too.
    super::schema::attach_keys(&conn, path)?;
    let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
    super::spawn("checkpoint", path, move || run(&conn, &kicked))?;
    Ok(kick)
}

/// Checkpoints after each kick, until the writer drops its end.
fn run(conn: &Connection, kicked: &std::sync::mpsc::Receiver<()>) {
    // A failing disk fails every checkpoint: say so once a minute.
    let mut warned: Option<std::time::Instant> = None;
    let mut failed = 0u64;
    while kicked.recv().is_ok() {
        std::thread::sleep(CHECKPOINT_AFTER);
        // Commits in the meantime are in this checkpoint; a kick after this
        // line brings another.
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
}
