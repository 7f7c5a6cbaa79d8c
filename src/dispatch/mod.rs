//! Per-target dispatch: feeding each target from the spool, at its pace.
//!
//! Each target has one worker. It holds a bounded window of deliveries in
//! memory: fresh ones handed over by the spool after each commit, and due
//! ones it claims from the spool when the window ran over, a retry falls due,
//! or after a restart. A target that is down for a day therefore costs a
//! window of memory, not a day of bodies. Before each attempt the worker asks
//! the circuit breaker, waits for a concurrency permit and the rate limiter,
//! and starts the attempt on its own task; the outcome goes back to the spool
//! and then to the worker. Targets are independent: nothing here waits for
//! another target.
//!
//! Target settings are looked up by name when sending, so a reload's rotated
//! token applies to queued deliveries.
//!
//! This file owns the set of workers (start on a reload, stop, wake, what
//! status pages read); one worker's loop is `worker`, what it holds is
//! `window`, whether it may send is `gate`, how fast is `rate`, and one
//! attempt's task is `attempt`; an operator's pause, resume and probe are
//! `controls`, each target's recent counts `series`. Must not send or
//! decide outcomes itself.

mod attempt;
pub mod circuit;
pub mod controls;
pub mod deliver;
mod gate;
mod rate;
pub mod retry;
pub mod series;
pub mod sign;
pub mod target;
mod window;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dispatch::circuit::Status;
use crate::dispatch::controls::Probed;
use crate::dispatch::gate::Gate;
use crate::dispatch::series::Series;
use crate::dispatch::target::Target;
use crate::dispatch::window::Window;
use crate::dispatch::worker::{Forget, Worker};
use crate::runtime::{Runtime, Snapshot};
use crate::spool::{self, Budget, Spool};
use crate::tail::Tail;
use crate::trace::Tracer;

/// The workers, keyed by target name.
pub struct Dispatcher<S: Spool> {
    workers: Mutex<HashMap<String, Handle>>,
    spool: Arc<S>,
    client: reqwest::Client,
    snapshot: Arc<Snapshot>,
    /// Attempts in flight; shutdown waits for them.
    attempts: TaskTracker,
    /// Stops every worker.
    stop: CancellationToken,
    /// The live tail attempts publish to.
    tail: Tail,
    /// The targets an operator paused (kept in the spool's
    /// `target_controls`); a worker started for one starts paused.
    paused: Mutex<HashSet<String>>,
    /// Bumped by every pause and resume, so that a re-read of the spool
    /// begun before one does not undo it.
    changes: AtomicU64,
    /// Where attempts' spans go (of webhooks stored with a trace context).
    tracer: Tracer,
}

struct Handle {
    stop: CancellationToken,
    /// The target's [`Status`], as its code.
    circuit: Arc<AtomicU8>,
    /// Set by a reload: a target disabled by a 410 may send again.
    enable: Arc<AtomicBool>,
    wake: Arc<Notify>,
    /// Body bytes the worker holds, against `window_bytes`.
    budget: Arc<Budget>,
    /// Cancelled deliveries for the worker to drop.
    forget: Arc<Forget>,
    /// Set while an operator has the target paused.
    paused: Arc<AtomicBool>,
    /// Its recent counts.
    series: Arc<Series>,
    /// Asks the worker for a probe; it answers on the enclosed channel.
    probes: mpsc::Sender<oneshot::Sender<Probed>>,
}

impl<S: Spool> Dispatcher<S> {
    /// Starts one worker per target of the runtime in force; those in
    /// `paused` start paused. Attempts publish to `tail`, their spans to
    /// `tracer`.
    pub fn new(
        spool: Arc<S>,
        client: reqwest::Client,
        snapshot: Arc<Snapshot>,
        tail: Tail,
        paused: HashSet<String>,
        tracer: Tracer,
    ) -> Arc<Dispatcher<S>> {
        let dispatcher = Arc::new(Dispatcher {
            workers: Mutex::new(HashMap::new()),
            spool,
            client,
            snapshot,
            attempts: TaskTracker::new(),
            stop: CancellationToken::new(),
            tail,
            paused: Mutex::new(paused),
            changes: AtomicU64::new(0),
            tracer,
        });
        dispatcher.sync(&dispatcher.snapshot.load());
        dispatcher
    }

    /// Matches the workers to `runtime`'s targets: starts new ones, stops
    /// those of removed targets, and re-enables targets disabled by a 410.
    pub fn sync(&self, runtime: &Runtime) {
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.retain(|name, handle| {
            let keep = runtime.targets.contains_key(name);
            if !keep {
                handle.stop.cancel();
                self.spool.detach(name);
            }
            keep
        });
        for (name, target) in &runtime.targets {
            if let Some(handle) = workers.get(name) {
                handle.enable.store(true, Ordering::Relaxed);
                handle.wake.notify_one();
                continue;
            }
            workers.insert(name.clone(), self.start(name, target, runtime));
        }
    }

    /// Starts the worker of target `name`, hands its window to the spool,
    /// and returns the handle that stops, wakes and watches it.
    fn start(&self, name: &str, target: &Target, runtime: &Runtime) -> Handle {
        let (tx, rx) = mpsc::channel(runtime.server.window);
        let wake = Arc::new(Notify::new());
        let budget = Arc::new(Budget::new(runtime.server.window_bytes));
        let stop = self.stop.child_token();
        let enable = Arc::new(AtomicBool::new(false));
        let circuit = Arc::new(AtomicU8::new(Status::Closed.code()));
        let forget = Arc::new(Forget::default());
        crate::metrics::circuit(name, Status::Closed);
        let paused = self.lock_paused().contains(name);
        crate::metrics::paused(name, paused);
        let paused = Arc::new(AtomicBool::new(paused));
        let series = Arc::new(Series::default());
        let (probes, probe_rx) = mpsc::channel(1);
        self.spool.attach(
            name,
            spool::Window {
                tx,
                wake: wake.clone(),
                budget: budget.clone(),
            },
        );
        let worker = Worker {
            name: name.to_owned(),
            spool: self.spool.clone(),
            client: self.client.clone(),
            snapshot: self.snapshot.clone(),
            attempts: self.attempts.clone(),
            stop: stop.clone(),
            enable: enable.clone(),
            wake: wake.clone(),
            forget: forget.clone(),
            paused: paused.clone(),
            series: series.clone(),
            tail: self.tail.clone(),
            tracer: self.tracer.clone(),
        };
        let window = Window::new(
            runtime.server.window,
            budget.clone(),
            runtime.server.max_body as u64,
        );
        let gate = Gate::new(name, target.circuit, circuit.clone());
        tokio::spawn(worker.run(window, gate, rx, probe_rx));
        Handle {
            stop,
            circuit,
            enable,
            wake,
            budget,
            forget,
            paused,
            series,
            probes,
        }
    }

    /// Each target's circuit: closed, half_open, open or disabled (410).
    pub fn circuits(&self) -> HashMap<String, Status> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers
            .iter()
            .map(|(name, h)| {
                (
                    name.clone(),
                    Status::from_code(h.circuit.load(Ordering::Relaxed)),
                )
            })
            .collect()
    }

    /// Body bytes each target's worker holds in memory now (its window,
    /// claims and attempts in flight), against `server.window_bytes`.
    pub fn window_bytes(&self) -> HashMap<String, u64> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers
            .iter()
            .map(|(name, h)| (name.clone(), h.budget.used()))
            .collect()
    }

    /// Makes every worker look in the spool now (after a replay).
    pub fn wake_all(&self) {
        for handle in self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            handle.wake.notify_one();
        }
    }

    /// Has every worker drop these deliveries from its window: an operator
    /// cancelled them. One already in flight finishes.
    pub fn forget(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        for handle in workers.values() {
            handle.forget.add(ids);
            handle.wake.notify_one();
        }
    }

    /// Stops starting attempts and waits up to `grace` for those in flight.
    /// Everything not yet attempted stays in the spool. Returns whether all
    /// attempts finished in time.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.stop.cancel();
        for name in self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
        {
            self.spool.detach(name);
        }
        self.attempts.close();
        tokio::time::timeout(grace, self.attempts.wait())
            .await
            .is_ok()
    }
}
