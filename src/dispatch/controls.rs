//! An operator's controls over one target's worker: pause (nothing new is
//! sent; attempts in flight finish; deliveries wait in the spool), resume,
//! and probe (send the next due delivery now, an open circuit's cooldown
//! skipped), and the target's recent counts ([`Series`]).
//!
//! Only the workers' side: keeping a pause across restarts and replicas
//! (`target_controls` in the spool) is the relay's job, which tells the
//! dispatcher what is paused. Must not touch the spool.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use tokio::sync::oneshot;

use super::Dispatcher;
use crate::dispatch::series::Series;
use crate::spool::Spool;
use crate::tail::AttemptEvent;

/// What became of a probe.
#[derive(Debug, Clone)]
pub enum Probed {
    /// The next due delivery was sent; its attempt.
    Sent(AttemptEvent),
    /// Nothing of the target is due now.
    NothingDue,
    /// The target answered 410 Gone and is disabled until a reload.
    Disabled,
}

/// Why a probe could not start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    #[error("no such target")]
    Unknown,
    #[error("the target is paused; resume it to send")]
    Paused,
    #[error("a probe of this target is already waiting")]
    Busy,
}

impl<S: Spool> Dispatcher<S> {
    pub(super) fn lock_paused(&self) -> MutexGuard<'_, HashSet<String>> {
        self.paused.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The targets paused now.
    pub fn paused(&self) -> HashSet<String> {
        self.lock_paused().clone()
    }

    /// Pauses or resumes target `name` (whether or not it is configured
    /// now: a pause outlives a reload that drops and re-adds it). Returns
    /// whether that changed anything.
    pub fn set_paused(&self, name: &str, paused: bool) -> bool {
        self.changes.fetch_add(1, Ordering::SeqCst);
        let changed = {
            let mut set = self.lock_paused();
            if paused {
                set.insert(name.to_owned())
            } else {
                set.remove(name)
            }
        };
        self.show_paused(name, paused);
        changed
    }

    /// A mark to pass to [`Dispatcher::follow_paused`]: a pause or resume
    /// after it wins over what was read from the spool.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Takes in the paused targets as read from the spool (at start, at a
    /// reload, and on every tick, for pauses made on another replica),
    /// unless a pause or resume happened here since `mark`.
    pub fn follow_paused(&self, paused: HashSet<String>, mark: u64) {
        let changed: Vec<(String, bool)> = {
            let mut set = self.lock_paused();
            if self.changes() != mark || *set == paused {
                return;
            }
            let changed = set
                .symmetric_difference(&paused)
                .map(|name| (name.clone(), paused.contains(name)))
                .collect();
            *set = paused;
            changed
        };
        for (name, paused) in changed {
            tracing::info!(target = %name, paused, "target pause changed in the spool");
            self.show_paused(&name, paused);
        }
    }

    /// Tells target `name`'s worker, metrics and status pages.
    fn show_paused(&self, name: &str, paused: bool) {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = workers.get(name) {
            handle.paused.store(paused, Ordering::Relaxed);
            crate::metrics::paused(name, paused);
            handle.wake.notify_one();
        }
    }

    /// Target `name`'s recent counts, if it is configured.
    pub fn series(&self, name: &str) -> Option<Arc<Series>> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.get(name).map(|h| h.series.clone())
    }

    /// Asks target `name`'s worker to send its next due delivery now,
    /// skipping an open circuit's cooldown; the answer comes on the channel
    /// returned.
    pub fn probe(&self, name: &str) -> Result<oneshot::Receiver<Probed>, ProbeError> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        let handle = workers.get(name).ok_or(ProbeError::Unknown)?;
        if handle.paused.load(Ordering::Relaxed) {
            return Err(ProbeError::Paused);
        }
        let (tx, rx) = oneshot::channel();
        handle.probes.try_send(tx).map_err(|_| ProbeError::Busy)?;
        Ok(rx)
    }
}
