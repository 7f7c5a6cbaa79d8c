//! What a spool's writer shares with its callers, the same for both
//! backends: the windows attached by target, with whether each overflowed,
//! the live tail the writer announces stored webhooks to, and the count of
//! pending work that backpressure reads. No storage here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::{Pending, Ready, Window};
use crate::tail::Tail;

/// The dispatchers' windows, by target. The writer hands each fresh
/// delivery to its target's window after the commit; a delivery the window
/// could not take stays in storage, and the window is then in overflow: its
/// dispatcher claims from storage, and fresh deliveries are not handed to it
/// until a claim comes back exhausted, so that they go out in order.
#[derive(Default)]
pub struct Windows {
    attached: Mutex<HashMap<String, Attached>>,
    /// The live tail: the writer publishes each stored webhook to it.
    tail: Tail,
}

struct Attached {
    window: Window,
    /// Deliveries wait in storage that the window did not take.
    overflow: bool,
}

impl Windows {
    /// Feeds `target`'s fresh deliveries to `window` from now on. It starts
    /// in overflow, so that the dispatcher's first claim picks up what is
    /// already waiting (left by an earlier run, or by other replicas).
    pub(crate) fn attach(&self, target: &str, window: Window) {
        self.lock().insert(
            target.to_owned(),
            Attached {
                window,
                overflow: true,
            },
        );
    }

    /// Stops feeding `target`.
    pub(crate) fn detach(&self, target: &str) {
        self.lock().remove(target);
    }

    /// Hands fresh deliveries to their windows. `stayed` gets the id of each
    /// one left in storage: its target has no window, or the window is in
    /// overflow, or it is full now (which puts it in overflow and wakes its
    /// dispatcher).
    pub(crate) fn offer(&self, offers: Vec<Ready>, mut stayed: impl FnMut(i64)) {
        if offers.is_empty() {
            return;
        }
        let mut windows = self.lock();
        for ready in offers {
            let id = ready.id;
            match windows.get_mut(&ready.target) {
                Some(attached) if !attached.overflow => {
                    if attached.window.offer(ready).is_err() {
                        attached.overflow = true;
                        attached.window.wake.notify_one();
                        stayed(id);
                    }
                }
                _ => stayed(id),
            }
        }
    }

    /// A claim for `target` came back exhausted: nothing waits in storage
    /// that its window did not get, so fresh deliveries go to it again.
    pub(crate) fn caught_up(&self, target: &str) {
        if let Some(attached) = self.lock().get_mut(target) {
            attached.overflow = false;
        }
    }

    /// Asks every dispatcher to look in storage (after a change made by
    /// another process, such as a `dlq replay`).
    pub(crate) fn wake_all(&self) {
        for attached in self.lock().values() {
            attached.window.wake.notify_one();
        }
    }

    /// The live tail stored webhooks are announced to.
    pub(crate) fn tail(&self) -> &Tail {
        &self.tail
    }

    /// A panic elsewhere while the lock was held leaves the map as it was
    /// between two whole operations, so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Attached>> {
        self.attached.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Pending deliveries and their body bytes as the writer counts them, for
/// backpressure: raised by each commit of accepts before their 202s go out,
/// lowered by settled outcomes, and set again by the periodic recount.
#[derive(Debug)]
pub struct PendingCount {
    deliveries: AtomicU64,
    bytes: AtomicU64,
}

impl PendingCount {
    /// Starts from a count taken from storage when the spool opens.
    pub(crate) fn new(pending: Pending) -> PendingCount {
        PendingCount {
            deliveries: AtomicU64::new(pending.deliveries),
            bytes: AtomicU64::new(pending.bytes),
        }
    }

    pub(crate) fn get(&self) -> Pending {
        Pending {
            deliveries: self.deliveries.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set(&self, pending: Pending) {
        self.deliveries.store(pending.deliveries, Ordering::Relaxed);
        self.bytes.store(pending.bytes, Ordering::Relaxed);
    }

    pub(crate) fn add(&self, deliveries: u64, bytes: u64) {
        self.deliveries.fetch_add(deliveries, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Lowers the count, never below zero: a recount may have run between
    /// an outcome and its commit.
    pub(crate) fn settle(&self, deliveries: u64, bytes: u64) {
        for (counter, n) in [(&self.deliveries, deliveries), (&self.bytes, bytes)] {
            let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        }
    }
}
