//! The shared spool: one PostgreSQL database, several relay replicas.
//!
//! Each replica writes like the SQLite spool does: one writer task takes
//! every command waiting (accepts, outcomes, claims) into one transaction,
//! so concurrent accepts share a commit, and a 202 always follows it. What
//! changes is who may send a delivery. A delivery row carries a lease
//! (`leased_by`, `leased_until`): fresh deliveries are leased to the replica
//! that accepted them and offered to its own windows, never read back; due
//! ones are claimed with `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
//! LOCKED)`, so two replicas never claim the same row at once. A replica
//! renews all its leases with its heartbeat (every third of the lease), so a
//! lease means "this replica is alive and holds the delivery", however long
//! it sits in a window or an attempt takes. A replica that dies stops
//! renewing; when its leases expire any replica claims those deliveries and
//! sends them again (at least once; an attempt in flight at the death may be
//! repeated). Recording an outcome clears the lease.
//!
//! The heartbeat also registers the replica in `replicas`, and the count of
//! live ones splits each target's rate limit ([`Spool::share`]).
//!
//! When the database is unreachable, accepts fail (ingress answers 503),
//! claims fail (workers try again each second), and outcomes wait in
//! [`Spool::record`] holding their target's concurrency permit, so delivery
//! pauses within a few attempts. The ticker keeps trying; the first commit
//! that succeeds resumes everything. Outcomes whose commit failed are kept
//! and written first in the next transaction.
//!
//! Files: `connect` (the pool), `schema` (tables, migrations), `writer`
//! (group commit) and `answer` (what follows a commit), `accept` and
//! `deliveries` (the writer's SQL), `replicas` (name, heartbeat, ticker),
//! `upkeep` (recount, pruning), `ledger` (the operator's view, over `bulk`
//! for bulk actions and `journal` for the audit log and jobs) and `search`
//! (the history's reads). No HTTP here.

mod accept;
mod answer;
mod bulk;
mod connect;
mod deliveries;
mod groups;
mod journal;
mod ledger;
mod replicas;
mod schema;
mod search;
mod upkeep;
mod writer;

pub use connect::shown;
pub use ledger::PgLedger;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::command::{Change, Commands};
use super::front::{Front, HasFront};
use super::windows::{PendingCount, Windows};
use super::{AttemptLog, Record, Spool, SpoolError};
use connect::pool;
use writer::Writer;

/// The newest schema this build writes; older databases are migrated.
pub use schema::VERSION as SCHEMA_VERSION;

/// How the spool is opened.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database.
    pub config: tokio_postgres::Config,
    /// Most commands in one transaction; 1 turns group commit off.
    pub commit_batch: usize,
    /// How long delivered records are kept.
    pub retention: Duration,
    /// How long a replica's leases outlive its last heartbeat.
    pub lease: Duration,
}

/// The PostgreSQL spool of one replica. Cheap to share: clone the `Arc`.
pub struct PgSpool {
    commands: Commands,
    shared: Arc<Shared>,
    pool: Pool,
    replica: Arc<str>,
    tasks: Vec<JoinHandle<()>>,
}

/// What the writer, the ticker and the spool's callers share.
struct Shared {
    windows: Windows,
    pending: PendingCount,
    /// Live replicas, this one included.
    live: AtomicU32,
    /// Whether the last transaction committed.
    up: watch::Sender<bool>,
}

/// How long one transaction may take before its connection is given up
/// (a half-open TCP connection would otherwise hang the writer).
const TRANSACTION_BUDGET: Duration = Duration::from_secs(30);

impl PgSpool {
    /// Connects, migrates the schema (under an advisory lock, so replicas
    /// starting together do not race), registers this replica and starts its
    /// writer, heartbeat and upkeep tasks. Must be called inside a tokio
    /// runtime.
    pub async fn open(options: Options) -> Result<PgSpool, SpoolError> {
        let shown = shown(&options.config);
        let pool = pool(&options.config, 4)?;
        schema::migrate(&pool, &shown).await?;
        let replica: Arc<str> = replicas::replica_id().into();
        let lease = options.lease.max(Duration::from_millis(300));
        let lease_ms = lease.as_millis() as i64;
        let (live, pending) = {
            let client = pool.get().await?;
            let live = replicas::heartbeat(&**client, &replica, lease_ms).await?;
            (live, upkeep::count_pending(&**client).await?)
        };
        let (up, _) = watch::channel(true);
        let shared = Arc::new(Shared {
            windows: Windows::default(),
            pending: PendingCount::new(pending),
            live: AtomicU32::new(live),
            up,
        });
        let (commands, rx) = Commands::channel();
        let writer = Writer::new(
            pool.clone(),
            shared.clone(),
            replica.clone(),
            lease_ms,
            options.commit_batch.max(1),
        );
        let mut tasks = vec![tokio::spawn(writer.run(rx))];
        tasks.push(tokio::spawn(replicas::tick(
            commands.clone(),
            shared.clone(),
            replicas::heartbeat_every(lease),
        )));
        tasks.push(tokio::spawn(upkeep::upkeep(
            pool.clone(),
            shared.clone(),
            options.retention,
        )));
        tracing::info!(
            database = %shown,
            replica = %replica,
            live_replicas = live,
            lease_ms,
            "joined the replicas sharing the PostgreSQL spool"
        );
        Ok(PgSpool {
            commands,
            shared,
            pool,
            replica,
            tasks,
        })
    }

    /// The operator's view of the same database, on the same pool.
    pub fn ledger(&self) -> PgLedger {
        PgLedger::from_pool(self.pool.clone())
    }

    /// This replica's name in `replicas` and `deliveries.leased_by`.
    pub fn replica(&self) -> &str {
        &self.replica
    }
}

impl Drop for PgSpool {
    fn drop(&mut self) {
        // The writer ends when the last sender (ours) is gone.
        for task in &self.tasks[1..] {
            task.abort();
        }
    }
}

impl HasFront for PgSpool {
    fn front(&self) -> Front<'_> {
        Front {
            commands: &self.commands,
            windows: &self.shared.windows,
            pending: &self.shared.pending,
        }
    }
}

/// Several replicas on one database: outcomes wait while it is away, the
/// rate limits are shared, and leases are handed over at close.
impl Spool for PgSpool {
    async fn record(&self, id: i64, outcome: Record, log: AttemptLog) {
        // While the database is away the outcome waits here, and with it the
        // attempt's concurrency permit: delivery pauses after a few attempts
        // instead of sending on with nowhere to write what happened.
        let mut up = self.shared.up.subscribe();
        let _ = up.wait_for(|up| *up).await;
        self.commands.record(id, outcome, log).await;
    }

    fn share(&self) -> NonZeroU32 {
        NonZeroU32::new(self.shared.live.load(Ordering::Relaxed)).unwrap_or(NonZeroU32::MIN)
    }

    async fn close(&self) -> Result<(), SpoolError> {
        // No heartbeat after this: it would register the replica again.
        for task in &self.tasks[1..] {
            task.abort();
        }
        let released = self.commands.change(Change::Release).await?;
        tracing::info!(
            replica = %self.replica,
            released,
            "left the replicas; leases given up for the others to claim"
        );
        Ok(())
    }
}
