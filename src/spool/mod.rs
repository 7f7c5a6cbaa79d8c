//! The durable spool between accept and dispatch.
//!
//! Every accepted webhook is written here, with one row per delivery, before
//! the sender gets its 202; every delivery outcome is written here too. The
//! [`Spool`] trait is what ingress and dispatch need from storage; the
//! [`Ledger`] trait is what operators need (dead letters, backlog, one
//! webhook's story). Two backends implement both: [`sqlite`] (one relay, one
//! file) and [`postgres`] (several replicas sharing one queue), chosen by
//! [`Backend`] from a [`Location`]. What both writers share with their
//! callers: the commands and their forwarding (`command`), the attached
//! windows and the pending count (`windows`), the forwarding to them (`front`), the `accepted` log line
//! and tail event (`announce`). This file holds the [`Spool`] trait and the types it
//! speaks; no HTTP here.

mod announce;
pub mod audit;
pub mod backend;
pub mod bulk;
mod command;
mod error;
pub mod filter;
mod front;
pub mod history;
mod ledger;
mod location;
mod page;
pub mod postgres;
pub mod sqlite;
mod window;
mod windows;

pub(crate) use announce::Announce;
pub use backend::{Backend, LedgerBackend};
pub use error::{CommitError, SpoolError};
pub use filter::{DeliveryState, EventFilter};
use front::HasFront;
pub use history::{EventSummary, EventView, Page, Stored};
pub use ledger::{
    Backlog, DeadFilter, DeadGroup, DeadLetter, Ledger, Replica, TargetControl, dead_groups_sql,
};
pub use location::{Location, LocationError};
pub use window::{Budget, Window};

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

/// A webhook to record.
#[derive(Debug, Clone, Default)]
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
    /// Its `content-type` header, if any.
    pub content_type: Option<String>,
    /// The headers it came with, as a JSON object, secrets redacted.
    pub headers: String,
    /// The source's lookup keys found in it, `(name, value)`.
    pub keys: Vec<(String, String)>,
    /// The version of the config that routed it.
    pub config_version: String,
    /// The verified `webhook-id` to remember with it (Standard Webhooks
    /// sources), so that a replay is refused across restarts and replicas.
    pub seen: Option<SeenId>,
    /// Its ingress span's trace context, when tracing is on: stored
    /// (`events.trace`), so that every attempt joins its trace.
    pub trace: Option<Arc<crate::trace::Context>>,
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

/// A delivery to record with its event.
#[derive(Debug, Clone, Default)]
pub struct NewDelivery {
    /// Target name.
    pub target: String,
    /// The route that chose it.
    pub route: String,
    /// The rendered body; `None` means the event's body, unchanged (stored once).
    pub body: Option<Bytes>,
    /// Why no body could be rendered for it (a transform failed on this
    /// payload): it is stored `unrendered`, never sent until a replay
    /// renders it under the rules then in force.
    pub unrendered: Option<String>,
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
    /// Its webhook's trace context, if one was stored (tracing was on).
    pub trace: Option<Arc<crate::trace::Context>>,
}

impl NewEvent {
    /// Its lookup keys as stored beside it: a JSON object of each name's
    /// value (an array when a name found several).
    pub(crate) fn keys_json(&self) -> String {
        serde_json::Value::Object(keys_object(&self.keys)).to_string()
    }
}

/// Lookup keys as a JSON object of each name's value (an array when a name
/// found several): as stored, and as the live tail shows them.
pub(crate) fn keys_object(keys: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for (name, value) in keys {
        let value = serde_json::Value::String(value.clone());
        match map.get_mut(name) {
            None => {
                map.insert(name.clone(), value);
            }
            Some(serde_json::Value::Array(values)) => values.push(value),
            Some(first) => *first = serde_json::Value::Array(vec![first.take(), value]),
        }
    }
    map
}

impl NewDelivery {
    /// The state it is stored in: `pending`, or `unrendered`.
    pub(crate) fn state(&self) -> &'static str {
        if self.unrendered.is_some() {
            "unrendered"
        } else {
            "pending"
        }
    }

    /// The body it sends: its own, or else its event's.
    pub(crate) fn body_of(&self, event: &NewEvent) -> Bytes {
        self.body.clone().unwrap_or_else(|| event.body.clone())
    }
}

impl Ready {
    /// `delivery` of `event`, just stored as row `id`, sending `body`.
    pub(crate) fn fresh(id: i64, event: &NewEvent, delivery: &NewDelivery, body: Bytes) -> Ready {
        Ready {
            id,
            event: event.id,
            target: delivery.target.clone(),
            route: delivery.route.clone(),
            attempts: 0,
            body,
            trace: event.trace.clone(),
        }
    }
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

/// One attempt, as the history keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptLog {
    /// Which attempt of its delivery, from 1.
    pub attempt: u32,
    /// When it started, unix milliseconds.
    pub started_ms: i64,
    /// How long it took until the answer (or the failure).
    pub duration_ms: i64,
    /// The answer's status, if there was one.
    pub status: Option<u16>,
    /// What kind of failure, if it failed: see `dispatch::deliver::Class`.
    pub class: Option<&'static str>,
    /// The failure or refusal, in words.
    pub error: Option<String>,
    /// The request headers sent, a JSON object, secrets redacted.
    pub request_headers: String,
    /// The response headers, a JSON object (`{}` without a response).
    pub response_headers: String,
    /// The first bytes of the response body (`server.history.response_bytes`).
    pub response_body: Option<Bytes>,
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

/// Counts for backpressure and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// Deliveries not yet delivered or dead.
    pub deliveries: u64,
    /// Their body bytes.
    pub bytes: u64,
}

/// What ingress and dispatch need from storage. The methods with a body
/// forward to the backend's writer and windows (the `front` module); a backend
/// overrides what it does differently.
pub trait Spool: HasFront + Send + Sync + 'static {
    /// Writes a webhook and its deliveries (and its [`SeenId`], unless the
    /// source has taken that id already) in one durable transaction, then
    /// offers the deliveries to the attached windows.
    fn accept(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> impl Future<Output = Result<Admitted, SpoolError>> + Send {
        self.front().commands.accept(event, deliveries)
    }

    /// Stores an attempt's outcome, and the attempt in the history. Ordered after everything this caller sent
    /// before; not awaited for durability (a lost outcome means a repeated
    /// attempt, never a lost delivery).
    fn record(&self, id: i64, outcome: Record, log: AttemptLog) -> impl Future<Output = ()> + Send {
        self.front().commands.record(id, outcome, log)
    }

    /// Up to `limit` due deliveries of `target`, oldest due first, leaving
    /// out `held` (the caller has them already: their bodies are not read).
    fn claim(
        &self,
        target: &str,
        limit: usize,
        held: Vec<i64>,
    ) -> impl Future<Output = Result<Claimed, SpoolError>> + Send {
        self.front().commands.claim(target, limit, held)
    }

    /// Feeds `target`'s fresh deliveries to `window` from now on.
    fn attach(&self, target: &str, window: Window) {
        self.front().windows.attach(target, window);
    }

    /// Stops feeding `target`; its deliveries stay stored.
    fn detach(&self, target: &str) {
        self.front().windows.detach(target);
    }

    /// Dead-letters every pending delivery of targets not in `keep` (targets
    /// removed from the config), with that reason.
    fn dead_letter_others(
        &self,
        keep: Vec<String>,
    ) -> impl Future<Output = Result<u64, SpoolError>> + Send {
        self.front()
            .commands
            .change(command::Change::DeadLetterOthers(keep))
    }

    /// Makes `target`'s parked deliveries (after a 410) due again.
    fn unpark(&self, target: &str) -> impl Future<Output = Result<u64, SpoolError>> + Send {
        self.front()
            .commands
            .change(command::Change::Unpark(target.to_owned()))
    }

    /// The live tail the writer announces stored webhooks to; the relay
    /// hands the same hub to dispatch and the admin API.
    fn tail(&self) -> crate::tail::Tail {
        self.front().windows.tail().clone()
    }

    /// Pending work, for backpressure.
    fn pending(&self) -> Pending {
        self.front().pending.get()
    }

    /// Follows a change an operator made beside the writer (a bulk replay
    /// or cancel): `entered` deliveries became pending, `left` ones stopped
    /// being. The periodic recount corrects any drift.
    fn pending_moved(&self, entered: Pending, left: Pending) {
        let count = self.front().pending;
        count.add(entered.deliveries, entered.bytes);
        count.settle(left.deliveries, left.bytes);
    }

    /// How many relays share the targets' rate limits now: 1 for SQLite, the
    /// live replicas for PostgreSQL. Each relay sends at `rate / share`.
    fn share(&self) -> NonZeroU32 {
        NonZeroU32::MIN
    }

    /// Resolves once everything sent before it is durable.
    fn flush(&self) -> impl Future<Output = Result<(), SpoolError>> + Send {
        self.front().commands.flush()
    }

    /// At shutdown, after the last attempt: flushes, and gives up whatever
    /// this relay holds so others take it over at once (PostgreSQL: its
    /// leases and its place among the live replicas).
    fn close(&self) -> impl Future<Output = Result<(), SpoolError>> + Send {
        self.flush()
    }
}
