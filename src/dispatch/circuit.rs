//! Per-target circuit breaker: after enough consecutive failures, stop
//! sending to a target for a cooldown, then let a single probe through to see
//! whether it is back.
//!
//! A pure state machine: the clock is an argument and nothing here sleeps,
//! sends or queues. While the circuit holds deliveries back they stay queued
//! in the spool; keeping them, and asking again at the time [`Permit::Wait`]
//! names, is the dispatcher's job. The policy (how many failures, how
//! long a cooldown) and its compiling are `circuit/policy.rs`.

use std::time::{Duration, Instant};

mod policy;

pub use policy::{CircuitPolicy, compile, compile_over};

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

/// A target's circuit as status pages, metrics and logs show it: the
/// breaker's state without its times, or disabled by a 410. Serialized as
/// `closed`, `half_open`, `open`, `disabled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything goes.
    #[default]
    Closed,
    /// One probe at a time decides.
    HalfOpen,
    /// Nothing goes until the cooldown is over.
    Open,
    /// The target answered 410 Gone: nothing goes until the next reload.
    Disabled,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 4] = [
        Status::Closed,
        Status::HalfOpen,
        Status::Open,
        Status::Disabled,
    ];

    /// The word, as serialized: `closed`, `half_open`, `open`, `disabled`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Closed => "closed",
            Status::HalfOpen => "half_open",
            Status::Open => "open",
            Status::Disabled => "disabled",
        }
    }

    /// The value of `switchboard_circuit_state` (0 closed, 1 half-open,
    /// 2 open, 3 disabled), which also packs the status into an atomic.
    pub fn code(self) -> u8 {
        match self {
            Status::Closed => 0,
            Status::HalfOpen => 1,
            Status::Open => 2,
            Status::Disabled => 3,
        }
    }

    /// The status [`Status::code`] packed; an unknown code reads as closed.
    pub fn from_code(code: u8) -> Status {
        match code {
            1 => Status::HalfOpen,
            2 => Status::Open,
            3 => Status::Disabled,
            _ => Status::Closed,
        }
    }
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

    /// The state for status pages, metrics and logs.
    pub fn status(&self) -> Status {
        match self.state {
            State::Closed => Status::Closed,
            State::Open { .. } => Status::Open,
            State::HalfOpen => Status::HalfOpen,
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

    /// An operator's probe: an open circuit turns half-open now, its
    /// cooldown skipped, and a half-open one forgets the probe it waits
    /// for, so the next [`Circuit::permit`] is a [`Permit::Probe`]. Returns
    /// whether the circuit was open. A closed circuit stays closed.
    pub fn probe_now(&mut self) -> bool {
        let was_open = matches!(self.state, State::Open { .. });
        if self.state != State::Closed {
            self.state = State::HalfOpen;
            self.probe_lease = None;
        }
        was_open
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
