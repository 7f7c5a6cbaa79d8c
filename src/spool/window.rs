//! A dispatcher's window, the writers' way of handing fresh deliveries
//! over without reading them back from storage, and the [`Budget`] that
//! bounds what it holds in bytes. The registry of attached windows is
//! `windows`; no storage here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, mpsc};

use super::Ready;

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
