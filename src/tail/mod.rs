//! The live tail: what the relay does, as it happens, for whoever watches
//! (`GET /api/tail`, `switchboard tap`).
//!
//! [`Tail`] is a hub: the spool's writer publishes each accepted webhook
//! after its commit, each attempt publishes its outcome, the admin API its
//! pauses and resumes, a reload its outcome. Watchers subscribe; each one
//! reads from a bounded ring ([`BUFFER`] events) and one that falls behind
//! is told it missed events and is dropped. Publishing never waits and
//! builds nothing when nobody watches, so a watcher can never slow the
//! relay. Must not store anything, nor know about HTTP: `event` holds what
//! is published, `filter` which events a watcher asked for.

mod event;
mod filter;

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use event::{Accepted, AttemptEvent, Event, TargetEvent};
pub use filter::{FilterError, TailFilter};

/// Events a watcher may fall behind by before it is dropped: its bounded
/// buffer (the hub's ring is shared, each watcher has its place in it).
pub const BUFFER: usize = 1024;

/// The hub. Cheap to clone: every clone publishes to the same watchers.
#[derive(Clone)]
pub struct Tail {
    tx: broadcast::Sender<Arc<Event>>,
    /// Cancelled when the relay stops: every watcher's stream ends.
    closed: CancellationToken,
}

impl Default for Tail {
    fn default() -> Tail {
        Tail::new(BUFFER)
    }
}

impl Tail {
    /// A hub whose watchers may fall `buffer` events behind.
    pub fn new(buffer: usize) -> Tail {
        let (tx, _) = broadcast::channel(buffer.max(1));
        Tail {
            tx,
            closed: CancellationToken::new(),
        }
    }

    /// Publishes the event `make` builds, if anyone watches; otherwise
    /// builds nothing. Never waits.
    pub fn publish(&self, make: impl FnOnce() -> Event) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let _ = self.tx.send(Arc::new(make()));
    }

    /// Whether anyone watches (to skip gathering an event's parts).
    pub fn watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// A new watcher, seeing what is published from now on.
    pub fn subscribe(&self) -> Watcher {
        Watcher {
            rx: self.tx.subscribe(),
            closed: self.closed.clone(),
        }
    }

    /// Ends every watcher's stream (the relay stops).
    pub fn close(&self) {
        self.closed.cancel();
    }
}

/// One watcher's place in the hub.
pub struct Watcher {
    rx: broadcast::Receiver<Arc<Event>>,
    closed: CancellationToken,
}

/// What a watcher gets next.
#[derive(Debug)]
pub enum Next {
    /// An event.
    Event(Arc<Event>),
    /// It fell this many events behind: it is to be dropped.
    Missed(u64),
    /// The relay stops.
    Closed,
}

impl Watcher {
    /// Waits for the next event.
    pub async fn next(&mut self) -> Next {
        tokio::select! {
            () = self.closed.cancelled() => Next::Closed,
            received = self.rx.recv() => match received {
                Ok(event) => Next::Event(event),
                Err(broadcast::error::RecvError::Lagged(n)) => Next::Missed(n),
                Err(broadcast::error::RecvError::Closed) => Next::Closed,
            },
        }
    }
}

#[cfg(test)]
mod tests;
