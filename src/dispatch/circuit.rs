//! Per-target circuit breaker: after enough consecutive failures, stop
//! sending to a target for a cooldown, then let a single probe through to see
//! whether it is back.
//!
//! A pure state machine: the clock is an argument and nothing here sleeps,
//! sends or queues. While the circuit holds deliveries back they stay queued
//! in the spool; keeping them, and asking again at the time [`Permit::Wait`]
//! names, is the dispatcher's job.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use crate::config::problems::Problems;
use crate::config::units;
use crate::config::{CircuitConfig, Located};

/// A compiled circuit policy: at least one failure, a cooldown above zero
/// and at most a day, stretched by failed probes up to a day at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitPolicy {
    failures: NonZeroU32,
    cooldown: Duration,
    max_cooldown: Duration,
}

const DEFAULT_FAILURES: u32 = 5;
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// Twice the default cooldown: a target that recovers during a long outage
/// gets its deliveries again within a minute, while one that stays down is
/// probed (each probe burning one of some delivery's attempts) once a
/// minute rather than every 30s.
const DEFAULT_MAX_COOLDOWN: Duration = Duration::from_secs(60);
/// Long enough for any real outage; short enough that `now + cooldown` can
/// never overflow an `Instant`.
const LONGEST_COOLDOWN: Duration = Duration::from_secs(86_400);

impl Default for CircuitPolicy {
    /// Open after 5 consecutive failures, for 30s, doubling up to 1m.
    fn default() -> Self {
        CircuitPolicy {
            failures: NonZeroU32::MIN.saturating_add(DEFAULT_FAILURES - 1),
            cooldown: DEFAULT_COOLDOWN,
            max_cooldown: DEFAULT_MAX_COOLDOWN,
        }
    }
}

impl CircuitPolicy {
    /// Consecutive failures that open the circuit.
    pub fn failures(&self) -> NonZeroU32 {
        self.failures
    }

    /// How long the circuit first stays open.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// The longest it stays open after failed probes: `max_cooldown`, or
    /// the cooldown itself if that is longer.
    pub fn max_cooldown(&self) -> Duration {
        self.max_cooldown.max(self.cooldown)
    }

    /// How long the circuit stays open after `failed_probes` failed probes
    /// in a row: the cooldown, doubled for each, at most [`Self::max_cooldown`].
    pub fn cooldown_after(&self, failed_probes: u32) -> Duration {
        self.cooldown
            .saturating_mul(1 << failed_probes.min(31))
            .min(self.max_cooldown())
    }
}

/// Compiles `circuit` over the built-in defaults; `place` is where it sits,
/// e.g. `server.circuit`. Every problem is pushed; `None` if there was any.
pub fn compile(cfg: &CircuitConfig, place: &str, problems: &mut Problems) -> Option<CircuitPolicy> {
    compile_over(cfg, &CircuitPolicy::default(), place, problems)
}

/// Compiles a target's `circuit` over `base`, the server's compiled policy:
/// what the target leaves out, it inherits.
pub fn compile_over(
    cfg: &CircuitConfig,
    base: &CircuitPolicy,
    place: &str,
    problems: &mut Problems,
) -> Option<CircuitPolicy> {
    let failures = match cfg.failures {
        None => Some(base.failures),
        Some(n) => {
            let failures = NonZeroU32::new(n);
            if failures.is_none() {
                problems.push(
                    format!("{place}.failures"),
                    None,
                    "must be at least 1, e.g. `failures: 5`",
                );
            }
            failures
        }
    };
    let cooldown = match &cfg.cooldown {
        None => Some(base.cooldown),
        Some(text) => duration(text, "cooldown", place, problems),
    };
    let max_cooldown = match &cfg.max_cooldown {
        None => Some(base.max_cooldown),
        Some(text) => duration(text, "max_cooldown", place, problems),
    };
    // Both written here and contradicting each other: say so rather than
    // quietly use the longer one.
    if let (Some(c), Some(m), Some(short), Some(long)) =
        (&cfg.cooldown, &cfg.max_cooldown, cooldown, max_cooldown)
        && long < short
    {
        problems.push(
            format!("{place}.max_cooldown"),
            Some(&m.referenced),
            format!(
                "`{}` is shorter than `cooldown: {}`; e.g. `max_cooldown: 1m` (failed probes \
                 double the cooldown up to this)",
                m.value, c.value
            ),
        );
        return None;
    }
    Some(CircuitPolicy {
        failures: failures?,
        cooldown: cooldown?,
        max_cooldown: max_cooldown?,
    })
}

/// A `cooldown` or `max_cooldown`: above zero, at most a day.
fn duration(
    text: &Located<String>,
    key: &str,
    place: &str,
    problems: &mut Problems,
) -> Option<Duration> {
    let fail = |problems: &mut Problems, message: String| {
        problems.push(format!("{place}.{key}"), Some(&text.referenced), message);
        None
    };
    match units::duration(&text.value) {
        Err(e) => fail(problems, e.to_string()),
        Ok(d) if d.is_zero() => fail(
            problems,
            format!("must be longer than zero, e.g. `{key}: 30s`"),
        ),
        Ok(d) if d > LONGEST_COOLDOWN => fail(
            problems,
            format!(
                "`{}` is longer than a day; e.g. `cooldown: 30s, max_cooldown: 1m`",
                text.value
            ),
        ),
        Ok(d) => Some(d),
    }
}

/// Where a circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Healthy: everything goes.
    Closed,
    /// Failing: nothing goes until `until`.
    Open {
        /// When the next probe may go.
        until: Instant,
    },
    /// The cooldown is over: one probe at a time decides.
    HalfOpen,
}

/// What a delivery may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Send it.
    Go,
    /// Send it as the single trial request; its outcome closes or re-opens
    /// the circuit.
    Probe,
    /// Do not send; keep it queued and ask again at `until` (or sooner, when
    /// a probe's outcome is recorded).
    Wait {
        /// When asking again may give a different answer.
        until: Instant,
    },
}

/// One target's circuit breaker.
///
/// The caller asks [`Circuit::permit`] before each attempt and reports every
/// outcome with [`Circuit::record_success`] or [`Circuit::record_failure`].
/// It reports only failures that would be retried: a permanent rejection
/// (a 400, a 410) is about the delivery, not the target's health.
#[derive(Debug, Clone)]
pub struct Circuit {
    policy: CircuitPolicy,
    state: State,
    /// Consecutive failures while closed.
    failures: u32,
    /// Consecutive failed probes since the circuit last closed.
    failed_probes: u32,
    /// While a probe is in flight: when it is presumed lost. A probe whose
    /// outcome is never recorded (its task cancelled, say) must not hold the
    /// target open for ever, so after one cooldown another probe may go.
    probe_lease: Option<Instant>,
}

impl Circuit {
    /// A closed circuit.
    pub fn new(policy: CircuitPolicy) -> Circuit {
        Circuit {
            policy,
            state: State::Closed,
            failures: 0,
            failed_probes: 0,
            probe_lease: None,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &CircuitPolicy {
        &self.policy
    }

    /// Applies a reloaded policy without forgetting the target's health: the
    /// count and an open circuit's `until` stand, the new numbers apply from
    /// the next outcome on.
    pub fn reconfigure(&mut self, policy: CircuitPolicy) {
        self.policy = policy;
    }

    /// Where the circuit stands.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state for metrics and logs: `closed`, `open` or `half_open`.
    pub fn label(&self) -> &'static str {
        match self.state {
            State::Closed => "closed",
            State::Open { .. } => "open",
            State::HalfOpen => "half_open",
        }
    }

    /// Whether a delivery may be sent at `now`. Once the cooldown is over,
    /// the first caller gets [`Permit::Probe`] and the circuit turns
    /// half-open; everyone else waits for the probe's outcome.
    pub fn permit(&mut self, now: Instant) -> Permit {
        match self.state {
            State::Closed => Permit::Go,
            State::Open { until } if now < until => Permit::Wait { until },
            State::Open { .. } => {
                self.state = State::HalfOpen;
                self.probe(now)
            }
            State::HalfOpen => match self.probe_lease {
                Some(lease) if now < lease => Permit::Wait { until: lease },
                _ => self.probe(now),
            },
        }
    }

    /// An attempt succeeded: the target is healthy, whatever the state.
    pub fn record_success(&mut self) {
        self.state = State::Closed;
        self.failures = 0;
        self.failed_probes = 0;
        self.probe_lease = None;
    }

    /// An attempt failed in a way that would be retried.
    ///
    /// Closed: one more consecutive failure; at the policy's count the
    /// circuit opens for one cooldown. Half-open: the probe failed, so it
    /// re-opens for twice the previous cooldown, at most `max_cooldown`
    /// (by default 30s, 1m, 1m, …). Doubling spares a target that is down
    /// for hours a probe every cooldown, each burning one of some delivery's
    /// attempts; the cap bounds how late a recovery is noticed.
    /// Open: a late answer to a request sent before the circuit opened; the
    /// cooldown is not extended.
    pub fn record_failure(&mut self, now: Instant) {
        match self.state {
            State::Closed => {
                self.failures = self.failures.saturating_add(1);
                if self.failures >= self.policy.failures.get() {
                    self.open(now);
                }
            }
            State::HalfOpen => {
                self.failed_probes = self.failed_probes.saturating_add(1);
                self.open(now);
            }
            State::Open { .. } => {}
        }
    }

    fn probe(&mut self, now: Instant) -> Permit {
        self.probe_lease = Some(later(now, self.policy.cooldown));
        Permit::Probe
    }

    fn open(&mut self, now: Instant) {
        self.state = State::Open {
            until: later(now, self.policy.cooldown_after(self.failed_probes)),
        };
        self.failures = 0;
        self.probe_lease = None;
    }
}

/// `now + d`. The cooldown is at most a day, however stretched, so this
/// cannot overflow; if it somehow did, waiting no time beats a panic.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

#[cfg(test)]
mod tests;
