//! A circuit breaker's policy: how many consecutive failures open it, how
//! long it stays open; compiled from `server.circuit` and
//! `targets.NAME.circuit`, a target's over the server's.
//!
//! Numbers and their checks only; the state machine is `circuit.rs`.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::config::problems::Problems;
use crate::config::units;
use crate::config::{CircuitConfig, Located};

/// A compiled circuit policy: at least one failure, a cooldown above zero
/// and at most a day, stretched by failed probes up to a day at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitPolicy {
    pub(super) failures: NonZeroU32,
    pub(super) cooldown: Duration,
    pub(super) max_cooldown: Duration,
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
