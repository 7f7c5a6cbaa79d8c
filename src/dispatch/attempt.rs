//! One attempt's task: send, decide what the answer means, store the
//! outcome in the spool, then report it to the worker.
//!
//! Runs on a task of its own so that a slow target holds only its
//! concurrency slots, never the worker. Must not pick what to send or when
//! (the worker does), nor touch the worker's window or circuit: it reports
//! a [`Done`] and the worker takes it in.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;

use crate::dispatch::deliver::{self, Health};
use crate::dispatch::target::Target;
use crate::dispatch::window::instant_at;
use crate::spool::{Ready, Record, Spool};

/// What an attempt's task reports back to its worker, after the spool has
/// been told.
pub(super) struct Done {
    pub(super) id: i64,
    pub(super) health: Health,
    /// When the delivery falls due again, if it is to be retried.
    pub(super) retry_at: Option<Instant>,
}

/// One attempt, ready to run on its own task.
pub(super) struct Attempt<S> {
    pub(super) client: reqwest::Client,
    pub(super) target: Arc<Target>,
    pub(super) ready: Ready,
    pub(super) spool: Arc<S>,
    /// The worker's channel for outcomes.
    pub(super) done: mpsc::Sender<Done>,
    /// Retry jitter.
    pub(super) rng: fastrand::Rng,
}

impl<S: Spool> Attempt<S> {
    /// Sends once, stores the outcome, reports it to the worker, and only
    /// then frees the concurrency `slot`: the worker, waiting for a slot,
    /// sees the outcome before it sends again.
    pub(super) async fn run(self, slot: OwnedSemaphorePermit) {
        let Attempt {
            client,
            target,
            ready,
            spool,
            done,
            mut rng,
        } = self;
        let started = std::time::Instant::now();
        let sent = deliver::attempt(&client, &target, &ready).await;
        let (record, health) = deliver::decide(
            &target.retry,
            ready.attempts,
            &sent.result,
            SystemTime::now(),
            &mut rng,
        );
        let outcome = match &record {
            Record::Delivered { .. } => "delivered",
            Record::Retry { .. } => "retry",
            Record::Dead { .. } => "dead",
            Record::Parked { .. } => "parked",
        };
        crate::metrics::delivery(&target.name, outcome, started.elapsed());
        let retry_at = match &record {
            Record::Retry { due_ms, .. } => Some(instant_at(*due_ms)),
            Record::Dead { error, .. } => {
                tracing::error!(id = %ready.event, target = %target.name, %error, "dead letter");
                None
            }
            _ => None,
        };
        spool.record(ready.id, record, sent.log).await;
        let _ = done
            .send(Done {
                id: ready.id,
                health,
                retry_at,
            })
            .await;
        drop(slot);
    }
}
