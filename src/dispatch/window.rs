//! A worker's window: the deliveries it holds in memory for its target, and
//! how the window is filled from the spool.
//!
//! Fresh deliveries are handed over by the spool after each commit (already
//! charged to the byte budget); due ones are claimed from the spool on a task
//! of their own when the window ran low. Every delivery held is charged to
//! the budget until it is settled or released, and none is held twice.
//! Must not send, nor decide what an outcome means: the worker does.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use crate::spool::{Budget, Claimed, Ready, Spool, SpoolError};

/// What a worker holds and when it should look in the spool again.
pub(super) struct Window {
    /// Deliveries held, at most this many.
    capacity: usize,
    /// The window's bound in body bytes.
    budget: Arc<Budget>,
    queue: VecDeque<Ready>,
    /// Ids in `queue` or in flight, with the body bytes each is charged to
    /// the budget: never taken twice.
    held: HashMap<i64, u64>,
    /// Running mean of body sizes seen, to size claims in bytes.
    mean_size: f64,
    /// The spool may hold due deliveries not in `queue`.
    pub(super) look: bool,
    /// A claim on its way. Attempts go on meanwhile: the answer is taken in
    /// when it comes.
    pub(super) claiming: Option<JoinHandle<Result<Claimed, SpoolError>>>,
    /// Ids settled while a claim was out: the claim may have read them
    /// before their outcomes were stored, so its answer must not bring them
    /// back.
    settled_meanwhile: HashSet<i64>,
    /// When the earliest known retry falls due.
    pub(super) next_due: Option<Instant>,
}

impl Window {
    /// An empty window that will look in the spool first. `max_body`, the
    /// largest body a webhook may have, is the first guess of a body's size.
    pub(super) fn new(capacity: usize, budget: Arc<Budget>, max_body: u64) -> Window {
        Window {
            capacity,
            budget,
            queue: VecDeque::new(),
            held: HashMap::new(),
            mean_size: max_body as f64,
            look: true,
            claiming: None,
            settled_meanwhile: HashSet::new(),
            next_due: None,
        }
    }

    /// Whether to claim from the spool now: it may hold due deliveries, no
    /// claim is out, and the window is at most half full, in number and
    /// bytes.
    pub(super) fn wants_claim(&self) -> bool {
        self.look
            && self.claiming.is_none()
            && self.queue.len() < self.capacity / 2 + 1
            && self.budget.has_room()
    }

    /// Deliveries the window holds at most.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The next delivery to send, if any.
    pub(super) fn pop(&mut self) -> Option<Ready> {
        self.queue.pop_front()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Asks the spool for due deliveries to fill the window, on a task of
    /// its own: the worker goes on sending what it holds until the answer
    /// comes (see [`Window::claimed`]).
    pub(super) fn claim<S: Spool>(&mut self, spool: &Arc<S>, name: &str) {
        self.look = false;
        // Room in number, and in bytes at the mean body size seen so far
        // (at first the largest a body may be), so that a claim of large
        // bodies does not load more than the budget.
        let by_bytes = self.budget.left() as f64 / self.mean_size.max(1.0);
        let room = self
            .capacity
            .saturating_sub(self.queue.len())
            .min(by_bytes as usize)
            .max(1);
        let held = self.held.keys().copied().collect();
        let (spool, name) = (spool.clone(), name.to_owned());
        self.claiming = Some(tokio::spawn(
            async move { spool.claim(&name, room, held).await },
        ));
    }

    /// Takes a claim's answer into the window. Fresh deliveries handed over
    /// before the answer are taken first, and those settled since the claim
    /// was asked for are left out, so none is held or sent twice.
    pub(super) fn claimed(
        &mut self,
        answer: Result<Result<Claimed, SpoolError>, JoinError>,
        fresh: &mut mpsc::Receiver<Ready>,
        name: &str,
    ) {
        self.claiming = None;
        let settled = std::mem::take(&mut self.settled_meanwhile);
        let claimed = match answer {
            Ok(Ok(claimed)) => claimed,
            Ok(Err(error)) => return self.claim_failed(name, &error),
            // The claim's task panicked: a failed claim too.
            Err(error) => return self.claim_failed(name, &error),
        };
        while let Ok(ready) = fresh.try_recv() {
            self.take_fresh(ready);
        }
        // The claim asked for no more than there was room for then; fresh
        // deliveries may have taken some of it since.
        let room = self.capacity.saturating_sub(self.queue.len());
        let mut taken = 0;
        let mut left_behind = false;
        for ready in claimed.ready {
            if self.held.contains_key(&ready.id) || settled.contains(&ready.id) {
                continue;
            }
            let size = ready.body.len() as u64;
            if taken == room || !self.budget.take(size) {
                // Full, in number or in bytes: the rest stays in the spool
                // for a later claim.
                left_behind = true;
                break;
            }
            self.hold(ready, size);
            taken += 1;
        }
        if !claimed.exhausted || left_behind {
            self.look = true;
        }
        self.next_due = claimed.next_due_ms.map(instant_at);
    }

    /// Logs a failed claim and tries again in a second.
    fn claim_failed(&mut self, name: &str, error: &dyn std::fmt::Display) {
        tracing::error!(target = %name, %error, "could not read due deliveries from the spool; trying again");
        self.next_due = Some(Instant::now() + Duration::from_secs(1));
    }

    /// Drops what is held in memory but not in flight; the spool keeps it.
    pub(super) fn release(&mut self, fresh: &mut mpsc::Receiver<Ready>) {
        for ready in self.queue.drain(..) {
            if let Some(size) = self.held.remove(&ready.id) {
                self.budget.give_back(size);
            }
        }
        // Handed over but never taken: charged by the offer, held by no one.
        while let Ok(ready) = fresh.try_recv() {
            self.budget.give_back(ready.body.len() as u64);
        }
        self.look = true;
    }

    /// Takes a fresh delivery handed over by the spool (already charged to
    /// the budget), unless a claim took it first.
    pub(super) fn take_fresh(&mut self, ready: Ready) {
        let size = ready.body.len() as u64;
        if self.held.contains_key(&ready.id) {
            self.budget.give_back(size);
            return;
        }
        self.hold(ready, size);
    }

    fn hold(&mut self, ready: Ready, size: u64) {
        self.mean_size = 0.9 * self.mean_size + 0.1 * size as f64;
        self.held.insert(ready.id, size);
        self.queue.push_back(ready);
    }

    /// Drops deliveries an operator cancelled: those waiting in the window,
    /// and those a claim out now may bring back. One in flight is left to
    /// finish (its outcome does not undo the cancel: outcomes only change
    /// pending rows).
    pub(super) fn forget(&mut self, ids: &HashSet<i64>, fresh: &mut mpsc::Receiver<Ready>) {
        // Handed over before the cancel but not yet taken: take them first,
        // so that they are dropped with the rest.
        while let Ok(ready) = fresh.try_recv() {
            self.take_fresh(ready);
        }
        let (held, budget) = (&mut self.held, &self.budget);
        self.queue.retain(|ready| {
            if !ids.contains(&ready.id) {
                return true;
            }
            if let Some(size) = held.remove(&ready.id) {
                budget.give_back(size);
            }
            false
        });
        if self.claiming.is_some() {
            self.settled_meanwhile.extend(ids);
        }
    }

    /// Forgets a delivery whose outcome the spool has stored, and notes when
    /// it falls due again if it is to be retried.
    pub(super) fn settle(&mut self, id: i64, retry_at: Option<Instant>) {
        if let Some(size) = self.held.remove(&id) {
            self.budget.give_back(size);
        }
        if self.claiming.is_some() {
            self.settled_meanwhile.insert(id);
        }
        if let Some(at) = retry_at {
            self.next_due = Some(self.next_due.map_or(at, |t| t.min(at)));
        }
    }
}

/// A tokio instant for a unix-milliseconds time.
pub(super) fn instant_at(ms: i64) -> Instant {
    let now_ms = crate::time::now_ms();
    Instant::now() + Duration::from_millis(ms.saturating_sub(now_ms).max(0) as u64)
}
