//! The durable spool between accept and dispatch.
//!
//! Every accepted webhook is written here, with one row per delivery, before
//! the sender gets its 202; every delivery outcome is written here too. The
//! [`Spool`] trait is what ingress and dispatch need from storage; the
//! [`Ledger`] trait is what operators need (dead letters, backlog, one
//! webhook's story). Two backends implement both: [`sqlite`] (one relay, one
//! file) and [`postgres`] (several replicas sharing one queue), chosen by
//! [`Backend`]. What both writers share with their callers (the attached
//! windows, the pending count) is in `windows`. No HTTP here.

pub mod backend;
pub mod postgres;
pub mod sqlite;
mod windows;

pub use backend::{Backend, LedgerBackend, Location};

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

/// A webhook to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Time-ordered id.
    pub id: Uuid,
    /// Source name.
    pub source: String,
    /// Client address as seen by ingress.
    pub client_ip: String,
    /// Unix milliseconds.
    pub received_ms: i64,
    /// Matching routes.
    pub routes: Vec<String>,
    /// The body as received.
    pub body: Bytes,
    /// The verified `webhook-id` to remember with it (Standard Webhooks
    /// sources), so that a replay is refused across restarts and replicas.
    pub seen: Option<SeenId>,
}

/// A `webhook-id` taken by a source until it may no longer be replayed.
/// Written in the webhook's own transaction: a webhook refused with 503
/// leaves its id free, and a stored one never loses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenId {
    /// The `webhook-id` header.
    pub id: String,
    /// Unix milliseconds after which its timestamp is too old to verify, so
    /// the id need not be remembered.
    pub expires_ms: i64,
}

/// What the spool made of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Written with its deliveries: answer 202.
    Stored,
    /// Its [`SeenId`] was taken already (before a restart, or by another
    /// replica): nothing written; answer 200 and forward nothing.
    Duplicate,
}

/// A stored webhook's `accepted` log line. The writers log it once the
/// commit is known and before the deliveries are offered to the windows:
/// logged by ingress after the 202, it could follow the log line of a
/// delivery that dispatch had already made.
#[derive(Debug)]
pub(crate) struct Announce {
    id: Uuid,
    source: String,
    client_ip: String,
    routes: Vec<String>,
    deliveries: usize,
}

impl Announce {
    /// The line for `event`, stored with `deliveries` deliveries.
    pub(crate) fn of(event: NewEvent, deliveries: usize) -> Announce {
        Announce {
            id: event.id,
            source: event.source,
            client_ip: event.client_ip,
            routes: event.routes,
            deliveries,
        }
    }

    /// Logs it, under ingress's target: it is the story of a request, and
    /// log filters written for it keep working.
    pub(crate) fn log(&self) {
        tracing::info!(
            target: "switchboard::ingress",
            id = %self.id,
            source = %self.source,
            client_ip = %self.client_ip,
            routes = %crate::logs::List(&self.routes),
            deliveries = self.deliveries,
            "accepted"
        );
    }
}

/// A delivery to record with its event.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Target name.
    pub target: String,
    /// The route that chose it.
    pub route: String,
    /// The rendered body; `None` means the event's body, unchanged (stored once).
    pub body: Option<Bytes>,
}

/// A delivery ready to be attempted.
#[derive(Debug, Clone)]
pub struct Ready {
    /// Spool row id.
    pub id: i64,
    /// The webhook's id (the `webhook-id` header).
    pub event: Uuid,
    /// Target name.
    pub target: String,
    /// The route that chose it.
    pub route: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// The body to send.
    pub body: Bytes,
}

/// The outcome of one attempt, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Done.
    Delivered { status: u16 },
    /// Try again at `due_ms` (unix milliseconds).
    Retry {
        due_ms: i64,
        status: Option<u16>,
        error: String,
    },
    /// Given up: a permanent error or no attempts left.
    Dead { status: Option<u16>, error: String },
    /// The target answered 410 and is disabled: the delivery waits, marked.
    Parked { status: u16, error: String },
}

/// Due deliveries of one target.
#[derive(Debug, Default)]
pub struct Claimed {
    /// Oldest due first, without the ones the caller said it holds. May
    /// include deliveries handed over since the claim was asked for.
    pub ready: Vec<Ready>,
    /// Whether every due delivery was returned (fewer than the limit).
    pub exhausted: bool,
    /// When the next not-yet-due delivery falls due (unix milliseconds).
    pub next_due_ms: Option<i64>,
}

/// How a target's dispatcher is fed fresh deliveries after each commit, so
/// they need not be read back from storage.
#[derive(Clone)]
pub struct Window {
    /// Fresh deliveries; bounded in number.
    pub tx: mpsc::Sender<Ready>,
    /// Woken when deliveries stayed in storage because the window was full,
    /// or when it should look again.
    pub wake: Arc<Notify>,
    /// Bounds the window in body bytes: everything the dispatcher holds
    /// (handed over, claimed, in flight) is charged here until it settles.
    pub budget: Arc<Budget>,
}

impl Window {
    /// Hands a fresh delivery over if the window has room for it, in number
    /// and in bytes; otherwise gives it back (it stays in storage).
    pub fn offer(&self, ready: Ready) -> Result<(), Ready> {
        let size = ready.body.len() as u64;
        if !self.budget.take(size) {
            return Err(ready);
        }
        self.tx.try_send(ready).map_err(|e| {
            self.budget.give_back(size);
            match e {
                mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
            }
        })
    }
}

/// Body bytes a dispatcher holds in memory, against a limit.
#[derive(Debug)]
pub struct Budget {
    used: AtomicU64,
    max: u64,
}

impl Budget {
    pub fn new(max: u64) -> Budget {
        Budget {
            used: AtomicU64::new(0),
            max,
        }
    }

    /// Charges `size` bytes if they fit. One delivery always fits when
    /// nothing is held, however large, so a big body cannot stall a target.
    pub fn take(&self, size: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used == 0 || used.saturating_add(size) <= self.max).then(|| used + size)
            })
            .is_ok()
    }

    /// Returns `size` bytes charged earlier.
    pub fn give_back(&self, size: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(size))
            });
    }

    /// Whether less than half the budget is in use: room to claim more.
    pub fn has_room(&self) -> bool {
        self.used.load(Ordering::Acquire) <= self.max / 2
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// Bytes that still fit under the limit.
    pub fn left(&self) -> u64 {
        self.max.saturating_sub(self.used())
    }
}

/// Counts for backpressure and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// Deliveries not yet delivered or dead.
    pub deliveries: u64,
    /// Their body bytes.
    pub bytes: u64,
}

/// A dead letter, for `dlq list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    /// Spool row id.
    pub id: i64,
    /// The webhook's id.
    pub event: String,
    /// Target name.
    pub target: String,
    /// Route name.
    pub route: String,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP status, if any.
    pub last_status: Option<u16>,
    /// Last error.
    pub last_error: Option<String>,
    /// When the webhook arrived (unix milliseconds).
    pub received_ms: i64,
    /// When it was given up (unix milliseconds).
    pub dead_ms: i64,
}

/// Which dead letters a `dlq` command applies to.
#[derive(Debug, Clone, Default)]
pub struct DeadFilter {
    /// Only this target.
    pub target: Option<String>,
    /// Only these webhook ids.
    pub events: Vec<String>,
    /// Only those given up before this (unix milliseconds).
    pub before_ms: Option<i64>,
}

/// Storage failures. Ingress answers 503 to these; nothing is acknowledged
/// that was not written.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("spool database error (PostgreSQL): {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no connection to the PostgreSQL spool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("cannot set up the PostgreSQL spool's connection pool: {0}")]
    PoolSetup(#[from] deadpool_postgres::BuildError),
    #[error("cannot create the spool directory {path}: {source}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the spool at {path} has schema version {found}, newer than this switchboard understands ({supported}); upgrade switchboard"
    )]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error(
        "there is no spool at {path}; a relay that ran with this config would have created it (a relative server.spool is relative to the config file's directory)"
    )]
    Missing { path: String },
    #[error("spool commit failed: {0}")]
    Commit(String),
    #[error("the spool writer has stopped")]
    Stopped,
}

/// What ingress and dispatch need from storage.
pub trait Spool: Send + Sync + 'static {
    /// Writes a webhook and its deliveries (and its [`SeenId`], unless the
    /// source has taken that id already) in one durable transaction, then
    /// offers the deliveries to the attached windows.
    fn accept(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> impl Future<Output = Result<Admitted, SpoolError>> + Send;

    /// Stores an attempt's outcome. Ordered after everything this caller sent
    /// before; not awaited for durability (a lost outcome means a repeated
    /// attempt, never a lost delivery).
    fn record(&self, id: i64, outcome: Record) -> impl Future<Output = ()> + Send;

    /// Up to `limit` due deliveries of `target`, oldest due first, leaving
    /// out `held` (the caller has them already: their bodies are not read).
    fn claim(
        &self,
        target: &str,
        limit: usize,
        held: Vec<i64>,
    ) -> impl Future<Output = Result<Claimed, SpoolError>> + Send;

    /// Feeds `target`'s fresh deliveries to `window` from now on.
    fn attach(&self, target: &str, window: Window);

    /// Stops feeding `target`; its deliveries stay stored.
    fn detach(&self, target: &str);

    /// Dead-letters every pending delivery of targets not in `keep` (targets
    /// removed from the config), with that reason.
    fn dead_letter_others(
        &self,
        keep: Vec<String>,
    ) -> impl Future<Output = Result<u64, SpoolError>> + Send;

    /// Makes `target`'s parked deliveries (after a 410) due again.
    fn unpark(&self, target: &str) -> impl Future<Output = Result<u64, SpoolError>> + Send;

    /// Pending work, for backpressure.
    fn pending(&self) -> Pending;

    /// How many relays share the targets' rate limits now: 1 for SQLite, the
    /// live replicas for PostgreSQL. Each relay sends at `rate / share`.
    fn share(&self) -> NonZeroU32;

    /// Resolves once everything sent before it is durable.
    fn flush(&self) -> impl Future<Output = Result<(), SpoolError>> + Send;

    /// At shutdown, after the last attempt: flushes, and gives up whatever
    /// this relay holds so others take it over at once (PostgreSQL: its
    /// leases and its place among the live replicas).
    fn close(&self) -> impl Future<Output = Result<(), SpoolError>> + Send;
}

/// Per-target counts of the spool's unfinished and dead deliveries.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, Eq)]
pub struct Backlog {
    /// Due or waiting for a retry.
    pub pending: u64,
    /// Waiting for a target disabled by a 410.
    pub parked: u64,
    /// Dead letters.
    pub dead: u64,
}

/// One webhook and what became of each of its deliveries.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventView {
    pub id: String,
    pub source: String,
    pub client_ip: String,
    pub received_ms: i64,
    pub routes: Vec<String>,
    pub size: usize,
    pub deliveries: Vec<DeliveryView>,
}

/// One delivery's state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryView {
    pub target: String,
    pub route: String,
    /// pending, parked, delivered or dead.
    pub state: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// When it is (or was) due next, unix milliseconds.
    pub due_ms: i64,
    pub updated_ms: i64,
}

/// What operators need from storage: the admin API and the `dlq` commands.
/// Opened beside a running relay (its own connection), or alone by the CLI;
/// a running relay picks replayed deliveries up within a few seconds.
pub trait Ledger: Send + Sync + 'static {
    /// Dead letters matching `filter`, oldest first.
    fn dead_letters(
        &self,
        filter: &DeadFilter,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, SpoolError>> + Send;

    /// Makes matching dead letters due again, attempts reset; how many.
    fn replay(&self, filter: &DeadFilter) -> impl Future<Output = Result<u64, SpoolError>> + Send;

    /// Deletes matching dead letters (and events left with no deliveries).
    fn purge(&self, filter: &DeadFilter) -> impl Future<Output = Result<u64, SpoolError>> + Send;

    /// Unfinished and dead deliveries per target name.
    fn backlog(&self) -> impl Future<Output = Result<HashMap<String, Backlog>, SpoolError>> + Send;

    /// The webhook with this id, if the spool still has it.
    fn event(&self, id: &str)
    -> impl Future<Output = Result<Option<EventView>, SpoolError>> + Send;
}
