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

pub mod circuit;
pub mod deliver;
pub mod retry;
pub mod sign;
pub mod target;

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, mpsc};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dispatch::circuit::{Circuit, Permit, State as CircuitState, Status};
use crate::dispatch::deliver::Health;
use crate::dispatch::target::{Limit, Target};
use crate::runtime::{Runtime, Snapshot};
use crate::spool::{Budget, Claimed, Ready, Spool, SpoolError, Window};

/// How often an idle worker looks in the spool anyway (for dead letters
/// replayed by another process).
const POLL: Duration = Duration::from_secs(2);

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
}

struct Handle {
    stop: CancellationToken,
    /// The circuit's [`Status`] for status pages, packed ([`Status::code`]).
    circuit: Arc<AtomicU8>,
    /// Set by a reload: a target disabled by a 410 may send again.
    enable: Arc<AtomicBool>,
    wake: Arc<Notify>,
    /// Body bytes the worker holds, against `window_bytes`.
    budget: Arc<Budget>,
}

impl<S: Spool> Dispatcher<S> {
    /// Starts one worker per target of the runtime in force.
    pub fn new(
        spool: Arc<S>,
        client: reqwest::Client,
        snapshot: Arc<Snapshot>,
    ) -> Arc<Dispatcher<S>> {
        let dispatcher = Arc::new(Dispatcher {
            workers: Mutex::new(HashMap::new()),
            spool,
            client,
            snapshot,
            attempts: TaskTracker::new(),
            stop: CancellationToken::new(),
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
        for name in runtime.targets.keys() {
            if let Some(handle) = workers.get(name) {
                handle.enable.store(true, Ordering::Relaxed);
                handle.wake.notify_one();
                continue;
            }
            let (tx, rx) = mpsc::channel(runtime.server.window);
            let wake = Arc::new(Notify::new());
            let budget = Arc::new(Budget::new(runtime.server.window_bytes));
            let stop = self.stop.child_token();
            let enable = Arc::new(AtomicBool::new(false));
            let circuit = Arc::new(AtomicU8::new(Status::Closed.code()));
            crate::metrics::circuit(name, Status::Closed);
            self.spool.attach(
                name,
                Window {
                    tx,
                    wake: wake.clone(),
                    budget: budget.clone(),
                },
            );
            let worker = Worker {
                name: name.clone(),
                spool: self.spool.clone(),
                client: self.client.clone(),
                snapshot: self.snapshot.clone(),
                attempts: self.attempts.clone(),
                stop: stop.clone(),
                enable: enable.clone(),
                wake: wake.clone(),
                window: runtime.server.window,
                budget: budget.clone(),
                max_body: runtime.server.max_body as u64,
                circuit: circuit.clone(),
                split: Mutex::new(None),
            };
            tokio::spawn(worker.run(rx));
            workers.insert(
                name.clone(),
                Handle {
                    stop,
                    circuit,
                    enable,
                    wake,
                    budget,
                },
            );
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

/// What an attempt's task reports back to its worker, after the spool has
/// been told.
struct Done {
    id: i64,
    health: Health,
    retry_at: Option<Instant>,
}

struct Worker<S: Spool> {
    name: String,
    spool: Arc<S>,
    client: reqwest::Client,
    snapshot: Arc<Snapshot>,
    attempts: TaskTracker,
    stop: CancellationToken,
    enable: Arc<AtomicBool>,
    wake: Arc<Notify>,
    window: usize,
    /// The window's bound in body bytes.
    budget: Arc<Budget>,
    /// The largest body a webhook may have: the first guess of a body's size.
    max_body: u64,
    circuit: Arc<AtomicU8>,
    /// This relay's part of the target's rate limit while several replicas
    /// share it: `(share, configured limit, part)`.
    split: Mutex<Option<(NonZeroU32, Limit, Limit)>>,
}

/// A worker's memory: what it holds and why it is waiting.
struct State {
    queue: VecDeque<Ready>,
    /// Ids in `queue` or in flight, with the body bytes each is charged to
    /// the budget: never taken twice.
    held: HashMap<i64, u64>,
    /// Running mean of body sizes seen, to size claims in bytes.
    mean_size: f64,
    /// The spool may hold due deliveries not in `queue`.
    look: bool,
    /// A claim on its way. Attempts go on meanwhile: the answer is taken in
    /// when it comes.
    claiming: Option<JoinHandle<Result<Claimed, SpoolError>>>,
    /// Ids settled while a claim was out: the claim may have read them
    /// before their outcomes were stored, so its answer must not bring them
    /// back.
    settled_meanwhile: HashSet<i64>,
    /// When the earliest known retry falls due.
    next_due: Option<Instant>,
    /// Disabled by a 410 until a reload.
    disabled: bool,
    circuit: Option<Circuit>,
}

impl<S: Spool> Worker<S> {
    async fn run(self, mut fresh: mpsc::Receiver<Ready>) {
        let (done_tx, mut done_rx) = mpsc::channel::<Done>(self.window + 64);
        let mut state = State {
            queue: VecDeque::new(),
            held: HashMap::new(),
            mean_size: self.max_body as f64,
            look: true,
            claiming: None,
            settled_meanwhile: HashSet::new(),
            next_due: None,
            disabled: false,
            circuit: None,
        };
        let mut rng = fastrand::Rng::new();
        let mut poll = tokio::time::interval(POLL);
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            while let Ok(done) = done_rx.try_recv() {
                self.settle(&mut state, done);
            }
            let Some(target) = self.target() else {
                break;
            };
            let circuit = state
                .circuit
                .get_or_insert_with(|| Circuit::new(target.circuit));
            if circuit.policy() != &target.circuit {
                circuit.reconfigure(target.circuit);
            }
            if self.enable.swap(false, Ordering::Relaxed) && state.disabled {
                state.disabled = false;
                match self.spool.unpark(&self.name).await {
                    Ok(n) => {
                        tracing::info!(target = %self.name, parked = n, "target re-enabled by reload")
                    }
                    Err(error) => {
                        tracing::error!(target = %self.name, %error, "could not re-enable parked deliveries")
                    }
                }
                state.look = true;
            }

            // While disabled or open, keep nothing in memory: it is all in
            // the spool, and a claim after the cooldown finds it.
            let now = std::time::Instant::now();
            let open_until = match circuit.state() {
                CircuitState::Open { until } if *until > now => Some(Instant::from_std(*until)),
                _ => None,
            };
            let mut wait_until = state.next_due;
            let paused = state.disabled || open_until.is_some();
            if paused {
                self.release(&mut state, &mut fresh);
                wait_until = earliest(wait_until, open_until);
            } else if state.look
                && state.claiming.is_none()
                && state.queue.len() < self.window / 2 + 1
                && self.budget.has_room()
            {
                self.claim(&mut state);
                continue;
            } else if !state.queue.is_empty() {
                // A concurrency slot first. An attempt reports its outcome
                // before it frees its slot, so the outcomes taken in here
                // include the one that freed it: two failures that open the
                // circuit stop the third attempt, and a 410 the next one.
                let Ok(slot) = target.concurrency.clone().acquire_owned().await else {
                    continue;
                };
                while let Ok(done) = done_rx.try_recv() {
                    self.settle(&mut state, done);
                }
                if state.disabled {
                    // One of them was a 410: nothing more goes out.
                    continue;
                }
                let circuit = state
                    .circuit
                    .get_or_insert_with(|| Circuit::new(target.circuit));
                match circuit.permit(std::time::Instant::now()) {
                    Permit::Wait { until } => {
                        // Open now, or a probe is out: its outcome (or the
                        // cooldown's end) decides. Wait below for either.
                        drop(slot);
                        wait_until = earliest(wait_until, Some(Instant::from_std(until)));
                    }
                    permit => {
                        if permit == Permit::Probe {
                            tracing::info!(target = %self.name, "circuit half-open: sending one probe");
                        }
                        if let Some(ready) = state.queue.pop_front() {
                            self.start(target, ready, slot, &done_tx, &mut rng).await;
                        }
                        continue;
                    }
                }
            }

            let sleep = async {
                match wait_until {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let claimed = async {
                match state.claiming.as_mut() {
                    Some(answer) => answer.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.stop.cancelled() => break,
                answer = claimed => self.claimed(&mut state, answer, &mut fresh),
                Some(done) = done_rx.recv() => self.settle(&mut state, done),
                Some(ready) = fresh.recv(), if !paused => self.take_fresh(&mut state, ready),
                () = self.wake.notified() => state.look = true,
                () = sleep => {
                    state.look = true;
                    if state.next_due.is_some_and(|t| t <= Instant::now()) {
                        state.next_due = None;
                    }
                }
                _ = poll.tick() => state.look = true,
            }
        }
    }

    /// The target's settings in force now; `None` if a reload removed it.
    fn target(&self) -> Option<Arc<Target>> {
        self.snapshot.load().targets.get(&self.name).cloned()
    }

    /// Asks the spool for due deliveries to fill the window, on a task of
    /// its own: the worker goes on sending what it holds until the answer
    /// comes (see [`Worker::claimed`]).
    fn claim(&self, state: &mut State) {
        state.look = false;
        // Room in number, and in bytes at the mean body size seen so far
        // (at first the largest a body may be), so that a claim of large
        // bodies does not load more than the budget.
        let by_bytes = self.budget.left() as f64 / state.mean_size.max(1.0);
        let room = self
            .window
            .saturating_sub(state.queue.len())
            .min(by_bytes as usize)
            .max(1);
        let held = state.held.keys().copied().collect();
        let (spool, name) = (self.spool.clone(), self.name.clone());
        state.claiming = Some(tokio::spawn(
            async move { spool.claim(&name, room, held).await },
        ));
    }

    /// Takes a claim's answer into the window. Fresh deliveries handed over
    /// before the answer are taken first, and those settled since the claim
    /// was asked for are left out, so none is held or sent twice.
    fn claimed(
        &self,
        state: &mut State,
        answer: Result<Result<Claimed, SpoolError>, JoinError>,
        fresh: &mut mpsc::Receiver<Ready>,
    ) {
        state.claiming = None;
        let settled = std::mem::take(&mut state.settled_meanwhile);
        let answer = answer.unwrap_or_else(|e| Err(SpoolError::Commit(e.to_string())));
        match answer {
            Ok(claimed) => {
                while let Ok(ready) = fresh.try_recv() {
                    self.take_fresh(state, ready);
                }
                // The claim asked for no more than there was room for then;
                // fresh deliveries may have taken some of it since.
                let room = self.window.saturating_sub(state.queue.len());
                let mut taken = 0;
                let mut left_behind = false;
                for ready in claimed.ready {
                    if state.held.contains_key(&ready.id) || settled.contains(&ready.id) {
                        continue;
                    }
                    let size = ready.body.len() as u64;
                    if taken == room || !self.budget.take(size) {
                        // Full, in number or in bytes: the rest stays in the
                        // spool for a later claim.
                        left_behind = true;
                        break;
                    }
                    state.mean_size = 0.9 * state.mean_size + 0.1 * size as f64;
                    state.held.insert(ready.id, size);
                    state.queue.push_back(ready);
                    taken += 1;
                }
                if !claimed.exhausted || left_behind {
                    state.look = true;
                }
                state.next_due = claimed.next_due_ms.map(instant_at);
            }
            Err(error) => {
                tracing::error!(target = %self.name, %error, "could not read due deliveries from the spool; trying again");
                state.next_due = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }

    /// Drops what is held in memory but not in flight; the spool keeps it.
    fn release(&self, state: &mut State, fresh: &mut mpsc::Receiver<Ready>) {
        for ready in state.queue.drain(..) {
            if let Some(size) = state.held.remove(&ready.id) {
                self.budget.give_back(size);
            }
        }
        // Handed over but never taken: charged by the offer, held by no one.
        while let Ok(ready) = fresh.try_recv() {
            self.budget.give_back(ready.body.len() as u64);
        }
        state.look = true;
    }

    /// Takes a fresh delivery handed over by the spool (already charged to
    /// the budget), unless a claim took it first.
    fn take_fresh(&self, state: &mut State, ready: Ready) {
        let size = ready.body.len() as u64;
        if state.held.contains_key(&ready.id) {
            self.budget.give_back(size);
            return;
        }
        state.mean_size = 0.9 * state.mean_size + 0.1 * size as f64;
        state.held.insert(ready.id, size);
        state.queue.push_back(ready);
    }

    /// Waits for a concurrency permit and the rate limiter, then starts the
    /// attempt on its own task.
    async fn start(
        &self,
        target: Arc<Target>,
        ready: Ready,
        permit: tokio::sync::OwnedSemaphorePermit,
        done: &mpsc::Sender<Done>,
        rng: &mut fastrand::Rng,
    ) {
        match self.part(&target) {
            Some(part) => {
                if part.check().is_err() {
                    crate::metrics::rate_limited(&target.name);
                    part.until_ready().await;
                }
            }
            None => target.until_ready().await,
        }
        // Waiting may have spanned a reload: send with the settings in force.
        let target = self.target().unwrap_or(target);
        let client = self.client.clone();
        let spool = self.spool.clone();
        let done = done.clone();
        let mut rng = rng.fork();
        self.attempts.spawn(async move {
            let started = std::time::Instant::now();
            let attempt = deliver::attempt(&client, &target, &ready).await;
            let (record, health) = deliver::decide(&target.retry, ready.attempts, &attempt, SystemTime::now(), &mut rng);
            let outcome = match &record {
                crate::spool::Record::Delivered { .. } => "delivered",
                crate::spool::Record::Retry { .. } => "retry",
                crate::spool::Record::Dead { .. } => "dead",
                crate::spool::Record::Parked { .. } => "parked",
            };
            crate::metrics::delivery(&target.name, outcome, started.elapsed());
            let retry_at = match &record {
                crate::spool::Record::Retry { due_ms, .. } => Some(instant_at(*due_ms)),
                crate::spool::Record::Dead { error, .. } => {
                    tracing::error!(id = %ready.event, target = %target.name, %error, "dead letter");
                    None
                }
                _ => None,
            };
            spool.record(ready.id, record).await;
            // The outcome goes to the worker before the slot is freed: the
            // worker, waiting for a slot, then sees it before sending again.
            let _ = done
                .send(Done {
                    id: ready.id,
                    health,
                    retry_at,
                })
                .await;
            drop(permit);
        });
    }

    /// The limiter for this relay's part of the target's rate when several
    /// replicas share it (`None`: the target's own limiter, or none).
    fn part(&self, target: &Target) -> Option<Arc<governor::DefaultDirectRateLimiter>> {
        let limit = target.limit.as_ref()?;
        let share = self.spool.share();
        let mut split = self.split.lock().unwrap_or_else(|e| e.into_inner());
        if share.get() == 1 {
            *split = None;
            return None;
        }
        if let Some((s, of, part)) = &*split
            && *s == share
            && of.rate == limit.rate
            && of.burst == limit.burst
        {
            return Some(part.limiter.clone());
        }
        let part = limit.split(share)?;
        let limiter = part.limiter.clone();
        *split = Some((share, limit.clone(), part));
        Some(limiter)
    }

    fn settle(&self, state: &mut State, done: Done) {
        if let Some(size) = state.held.remove(&done.id) {
            self.budget.give_back(size);
        }
        if state.claiming.is_some() {
            state.settled_meanwhile.insert(done.id);
        }
        if let Some(at) = done.retry_at {
            state.next_due = Some(state.next_due.map_or(at, |t| t.min(at)));
        }
        let now = std::time::Instant::now();
        let Some(circuit) = state.circuit.as_mut() else {
            return;
        };
        match done.health {
            Health::Up => {
                let was = circuit.status();
                circuit.record_success();
                if was != Status::Closed {
                    tracing::info!(target = %self.name, "circuit closed: the target answers again");
                    state.look = true;
                }
            }
            Health::Failing => {
                let was = circuit.status();
                circuit.record_failure(now);
                if was != Status::Open && circuit.status() == Status::Open {
                    tracing::warn!(target = %self.name, "circuit open: pausing deliveries to this target");
                }
            }
            Health::Gone => {
                // Attempts in flight when the first 410 came (several, with
                // concurrency, after a re-enable) answer 410 too: one line.
                if !state.disabled {
                    tracing::error!(target = %self.name, "target answered 410 Gone: disabled until the next reload; its deliveries wait in the spool");
                }
                state.disabled = true;
            }
        }
        self.publish(state);
    }

    /// Shows the circuit's state to status pages and metrics.
    fn publish(&self, state: &State) {
        let status = match &state.circuit {
            _ if state.disabled => Status::Disabled,
            Some(circuit) => circuit.status(),
            None => Status::Closed,
        };
        let code = status.code();
        if self.circuit.swap(code, Ordering::Relaxed) != code {
            crate::metrics::circuit(&self.name, status);
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A tokio instant for a unix-milliseconds time.
fn instant_at(ms: i64) -> Instant {
    let now_ms = crate::time::now_ms();
    Instant::now() + Duration::from_millis(ms.saturating_sub(now_ms).max(0) as u64)
}
