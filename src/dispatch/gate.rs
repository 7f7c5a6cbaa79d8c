//! Whether a worker may send now: its target's circuit breaker and the 410
//! switch, and how the two show on status pages and in metrics.
//!
//! The decisions are the circuit breaker's ([`Circuit`]); this file keeps it
//! in step with the target's policy and the attempts' outcomes, and logs its
//! changes once each. Must not send, sleep or touch the spool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant as StdInstant;

use tokio::time::Instant;

use crate::dispatch::circuit::{Circuit, CircuitPolicy, Permit, State, Status};
use crate::dispatch::deliver::Health;

/// A target's circuit and 410 switch, as one worker keeps them.
pub(super) struct Gate {
    name: String,
    circuit: Circuit,
    /// Disabled by a 410 until a reload.
    disabled: bool,
    /// The [`Status`] shown to status pages, as its code.
    shown: Arc<AtomicU8>,
}

impl Gate {
    /// A closed circuit with `policy`, shown through `shown`.
    pub(super) fn new(name: &str, policy: CircuitPolicy, shown: Arc<AtomicU8>) -> Gate {
        Gate {
            name: name.to_owned(),
            circuit: Circuit::new(policy),
            disabled: false,
            shown,
        }
    }

    /// Follows a reload's circuit policy.
    pub(super) fn follow(&mut self, policy: CircuitPolicy) {
        if self.circuit.policy() != &policy {
            self.circuit.reconfigure(policy);
        }
    }

    /// Whether a 410 disabled the target.
    pub(super) fn disabled(&self) -> bool {
        self.disabled
    }

    /// Lets a disabled target send again (a reload); whether it was disabled.
    pub(super) fn enable(&mut self) -> bool {
        std::mem::replace(&mut self.disabled, false)
    }

    /// Until when the circuit is open, if it is open at `now`.
    pub(super) fn open_until(&self, now: StdInstant) -> Option<Instant> {
        match self.circuit.state() {
            State::Open { until } if *until > now => Some(Instant::from_std(*until)),
            _ => None,
        }
    }

    /// An operator's probe: the next attempt goes now, as the circuit's
    /// probe if it is not closed (see [`Circuit::probe_now`]).
    pub(super) fn probe_now(&mut self) {
        if self.circuit.probe_now() {
            tracing::info!(target = %self.name, "circuit half-open: an operator asked for a probe now");
        }
        self.publish();
    }

    /// Whether one attempt may go now (see [`Circuit::permit`]).
    pub(super) fn permit(&mut self, now: StdInstant) -> Permit {
        self.circuit.permit(now)
    }

    /// Takes in an attempt's bearing on the target's health. Returns whether
    /// the circuit closed again (the spool may hold what waited meanwhile).
    pub(super) fn record(&mut self, health: Health, now: StdInstant) -> bool {
        let mut closed = false;
        match health {
            Health::Up => {
                let was_closed = *self.circuit.state() == State::Closed;
                self.circuit.record_success();
                if !was_closed {
                    tracing::info!(target = %self.name, "circuit closed: the target answers again");
                    closed = true;
                }
            }
            Health::Failing => {
                let was_open = self.open();
                self.circuit.record_failure(now);
                if !was_open && self.open() {
                    tracing::warn!(target = %self.name, "circuit open: pausing deliveries to this target");
                }
            }
            Health::Gone => {
                // Attempts in flight when the first 410 came (several, with
                // concurrency, after a re-enable) answer 410 too: one line.
                if !self.disabled {
                    tracing::error!(target = %self.name, "target answered 410 Gone: disabled until the next reload; its deliveries wait in the spool");
                }
                self.disabled = true;
            }
        }
        self.publish();
        closed
    }

    fn open(&self) -> bool {
        matches!(self.circuit.state(), State::Open { .. })
    }

    /// What status pages show now.
    fn status(&self) -> Status {
        match (self.disabled, self.circuit.state()) {
            (true, _) => Status::Disabled,
            (false, State::Closed) => Status::Closed,
            (false, State::HalfOpen) => Status::HalfOpen,
            (false, State::Open { .. }) => Status::Open,
        }
    }

    /// Shows the status to status pages and metrics.
    fn publish(&self) {
        let status = self.status();
        if self.shown.swap(status.code(), Ordering::Relaxed) != status.code() {
            crate::metrics::circuit(&self.name, status);
        }
    }
}
