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

use serde::Deserialize;

use crate::config::Located;
use crate::config::problems::Problems;
use crate::config::units;

/// `server.circuit` and `targets.NAME.circuit`. A target's fields override
/// the server's one by one (see [`compile_over`]).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitConfig {
    /// Consecutive failed attempts that open the circuit. Default 5. Only
    /// failures that would be retried count (timeouts, connection errors,
    /// `retry_on` statuses); a 400 says nothing about the target's health.
    pub failures: Option<u32>,
    /// How long an open circuit holds deliveries back before one probe goes
    /// through, e.g. `30s`. Each failed probe doubles it, up to
    /// `max_cooldown`. Default `30s`; at most `1d`. Keep it longer than the
    /// target's `timeout`, or a slow probe is presumed lost and a second one
    /// sent.
    #[schemars(with = "Option<String>")]
    pub cooldown: Option<Located<String>>,
    /// The longest the doubling may stretch the cooldown, e.g. `1m`: a target
    /// that recovers is probed again within this long. Default `1m`; at most
    /// `1d`. A `cooldown` longer than this is used as it is, without
    /// doubling.
    #[schemars(with = "Option<String>")]
    pub max_cooldown: Option<Located<String>>,
}

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
        Err(e) => fail(problems, e),
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg(yaml: &str) -> CircuitConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn policy(yaml: &str) -> CircuitPolicy {
        let mut problems = Problems::default();
        let policy = compile(&cfg(yaml), "server.circuit", &mut problems);
        assert!(problems.is_empty(), "{problems}");
        policy.unwrap()
    }

    /// What a step expects `permit` to answer, in seconds from the start.
    #[derive(Debug, Clone, Copy)]
    enum Want {
        Go,
        Probe,
        WaitUntil(u64),
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// Ask at second `n`.
        Ask(u64, Want),
        /// A failure at second `n`.
        Fail(u64),
        Succeed,
    }
    use Step::*;
    use Want::*;

    /// Runs `steps` on a circuit (3 failures, 10s cooldown) and checks each
    /// answer and the label after each step.
    fn run(name: &str, steps: &[(Step, &str)]) {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut circuit = Circuit::new(policy("{failures: 3, cooldown: 10s}"));
        for (i, (step, label)) in steps.iter().enumerate() {
            match *step {
                Ask(s, want) => {
                    let want = match want {
                        Go => Permit::Go,
                        Probe => Permit::Probe,
                        WaitUntil(u) => Permit::Wait { until: at(u) },
                    };
                    assert_eq!(circuit.permit(at(s)), want, "{name}: step {i}");
                }
                Fail(s) => circuit.record_failure(at(s)),
                Succeed => circuit.record_success(),
            }
            assert_eq!(circuit.label(), *label, "{name}: step {i}");
        }
    }

    #[test]
    fn circuit_table() {
        let cases: &[(&str, &[(Step, &str)])] = &[
            (
                "opens_after_n_consecutive_failures_and_waits_out_the_cooldown",
                &[
                    (Ask(0, Go), "closed"),
                    (Fail(0), "closed"),
                    (Fail(1), "closed"),
                    (Ask(1, Go), "closed"),
                    (Fail(2), "open"),
                    (Ask(2, WaitUntil(12)), "open"),
                    (Ask(11, WaitUntil(12)), "open"),
                ],
            ),
            (
                "exactly_one_probe_after_the_cooldown",
                &[
                    (Fail(0), "closed"),
                    (Fail(0), "closed"),
                    (Fail(0), "open"),
                    (Ask(10, Probe), "half_open"),
                    (Ask(10, WaitUntil(20)), "half_open"),
                    (Ask(15, WaitUntil(20)), "half_open"),
                ],
            ),
            (
                "probe_success_closes",
                &[
                    (Fail(0), "closed"),
                    (Fail(0), "closed"),
                    (Fail(0), "open"),
                    (Ask(10, Probe), "half_open"),
                    (Succeed, "closed"),
                    (Ask(11, Go), "closed"),
                    // The count starts over.
                    (Fail(11), "closed"),
                    (Fail(11), "closed"),
                    (Fail(11), "open"),
                    (Ask(11, WaitUntil(21)), "open"),
                ],
            ),
            (
                "probe_failure_reopens_for_a_doubling_capped_cooldown",
                &[
                    (Fail(0), "closed"),
                    (Fail(0), "closed"),
                    (Fail(0), "open"),
                    (Ask(10, Probe), "half_open"),
                    (Fail(11), "open"),
                    (Ask(12, WaitUntil(31)), "open"),
                    (Ask(31, Probe), "half_open"),
                    (Fail(31), "open"),
                    (Ask(31, WaitUntil(71)), "open"),
                    (Ask(71, Probe), "half_open"),
                    // 8x would be 80s; capped at the default max_cooldown, 1m.
                    (Fail(71), "open"),
                    (Ask(71, WaitUntil(131)), "open"),
                    (Ask(131, Probe), "half_open"),
                    (Fail(131), "open"),
                    (Ask(131, WaitUntil(191)), "open"),
                    // Success forgets the stretching.
                    (Ask(191, Probe), "half_open"),
                    (Succeed, "closed"),
                    (Fail(400), "closed"),
                    (Fail(400), "closed"),
                    (Fail(400), "open"),
                    (Ask(400, WaitUntil(410)), "open"),
                ],
            ),
            (
                "a_success_in_between_resets_the_count",
                &[
                    (Fail(0), "closed"),
                    (Fail(1), "closed"),
                    (Succeed, "closed"),
                    (Fail(2), "closed"),
                    (Fail(3), "closed"),
                    (Ask(3, Go), "closed"),
                    (Fail(4), "open"),
                ],
            ),
            (
                "late_failures_while_open_do_not_extend_the_cooldown",
                &[
                    (Fail(0), "closed"),
                    (Fail(0), "closed"),
                    (Fail(0), "open"),
                    (Fail(5), "open"),
                    (Ask(9, WaitUntil(10)), "open"),
                    (Ask(10, Probe), "half_open"),
                ],
            ),
            (
                "a_lost_probe_is_replaced_after_one_cooldown",
                &[
                    (Fail(0), "closed"),
                    (Fail(0), "closed"),
                    (Fail(0), "open"),
                    (Ask(10, Probe), "half_open"),
                    (Ask(19, WaitUntil(20)), "half_open"),
                    (Ask(20, Probe), "half_open"),
                    (Ask(20, WaitUntil(30)), "half_open"),
                ],
            ),
        ];
        for (name, steps) in cases {
            run(name, steps);
        }
    }

    #[test]
    fn reconfigure_keeps_the_state() {
        let t0 = Instant::now();
        let mut circuit = Circuit::new(policy("{failures: 5}"));
        circuit.record_failure(t0);
        circuit.reconfigure(policy("{failures: 2, cooldown: 1m}"));
        circuit.record_failure(t0);
        assert_eq!(
            circuit.state(),
            &State::Open {
                until: t0 + Duration::from_secs(60)
            }
        );
    }

    #[test]
    fn defaults_are_5_failures_and_30s_doubling_up_to_1m() {
        let p = policy("{}");
        assert_eq!(p, CircuitPolicy::default());
        assert_eq!(p.failures().get(), 5);
        assert_eq!(p.cooldown(), Duration::from_secs(30));
        assert_eq!(p.max_cooldown(), Duration::from_secs(60));
    }

    #[test]
    fn failed_probes_double_the_cooldown_up_to_max_cooldown() {
        let s = Duration::from_secs;
        let cases: &[(&str, &[(u32, Duration)])] = &[
            ("{}", &[(0, s(30)), (1, s(60)), (2, s(60)), (30, s(60))]),
            (
                "{cooldown: 5s, max_cooldown: 1m}",
                &[(0, s(5)), (1, s(10)), (3, s(40)), (4, s(60)), (9, s(60))],
            ),
            (
                "{cooldown: 10s, max_cooldown: 10s}",
                &[(0, s(10)), (1, s(10)), (5, s(10))],
            ),
            // Longer than the default max_cooldown: used as it is.
            ("{cooldown: 5m}", &[(0, s(300)), (1, s(300)), (7, s(300))]),
            // However many probes failed, no overflow and no more than a day.
            (
                "{cooldown: 1d, max_cooldown: 1d}",
                &[(31, s(86_400)), (32, s(86_400)), (u32::MAX, s(86_400))],
            ),
            (
                "{cooldown: 1s, max_cooldown: 1d}",
                &[(16, s(65_536)), (17, s(86_400)), (u32::MAX, s(86_400))],
            ),
        ];
        for (yaml, steps) in cases {
            let p = policy(yaml);
            for (failed, want) in *steps {
                assert_eq!(p.cooldown_after(*failed), *want, "{yaml} after {failed}");
            }
        }
    }

    #[test]
    fn a_target_that_stays_down_is_probed_at_least_once_per_max_cooldown() {
        let t0 = Instant::now();
        let mut circuit = Circuit::new(policy("{failures: 1, cooldown: 30s, max_cooldown: 1m}"));
        circuit.record_failure(t0);
        let mut now = t0;
        let mut gaps = Vec::new();
        for _ in 0..20 {
            let Permit::Wait { until } = circuit.permit(now) else {
                panic!("open, yet not waiting");
            };
            gaps.push((until - now).as_secs());
            now = until;
            assert_eq!(circuit.permit(now), Permit::Probe);
            circuit.record_failure(now);
        }
        assert_eq!(&gaps[..4], &[30, 60, 60, 60]);
        assert!(gaps.iter().all(|g| *g <= 60), "{gaps:?}");
    }

    #[test]
    fn a_target_overrides_the_server_field_by_field() {
        let base = policy("{failures: 3, cooldown: 1m}");
        let mut problems = Problems::default();
        let p = compile_over(
            &cfg("{failures: 7}"),
            &base,
            "targets.crm.circuit",
            &mut problems,
        )
        .unwrap();
        assert_eq!(
            (p.failures().get(), p.cooldown()),
            (7, Duration::from_secs(60))
        );
        let base = policy("{max_cooldown: 10m}");
        let p = compile_over(
            &cfg("{cooldown: 1m}"),
            &base,
            "targets.crm.circuit",
            &mut problems,
        )
        .unwrap();
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(p.max_cooldown(), Duration::from_secs(600));
    }

    #[test]
    fn each_rejection_names_its_place_and_shows_an_example() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "{failures: 0}",
                "targets.crm.circuit.failures",
                "e.g. `failures: 5`",
            ),
            (
                "{cooldown: 0s}",
                "targets.crm.circuit.cooldown",
                "e.g. `cooldown: 30s`",
            ),
            (
                "{cooldown: soon}",
                "targets.crm.circuit.cooldown",
                "is not a duration (e.g. 500ms",
            ),
            (
                "{cooldown: 2d}",
                "targets.crm.circuit.cooldown",
                "`2d` is longer than a day; e.g. `cooldown: 30s",
            ),
            (
                "{max_cooldown: 0s}",
                "targets.crm.circuit.max_cooldown",
                "e.g. `max_cooldown: 30s`",
            ),
            (
                "{max_cooldown: 25h}",
                "targets.crm.circuit.max_cooldown",
                "`25h` is longer than a day",
            ),
            (
                "{cooldown: 1m, max_cooldown: 30s}",
                "targets.crm.circuit.max_cooldown",
                "`30s` is shorter than `cooldown: 1m`; e.g. `max_cooldown: 1m`",
            ),
        ];
        for (yaml, place, message) in cases {
            let mut problems = Problems::default();
            assert!(compile(&cfg(yaml), "targets.crm.circuit", &mut problems).is_none());
            let problem = problems.iter().next().unwrap();
            assert_eq!(problem.place, *place, "{yaml}");
            assert!(
                problem.message.contains(message),
                "{yaml}: {:?} lacks {message:?}",
                problem.message
            );
        }
        assert!(serde_saphyr::from_str::<CircuitConfig>("{failure: 3}").is_err());
    }
}
