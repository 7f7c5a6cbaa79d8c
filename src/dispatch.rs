//! Per-target queues between accept and delivery.
//!
//! Each target has a bounded queue and one worker that takes deliveries in
//! order, waits for a concurrency permit and the rate limiter, and starts an
//! attempt on its own task. Targets are independent: a slow, rate-limited or
//! failing target fills only its own queue, never delaying another target or
//! the sender's 202. A full queue refuses the whole webhook (503) rather
//! than accepting what it cannot keep.
//!
//! Target settings are looked up by name when sending, so a reload's new
//! token applies to queued deliveries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::accept::Delivery;
use crate::deliver;
use crate::runtime::{Runtime, Snapshot};
use crate::target::Target;

/// Why deliveries were not queued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("the queue of target {0} is full")]
    Full(String),
    #[error("the relay is shutting down")]
    Closed,
}

/// The queues, keyed by target name.
pub struct Dispatcher {
    queues: Mutex<Option<HashMap<String, mpsc::Sender<Delivery>>>>,
    client: reqwest::Client,
    snapshot: Arc<Snapshot>,
    tasks: TaskTracker,
}

impl Dispatcher {
    /// Starts one worker per target of the runtime in force. Workers and
    /// attempts run on `tasks`, so shutdown can wait for them.
    pub fn new(
        client: reqwest::Client,
        snapshot: Arc<Snapshot>,
        tasks: TaskTracker,
    ) -> Arc<Dispatcher> {
        let dispatcher = Arc::new(Dispatcher {
            queues: Mutex::new(Some(HashMap::new())),
            client,
            snapshot,
            tasks,
        });
        dispatcher.sync(&dispatcher.snapshot.load());
        dispatcher
    }

    /// Queues every delivery of one webhook, or none of them.
    pub fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<(), Refused> {
        let guard = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let queues = guard.as_ref().ok_or(Refused::Closed)?;
        let mut permits = Vec::with_capacity(deliveries.len());
        for delivery in &deliveries {
            let queue = queues
                .get(&delivery.target)
                .ok_or_else(|| Refused::Full(delivery.target.clone()))?;
            permits.push(queue.try_reserve().map_err(|e| match e {
                mpsc::error::TrySendError::Full(()) => Refused::Full(delivery.target.clone()),
                mpsc::error::TrySendError::Closed(()) => Refused::Closed,
            })?);
        }
        for (permit, delivery) in permits.into_iter().zip(deliveries) {
            permit.send(delivery);
        }
        Ok(())
    }

    /// Matches the queues to `runtime`'s targets: starts workers for new
    /// targets and lets those of removed targets drain and stop.
    pub fn sync(&self, runtime: &Runtime) {
        let mut guard = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let Some(queues) = guard.as_mut() else {
            return;
        };
        queues.retain(|name, _| runtime.targets.contains_key(name));
        for name in runtime.targets.keys() {
            if queues.contains_key(name) {
                continue;
            }
            let (tx, rx) = mpsc::channel(runtime.server.queue);
            queues.insert(name.clone(), tx);
            let worker = Worker {
                name: name.clone(),
                client: self.client.clone(),
                snapshot: self.snapshot.clone(),
                tasks: self.tasks.clone(),
            };
            self.tasks.spawn(worker.run(rx));
        }
    }

    /// Stops taking deliveries. Queued ones are still sent; the workers stop
    /// when their queues are empty.
    pub fn close(&self) {
        self.queues.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Deliveries waiting per target, for status and shutdown logs.
    pub fn depths(&self) -> Vec<(String, usize)> {
        let guard = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .iter()
            .flatten()
            .map(|(name, tx)| (name.clone(), tx.max_capacity() - tx.capacity()))
            .collect()
    }
}

struct Worker {
    name: String,
    client: reqwest::Client,
    snapshot: Arc<Snapshot>,
    tasks: TaskTracker,
}

impl Worker {
    async fn run(self, mut queue: mpsc::Receiver<Delivery>) {
        while let Some(delivery) = queue.recv().await {
            let Some(target) = self.current(&delivery) else {
                continue;
            };
            // The semaphore is never closed, so acquiring cannot fail.
            let Ok(permit) = target.concurrency.clone().acquire_owned().await else {
                continue;
            };
            target.until_ready().await;
            // Waiting may have spanned a reload: send with the settings in
            // force now, so a rotated token applies to queued deliveries.
            let Some(target) = self.current(&delivery) else {
                continue;
            };
            let client = self.client.clone();
            self.tasks.spawn(async move {
                deliver::attempt(&client, &target, &delivery).await;
                drop(permit);
            });
        }
    }

    /// The target's settings in force now; `None` (logged) if a reload
    /// removed it.
    fn current(&self, delivery: &Delivery) -> Option<Arc<Target>> {
        let target = self.snapshot.load().targets.get(&self.name).cloned();
        if target.is_none() {
            tracing::error!(id = %delivery.event, target = %self.name, "target was removed by a reload; delivery dropped");
        }
        target
    }
}
