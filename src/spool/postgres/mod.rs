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
//! No HTTP here; the SQL is in `writer`, `ledger` and `schema`.

mod ledger;
mod schema;
mod writer;

pub use ledger::PgLedger;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;

use super::windows::{PendingCount, Windows};
use super::{Admitted, Claimed, NewDelivery, NewEvent, Pending, Record, Spool, SpoolError, Window};
use crate::time::now_ms;
use writer::{Change, Command, Writer};

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
    commands: mpsc::Sender<Command>,
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
/// How often pending work is recounted and old records pruned.
const RECOUNT: Duration = Duration::from_secs(5);
const PRUNE: Duration = Duration::from_secs(60);

impl PgSpool {
    /// Connects, migrates the schema (under an advisory lock, so replicas
    /// starting together do not race), registers this replica and starts its
    /// writer, heartbeat and upkeep tasks. Must be called inside a tokio
    /// runtime.
    pub async fn open(options: Options) -> Result<PgSpool, SpoolError> {
        let shown = shown(&options.config);
        let pool = pool(&options.config, 4)?;
        schema::migrate(&pool, &shown).await?;
        let replica: Arc<str> = replica_id().into();
        let lease = options.lease.max(Duration::from_millis(300));
        let lease_ms = lease.as_millis() as i64;
        let (live, pending) = {
            let client = pool.get().await?;
            let live = writer::heartbeat(&**client, &replica, lease_ms).await?;
            (live, writer::count_pending(&**client).await?)
        };
        let (up, _) = watch::channel(true);
        let shared = Arc::new(Shared {
            windows: Windows::default(),
            pending: PendingCount::new(pending),
            live: AtomicU32::new(live),
            up,
        });
        let (commands, rx) = mpsc::channel(16_384);
        let writer = Writer::new(
            pool.clone(),
            shared.clone(),
            replica.clone(),
            lease_ms,
            options.commit_batch.max(1),
        );
        let mut tasks = vec![tokio::spawn(writer.run(rx))];
        tasks.push(tokio::spawn(tick(
            commands.clone(),
            shared.clone(),
            heartbeat_every(lease),
        )));
        tasks.push(tokio::spawn(upkeep(
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

impl Drop for PgSpool {
    fn drop(&mut self) {
        // The writer ends when the last sender (ours) is gone.
        for task in &self.tasks[1..] {
            task.abort();
        }
    }
}

impl Spool for PgSpool {
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
        // While the database is away the outcome waits here, and with it the
        // attempt's concurrency permit: delivery pauses after a few attempts
        // instead of sending on with nowhere to write what happened.
        let mut up = self.shared.up.subscribe();
        let _ = up.wait_for(|up| *up).await;
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
        self.shared.windows.attach(target, window);
    }

    fn detach(&self, target: &str) {
        self.shared.windows.detach(target);
    }

    async fn dead_letter_others(&self, keep: Vec<String>) -> Result<u64, SpoolError> {
        self.ask(|reply| Command::Change {
            change: Change::DeadLetterOthers(keep),
            reply,
        })
        .await
    }

    async fn unpark(&self, target: &str) -> Result<u64, SpoolError> {
        self.ask(|reply| Command::Change {
            change: Change::Unpark(target.to_owned()),
            reply,
        })
        .await
    }

    fn pending(&self) -> Pending {
        self.shared.pending.get()
    }

    fn share(&self) -> NonZeroU32 {
        NonZeroU32::new(self.shared.live.load(Ordering::Relaxed)).unwrap_or(NonZeroU32::MIN)
    }

    async fn flush(&self) -> Result<(), SpoolError> {
        self.ask(|reply| Command::Change {
            change: Change::Nothing,
            reply,
        })
        .await
        .map(|_| ())
    }

    async fn close(&self) -> Result<(), SpoolError> {
        // No heartbeat after this: it would register the replica again.
        for task in &self.tasks[1..] {
            task.abort();
        }
        let released = self
            .ask(|reply| Command::Change {
                change: Change::Release,
                reply,
            })
            .await?;
        tracing::info!(
            replica = %self.replica,
            released,
            "left the replicas; leases given up for the others to claim"
        );
        Ok(())
    }
}

/// The database for logs: `postgres://user@host:port/db`, no password.
pub fn shown(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let port = config
        .get_ports()
        .first()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{host}{port}/{db}")
}

/// A pool of `size` connections that fails fast when the database is away.
fn pool(config: &tokio_postgres::Config, size: usize) -> Result<Pool, SpoolError> {
    let mut config = config.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    if config.get_application_name().is_none() {
        config.application_name("switchboard");
    }
    // NoTls: reach the database over a local socket, a private network or a
    // TLS-terminating pooler (see docs/operating.md); rustls can be added here.
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()?)
}

/// `host/pid/random`: readable in `leased_by`, unique across restarts.
fn replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "relay".to_owned());
    let random = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "{host}/{}/{}",
        std::process::id(),
        &random[random.len() - 8..]
    )
}

/// A third of the lease: two heartbeats may be missed before it expires.
fn heartbeat_every(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

/// Sends the writer a heartbeat now and then: more often while the
/// database is away, so that delivery resumes soon after it is back.
async fn tick(commands: mpsc::Sender<Command>, shared: Arc<Shared>, every: Duration) {
    loop {
        let up = *shared.up.borrow();
        let wait = if up {
            every
        } else {
            every.min(Duration::from_secs(1))
        };
        tokio::time::sleep(wait).await;
        if commands.send(Command::Tick).await.is_err() {
            return;
        }
    }
}

/// Recounts pending work across all replicas (for backpressure) and prunes
/// delivered records past retention, on a connection of its own so the
/// writer never waits for it.
async fn upkeep(pool: Pool, shared: Arc<Shared>, retention: Duration) {
    let mut recount = tokio::time::interval(RECOUNT);
    recount.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    loop {
        recount.tick().await;
        let Ok(client) = pool.get().await else {
            continue;
        };
        if let Ok(pending) = writer::count_pending(&**client).await {
            shared.pending.set(pending);
        }
        if last_prune.elapsed() < PRUNE {
            continue;
        }
        last_prune = tokio::time::Instant::now();
        let cutoff = now_ms() - retention.as_millis() as i64;
        match writer::prune(&client, cutoff, now_ms()).await {
            Ok((d, e)) if d + e > 0 => tracing::info!(
                deliveries = d,
                events = e,
                "pruned delivered records past retention"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "pruning the spool failed"),
        }
    }
}
