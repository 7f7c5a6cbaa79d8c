//! One target's worker: the loop that keeps its window filled and sends
//! from it, one attempt per task, within the target's concurrency, circuit
//! and rate.
//!
//! The loop owns the window ([`Window`]), the circuit breaker and the 410
//! switch; attempts report back through a channel after the spool has stored
//! their outcome. Must not wait for another target, nor hold deliveries in
//! memory while the target is paused (by an operator, disabled or circuit
//! open): the spool keeps them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dispatch::attempt::{Attempt, Done};
use crate::dispatch::circuit::Permit;
use crate::dispatch::controls::Probed;
use crate::dispatch::gate::Gate;
use crate::dispatch::rate::Pace;
use crate::dispatch::series::Series;
use crate::dispatch::target::Target;
use crate::dispatch::window::Window;
use crate::runtime::Snapshot;
use crate::spool::{Ready, Spool};
use crate::tail::Tail;
use crate::trace::Tracer;

/// How often an idle worker looks in the spool anyway (for dead letters
/// replayed by another process).
const POLL: Duration = Duration::from_secs(2);

pub(super) struct Worker<S: Spool> {
    pub(super) name: String,
    pub(super) spool: Arc<S>,
    pub(super) client: reqwest::Client,
    pub(super) snapshot: Arc<Snapshot>,
    pub(super) attempts: TaskTracker,
    pub(super) stop: CancellationToken,
    /// Set by a reload: a target disabled by a 410 may send again.
    pub(super) enable: Arc<AtomicBool>,
    pub(super) wake: Arc<Notify>,
    /// Set while an operator has the target paused.
    pub(super) paused: Arc<AtomicBool>,
    /// The target's recent counts.
    pub(super) series: Arc<Series>,
    pub(super) tail: Tail,
    /// Deliveries cancelled by an operator, to drop from the window.
    pub(super) forget: Arc<Forget>,
    /// Where attempts' spans go.
    pub(super) tracer: Tracer,
}

/// Ids of deliveries an operator cancelled, waiting for the worker to drop
/// them from its window (see [`Window::forget`]). Filled by the admin side,
/// emptied by the worker's next step.
#[derive(Default)]
pub(super) struct Forget(Mutex<HashSet<i64>>);

impl Forget {
    pub(super) fn add(&self, ids: &[i64]) {
        self.lock().extend(ids);
    }

    fn contains(&self, id: i64) -> bool {
        self.lock().contains(&id)
    }

    fn take(&self) -> HashSet<i64> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A worker's memory: what it holds, whether it may send, and how fast.
struct State {
    window: Window,
    gate: Gate,
    pace: Pace,
    /// Retry jitter; each attempt gets a fork.
    rng: fastrand::Rng,
    /// An operator's probe waiting for the next attempt.
    probe: Option<oneshot::Sender<Probed>>,
}

/// What the loop does after a step.
enum Next {
    /// Step again at once.
    Again,
    /// Wait for an event, or until `until`; while `paused`, take no fresh
    /// deliveries.
    Wait {
        until: Option<Instant>,
        paused: bool,
    },
}

/// The worker's channel for outcomes, both ends.
struct Outcomes {
    tx: mpsc::Sender<Done>,
    rx: mpsc::Receiver<Done>,
}

impl<S: Spool> Worker<S> {
    /// Runs until stopped, or until a reload removes the target. `fresh`
    /// brings the deliveries the spool hands over after each commit.
    pub(super) async fn run(
        self,
        window: Window,
        gate: Gate,
        mut fresh: mpsc::Receiver<Ready>,
        mut probes: mpsc::Receiver<oneshot::Sender<Probed>>,
    ) {
        let (tx, rx) = mpsc::channel::<Done>(window.capacity() + 64);
        let mut outcomes = Outcomes { tx, rx };
        let mut state = State {
            window,
            gate,
            pace: Pace::default(),
            rng: fastrand::Rng::new(),
            probe: None,
        };
        let mut poll = tokio::time::interval(POLL);
        while !self.stop.is_cancelled() {
            self.settle_finished(&mut state, &mut outcomes.rx);
            let cancelled = self.forget.take();
            if !cancelled.is_empty() {
                state.window.forget(&cancelled, &mut fresh);
            }
            if let Ok(reply) = probes.try_recv() {
                probe(&mut state, reply);
            }
            let Some(target) = self.target() else {
                break;
            };
            self.follow(&mut state, &target).await;
            let next = self
                .step(&mut state, target, &mut fresh, &mut outcomes)
                .await;
            let Next::Wait { until, paused } = next else {
                continue;
            };
            let window = &mut state.window;
            let sleep = async {
                match until {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let claimed = async {
                match window.claiming.as_mut() {
                    Some(answer) => answer.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.stop.cancelled() => break,
                answer = claimed => window.claimed(answer, &mut fresh, &self.name),
                Some(done) = outcomes.rx.recv() => self.settle(&mut state, done),
                Some(ready) = fresh.recv(), if !paused => window.take_fresh(ready),
                () = self.wake.notified() => window.look = true,
                Some(reply) = probes.recv() => probe(&mut state, reply),
                () = sleep => {
                    window.look = true;
                    if window.next_due.is_some_and(|t| t <= Instant::now()) {
                        window.next_due = None;
                    }
                }
                _ = poll.tick() => window.look = true,
            }
        }
    }

    /// The target's settings in force now; `None` if a reload removed it.
    fn target(&self) -> Option<Arc<Target>> {
        self.snapshot.load().targets.get(&self.name).cloned()
    }

    /// Follows a reload: the circuit policy in force, and a target disabled
    /// by a 410 sends again (its parked deliveries become due).
    async fn follow(&self, state: &mut State, target: &Target) {
        state.gate.follow(target.circuit);
        if !(self.enable.swap(false, Ordering::Relaxed) && state.gate.enable()) {
            return;
        }
        match self.spool.unpark(&self.name).await {
            Ok(n) => {
                tracing::info!(target = %self.name, parked = n, "target re-enabled by reload")
            }
            Err(error) => {
                tracing::error!(target = %self.name, %error, "could not re-enable parked deliveries")
            }
        }
        state.window.look = true;
    }

    /// One step: release the window while paused, claim when it runs low,
    /// or send the next delivery.
    async fn step(
        &self,
        state: &mut State,
        target: Arc<Target>,
        fresh: &mut mpsc::Receiver<Ready>,
        outcomes: &mut Outcomes,
    ) -> Next {
        let due = state.window.next_due;
        if self.paused.load(Ordering::Relaxed) {
            // An operator's pause: the same as disabled, but for no cooldown
            // or reload; a resume wakes the worker.
            state.window.release(fresh);
            state.probe = None;
            return Next::Wait {
                until: None,
                paused: true,
            };
        }
        if state.gate.disabled()
            && let Some(reply) = state.probe.take()
        {
            let _ = reply.send(Probed::Disabled);
        }
        // While disabled or open, keep nothing in memory: it is all in the
        // spool, and a claim after the cooldown finds it.
        let open_until = state.gate.open_until(std::time::Instant::now());
        if state.gate.disabled() || open_until.is_some() {
            state.window.release(fresh);
            let until = earliest(due, open_until);
            return Next::Wait {
                until,
                paused: true,
            };
        }
        if state.window.wants_claim() {
            state.window.claim(&self.spool, &self.name);
            return Next::Again;
        }
        if state.window.is_empty() {
            if state.window.claiming.is_none()
                && let Some(reply) = state.probe.take()
            {
                let _ = reply.send(Probed::NothingDue);
            }
            return Next::Wait {
                until: due,
                paused: false,
            };
        }
        self.send_next(state, target, outcomes, due).await
    }

    /// Sends the next delivery in the window when a concurrency slot, the
    /// circuit and the rate limit let it go.
    async fn send_next(
        &self,
        state: &mut State,
        target: Arc<Target>,
        outcomes: &mut Outcomes,
        due: Option<Instant>,
    ) -> Next {
        // A concurrency slot first. An attempt reports its outcome before it
        // frees its slot, so the outcomes taken in here include the one that
        // freed it: two failures that open the circuit stop the third
        // attempt, and a 410 the next one.
        let Ok(slot) = target.concurrency.clone().acquire_owned().await else {
            return Next::Again;
        };
        self.settle_finished(state, &mut outcomes.rx);
        if state.gate.disabled() || self.paused.load(Ordering::Relaxed) {
            // One of them was a 410, or an operator paused the target:
            // nothing more goes out.
            return Next::Again;
        }
        let permit = state.gate.permit(std::time::Instant::now());
        if let Permit::Wait { until } = permit {
            // Open now, or a probe is out: its outcome (or the cooldown's
            // end) decides. Wait for either.
            let until = earliest(due, Some(Instant::from_std(until)));
            return Next::Wait {
                until,
                paused: false,
            };
        }
        if permit == Permit::Probe {
            tracing::info!(target = %self.name, "circuit half-open: sending one probe");
        }
        let Some(ready) = state.window.pop() else {
            return Next::Again;
        };
        let probe = state.probe.take();
        state
            .pace
            .wait(&target, self.spool.share(), &self.series)
            .await;
        // Waiting may have spanned a cancel of this very delivery: the probe,
        // if it was one, goes with the next.
        if self.forget.contains(ready.id) {
            state.window.settle(ready.id, None);
            state.probe = probe;
            return Next::Again;
        }
        // Waiting may have spanned a reload: send with the settings in force.
        let target = self.target().unwrap_or(target);
        let attempt = Attempt {
            // Only a webhook stored with a trace context is traced.
            tracer: ready.trace.as_ref().map(|_| self.tracer.clone()),
            client: self.client.clone(),
            target,
            ready,
            spool: self.spool.clone(),
            done: outcomes.tx.clone(),
            rng: state.rng.fork(),
            series: self.series.clone(),
            tail: self.tail.clone(),
            probe,
        };
        self.attempts.spawn(attempt.run(slot));
        Next::Again
    }

    /// Takes in the outcomes already reported, without waiting.
    fn settle_finished(&self, state: &mut State, rx: &mut mpsc::Receiver<Done>) {
        while let Ok(done) = rx.try_recv() {
            self.settle(state, done);
        }
    }

    /// Takes in one attempt's outcome: frees its place in the window and
    /// tells the circuit breaker.
    fn settle(&self, state: &mut State, done: Done) {
        state.window.settle(done.id, done.retry_at);
        if state.gate.record(done.health, std::time::Instant::now()) {
            state.window.look = true;
        }
    }
}

/// An operator asked for a probe: an open circuit turns half-open at once
/// (its cooldown skipped) and the next attempt answers `reply`; the spool
/// is looked in first.
fn probe(state: &mut State, reply: oneshot::Sender<Probed>) {
    state.gate.probe_now();
    state.window.look = true;
    state.probe = Some(reply);
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
