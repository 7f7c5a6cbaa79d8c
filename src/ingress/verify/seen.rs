//! The `webhook-id`s a source has taken, and the claim a request in
//! progress holds on one.
//!
//! This process's fast first check against replays; the spool, which
//! stores each taken id with its webhook, is the authority. No clock is
//! read here: `now` is an argument.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// A `webhook-id` held for a request in progress.
pub struct Claim(pub(super) Option<Held>);

pub(super) struct Held {
    pub(super) seen: Arc<Mutex<SeenIds>>,
    pub(super) id: String,
    /// When its window closes, Unix seconds.
    pub(super) until: u64,
}

impl Claim {
    /// A claim on nothing: for sources without replay protection.
    pub fn none() -> Claim {
        Claim(None)
    }

    /// The `webhook-id` held, and when its window closes (Unix seconds):
    /// what the spool must remember with the webhook.
    pub fn id(&self) -> Option<(&str, u64)> {
        self.0.as_ref().map(|held| (held.id.as_str(), held.until))
    }

    /// The webhook is stored: remember its id for the rest of the window.
    pub fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(held) = self.0.take() {
            lock(&held.seen).release(&held.id);
        }
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(held) => write!(f, "Claim({})", held.id),
            None => f.write_str("Claim(none)"),
        }
    }
}

pub(super) fn lock(seen: &Mutex<SeenIds>) -> MutexGuard<'_, SeenIds> {
    // The store stays consistent whatever a panicking holder was doing: every
    // change is a single insert or remove.
    seen.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `webhook-id`s one source has taken, each until its window closes.
/// Bounded: expired ids are dropped on every claim, and past `cap` the
/// oldest goes first.
#[derive(Debug)]
pub struct SeenIds {
    until: HashMap<String, u64>,
    /// `(until, id)` in claim order; may hold released ids, which count
    /// toward `cap` until they age out, so the queue is bounded too.
    pub(super) order: VecDeque<(u64, String)>,
    cap: usize,
}

impl SeenIds {
    /// An empty store holding at most `cap` ids.
    pub fn new(cap: usize) -> SeenIds {
        SeenIds {
            until: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Takes `id` until `until` (Unix seconds). False if it is already taken
    /// and its window has not closed at `now`.
    pub fn claim(&mut self, id: &str, now: u64, until: u64) -> bool {
        while let Some((expires, _)) = self.order.front() {
            if *expires > now && self.order.len() < self.cap {
                break;
            }
            self.evict_oldest();
        }
        if self.until.get(id).is_some_and(|&expires| expires > now) {
            return false;
        }
        self.until.insert(id.to_owned(), until);
        self.order.push_back((until, id.to_owned()));
        true
    }

    /// Forgets `id`: its request did not go through.
    pub fn release(&mut self, id: &str) {
        self.until.remove(id);
    }

    /// How many ids are held.
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    fn evict_oldest(&mut self) {
        if let Some((expires, id)) = self.order.pop_front()
            && self.until.get(&id) == Some(&expires)
        {
            self.until.remove(&id);
        }
    }
}
