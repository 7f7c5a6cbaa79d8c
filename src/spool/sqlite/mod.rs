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
//! writer, so that commits do not wait for it: see `checkpoint`.
//!
//! Files: `schema` (tables, migrations, opening a connection), `writer`
//! (the group-commit thread), `accept` and `deliveries` (its SQL),
//! `upkeep` (recount, pruning), `checkpoint`, and the operator's side:
//! `ledger` over `dlq`, `inspect`, `search` (the history's reads), `bulk`
//! (bulk actions) and `journal` (the audit log and bulk jobs).

mod accept;
pub mod bulk;
mod checkpoint;
mod deliveries;
pub mod dlq;
pub mod inspect;
pub mod journal;
mod keys;
mod ledger;
mod schema;
mod search;
mod upkeep;
mod writer;

pub use ledger::SqliteLedger;
pub use schema::SCHEMA_VERSION;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::command::Commands;
use super::front::{Front, HasFront};
use super::windows::{PendingCount, Windows};
use super::{Spool, SpoolError};
use writer::Writer;

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
    commands: Commands,
    windows: Arc<Windows>,
    pending: Arc<PendingCount>,
    maintenance: tokio::task::JoinHandle<()>,
}

/// Starts the spool's thread `spool-<name>` for the file at `path`.
fn spawn(
    name: &'static str,
    path: &std::path::Path,
    run: impl FnOnce() + Send + 'static,
) -> Result<(), SpoolError> {
    std::thread::Builder::new()
        .name(format!("spool-{name}"))
        .spawn(run)
        .map(drop)
        .map_err(|source| SpoolError::Thread {
            name,
            path: path.display().to_string(),
            source,
        })
}

/// How often the writer recounts pending work (and, once a minute, prunes).
const MAINTAIN_EVERY: Duration = Duration::from_secs(10);

impl SqliteSpool {
    /// Opens (creating and migrating) the spool and starts its writer thread.
    /// Must be called inside a tokio runtime.
    pub fn open(options: Options) -> Result<SqliteSpool, SpoolError> {
        let conn = schema::open_connection(&options.path)?;
        let indexed = schema::index_keys(&conn)?;
        if indexed > 0 {
            tracing::info!(keys = indexed, "indexed lookup keys the key index missed");
        }
        // The writer no longer needs the key index, and must not keep it:
        // its `BEGIN IMMEDIATE` takes the write lock of every attached file,
        // so each commit waited for the key indexer's (SQLite's busy
        // handler sleeps 1 to 100 ms at a time): at full load a third of
        // the accept rate and 50-100 ms of p99.
        conn.execute("DETACH DATABASE keys", [])?;
        // The checkpointer thread copies the WAL into the database; the
        // writer does it itself only if that falls far behind.
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::FALLBACK_PAGES)?;
        let checkpoint = checkpoint::start(&options.path)?;
        let pending = Arc::new(PendingCount::new(upkeep::count_pending(&conn)?));
        let windows = Arc::new(Windows::default());
        let (commands, rx) = Commands::channel();
        let writer = Writer {
            conn,
            windows: windows.clone(),
            pending: pending.clone(),
            batch: options.commit_batch.max(1),
            retention: options.retention,
            last_prune: Instant::now(),
            checkpoint,
            keys: keys::start(&options.path)?,
        };
        spawn("writer", &options.path, move || writer.run(rx))?;
        let maintenance = tokio::spawn(tick(commands.clone()));
        Ok(SqliteSpool {
            commands,
            windows,
            pending,
            maintenance,
        })
    }
}

/// Asks the writer for its upkeep now and then. Not at once: `open` has
/// just counted, and windows start in overflow anyway.
async fn tick(commands: Commands) {
    let start = tokio::time::Instant::now() + MAINTAIN_EVERY;
    let mut every = tokio::time::interval_at(start, MAINTAIN_EVERY);
    loop {
        every.tick().await;
        if !commands.tick().await {
            return;
        }
    }
}

impl Drop for SqliteSpool {
    fn drop(&mut self) {
        self.maintenance.abort();
    }
}

impl HasFront for SqliteSpool {
    fn front(&self) -> Front<'_> {
        Front {
            commands: &self.commands,
            windows: &self.windows,
            pending: &self.pending,
        }
    }
}

/// One relay per file: the trait's forwarding as it is, a share of 1, and
/// nothing to hand over at close.
impl Spool for SqliteSpool {}
