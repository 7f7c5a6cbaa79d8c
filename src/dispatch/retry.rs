//! Retry policy: how many attempts a delivery gets, how long to wait before
//! each retry, and which answers are worth another try.
//!
//! Compiled from `server.retry` and `targets.NAME.retry`. The decisions,
//! [`RetryPolicy::retries_status`] and [`RetryPolicy::next_delay`], are pure:
//! the attempt count, the receiver's `Retry-After` and the randomness are
//! arguments. This module must not sleep, send, read a clock or touch the
//! spool; scheduling the retry is the dispatcher's job.

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};

use crate::config::problems::Problems;
use crate::config::units;
use crate::config::{Located, RetryConfig, StatusConfig};

/// A compiled retry policy. Its existence proves the settings are coherent:
/// at least one attempt, every delay within `max`, statuses that exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: NonZeroU32,
    backoff: Backoff,
    max: Duration,
    retry_on: Vec<StatusMatch>,
}

/// How the wait before a retry is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backoff {
    /// Exponential with full jitter: before retry `n` (attempt `n + 1`), a
    /// wait drawn uniformly from `[0, min(max, first × 2^(n-1))]`.
    Exponential {
        /// The bound for the first retry; above zero.
        first: Duration,
    },
    /// Fixed waits: entry `n - 1` before retry `n`; none exceeds `max`.
    Schedule(Vec<Duration>),
}

/// One compiled `retry_on` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this status, 400 to 599.
    Code(u16),
    /// Every status of this hundred: `Class(5)` is 500 to 599.
    Class(u16),
}

const DEFAULT_ATTEMPTS: u32 = 12;
const DEFAULT_FIRST: Duration = Duration::from_secs(5);
const DEFAULT_MAX: Duration = Duration::from_secs(6 * 3600);
const DEFAULT_RETRY_ON: [StatusMatch; 3] = [
    StatusMatch::Code(408),
    StatusMatch::Code(429),
    StatusMatch::Class(5),
];
const STATUS_EXAMPLE: &str = "e.g. `retry_on: [408, 429, \"5xx\"]`";
const SCHEDULE_EXAMPLE: &str = "e.g. `schedule: [5s, 5m, 30m, 2h]`";

impl Default for RetryPolicy {
    /// 12 attempts, exponential from `5s`, capped at `6h`, retrying 408, 429
    /// and 5xx.
    fn default() -> Self {
        RetryPolicy {
            attempts: NonZeroU32::MIN.saturating_add(DEFAULT_ATTEMPTS - 1),
            backoff: Backoff::Exponential {
                first: DEFAULT_FIRST,
            },
            max: DEFAULT_MAX,
            retry_on: DEFAULT_RETRY_ON.to_vec(),
        }
    }
}

impl RetryPolicy {
    /// Attempts in all, the first one included.
    pub fn attempts(&self) -> NonZeroU32 {
        self.attempts
    }

    /// How the wait before a retry is chosen.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The longest wait before any one retry.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The statuses that are retried.
    pub fn retry_on(&self) -> &[StatusMatch] {
        &self.retry_on
    }

    /// Whether a response with this status is worth trying again. Only the
    /// status is consulted: the caller settles 2xx (delivered) and 410 (the
    /// target is gone) before asking, and retries timeouts and connection
    /// errors without asking.
    pub fn retries_status(&self, status: u16) -> bool {
        self.retry_on.iter().any(|m| match *m {
            StatusMatch::Code(code) => code == status,
            StatusMatch::Class(hundred) => status / 100 == hundred,
        })
    }

    /// The wait before the next attempt, after `attempts_made` attempts have
    /// failed; `None` when they were all the policy allows (dead-letter it).
    /// `0` attempts made means the first attempt, which does not wait.
    ///
    /// A receiver's `Retry-After` wins over the computed wait, clamped to
    /// `max` so that a receiver cannot park a delivery for a year; it does
    /// not buy attempts beyond the limit.
    ///
    /// Exponential backoff uses full jitter (uniform in `[0, bound]`, AWS's
    /// "Exponential Backoff and Jitter"). When a target fails, it fails for
    /// every delivery queued to it at once, and full jitter spreads those
    /// retries widest, so the receiver sees the least total work on its way
    /// back. The price is that a single retry may come almost at once; equal
    /// jitter (`[bound/2, bound]`) would avoid that but keeps the herd half
    /// together. A target that stays down is shielded by the circuit breaker
    /// (`circuit.rs`), not by a floor here.
    ///
    /// A schedule is used as written, without jitter: an operator who lists
    /// `5m, 30m` is promised those times in logs and docs, and the herd is
    /// bounded by the target's concurrency, rate limit and circuit anyway.
    ///
    /// Never panics: attempt 60 of a 100-attempt policy saturates at `max`.
    pub fn next_delay(
        &self,
        attempts_made: u32,
        retry_after: Option<Duration>,
        rng: &mut fastrand::Rng,
    ) -> Option<Duration> {
        if attempts_made >= self.attempts.get() {
            return None;
        }
        if attempts_made == 0 {
            return Some(Duration::ZERO);
        }
        if let Some(after) = retry_after {
            return Some(after.min(self.max));
        }
        let retry = attempts_made - 1;
        Some(match &self.backoff {
            Backoff::Exponential { first } => {
                // 2^retry overflows u32 from retry 32 on, and the product
                // may overflow Duration: both mean "at least max".
                let bound = 1u32
                    .checked_shl(retry)
                    .and_then(|factor| first.checked_mul(factor))
                    .map_or(self.max, |d| d.min(self.max));
                full_jitter(bound, rng)
            }
            Backoff::Schedule(delays) => usize::try_from(retry)
                .ok()
                .and_then(|i| delays.get(i))
                .copied()
                // Unreachable (attempts is the schedule's length + 1); the
                // longest allowed wait is the safe answer.
                .unwrap_or(self.max),
        })
    }
}

/// A wait drawn uniformly from `[0, bound]`, to the nanosecond.
fn full_jitter(bound: Duration, rng: &mut fastrand::Rng) -> Duration {
    // 2^64 ns is 584 years: beyond that, the bound is as good as infinite.
    let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.u64(..=nanos))
}

/// Reads a `Retry-After` value: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), relative to `now`. A date in the past
/// is `Some(ZERO)`; anything else is `None`. Too many seconds to count
/// saturate rather than being ignored, and are clamped by `next_delay`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Compiles `retry` over the built-in defaults; `place` is where it sits,
/// e.g. `server.retry`. Every problem is pushed; `None` if there was any.
pub fn compile(cfg: &RetryConfig, place: &str, problems: &mut Problems) -> Option<RetryPolicy> {
    compile_over(cfg, &RetryPolicy::default(), place, problems)
}

/// Compiles a target's `retry` over `base`, the server's compiled policy,
/// field by field: what the target leaves out, it inherits.
///
/// The backoff shape is the exception to plain field-by-field merging: a
/// target that sets `schedule` replaces the server's `first`/`attempts`, and
/// one that sets `first` or `attempts` replaces the server's `schedule`
/// (inheriting the server's attempt count and first wait). So only the
/// target's own mapping can conflict, and each problem is reported once, at
/// the place and line that caused it.
pub fn compile_over(
    cfg: &RetryConfig,
    base: &RetryPolicy,
    place: &str,
    problems: &mut Problems,
) -> Option<RetryPolicy> {
    let before = problems.clone();

    let max = match &cfg.max {
        None => Some(base.max),
        Some(text) => positive(text, format!("{place}.max"), "max: 6h", problems),
    };

    let attempts = cfg.attempts.and_then(|n| {
        let attempts = NonZeroU32::new(n);
        if attempts.is_none() {
            problems.push(
                format!("{place}.attempts"),
                None,
                "must be at least 1 (the first attempt counts), e.g. `attempts: 12`",
            );
        }
        attempts
    });

    let shape = match &cfg.schedule {
        Some(list) => schedule(list, max, cfg, place, problems),
        None if cfg.first.is_none() && cfg.attempts.is_none() => {
            check_inherited(&base.backoff, max, cfg, place, problems);
            Some((base.attempts, base.backoff.clone()))
        }
        None => {
            let first = match &cfg.first {
                Some(text) => first(text, max, place, problems),
                None => {
                    let first = base.first_wait();
                    check_inherited(&Backoff::Exponential { first }, max, cfg, place, problems);
                    Some(first)
                }
            };
            first.map(|first| {
                (
                    attempts.unwrap_or(base.attempts),
                    Backoff::Exponential { first },
                )
            })
        }
    };

    let retry_on = match &cfg.retry_on {
        None => Some(base.retry_on.clone()),
        Some(list) => every(list.iter().enumerate().map(|(i, entry)| {
            status_match(&entry.value)
                .map_err(|e| {
                    problems.push(format!("{place}.retry_on[{i}]"), Some(&entry.referenced), e)
                })
                .ok()
        })),
    };

    if *problems != before {
        return None;
    }
    let (attempts, backoff) = shape?;
    Some(RetryPolicy {
        attempts,
        backoff,
        max: max?,
        retry_on: retry_on?,
    })
}

/// `schedule: [..]`: the attempts it implies and its waits.
fn schedule(
    list: &[Located<String>],
    max: Option<Duration>,
    cfg: &RetryConfig,
    place: &str,
    problems: &mut Problems,
) -> Option<(NonZeroU32, Backoff)> {
    if cfg.first.is_some() || cfg.attempts.is_some() {
        problems.push(
            format!("{place}.schedule"),
            list.first().map(|l| &l.referenced),
            format!(
                "`schedule` sets the waits and the attempts (one more than its \
                 entries), so `first` and `attempts` cannot be set with it; \
                 {SCHEDULE_EXAMPLE} alone, or `first: 5s` with `attempts: 12`"
            ),
        );
    }
    if list.is_empty() {
        problems.push(
            format!("{place}.schedule"),
            None,
            format!("lists no waits; {SCHEDULE_EXAMPLE}, or leave it out for exponential backoff"),
        );
    }
    let delays = every(list.iter().enumerate().map(|(i, text)| {
        let at = format!("{place}.schedule[{i}]");
        let delay = units::duration(&text.value)
            .map_err(|e| problems.push(at.clone(), Some(&text.referenced), e))
            .ok()?;
        match max {
            Some(max) if delay > max => {
                let message = format!(
                    "`{}` is longer than `max` ({}); shorten it or raise `max`",
                    text.value,
                    show(max)
                );
                problems.push(at, Some(&text.referenced), message);
                None
            }
            _ => Some(delay),
        }
    }))?;
    let count = u32::try_from(delays.len()).unwrap_or(u32::MAX);
    Some((
        NonZeroU32::MIN.saturating_add(count),
        Backoff::Schedule(delays),
    ))
}

/// `first: 5s`: above zero and within `max`.
fn first(
    text: &Located<String>,
    max: Option<Duration>,
    place: &str,
    problems: &mut Problems,
) -> Option<Duration> {
    let first = positive(text, format!("{place}.first"), "first: 5s", problems)?;
    match max {
        Some(max) if first > max => {
            let message = format!(
                "`{}` is longer than `max` ({}); e.g. `first: 5s` with `max: 6h`",
                text.value,
                show(max)
            );
            problems.push(format!("{place}.first"), Some(&text.referenced), message);
            None
        }
        _ => Some(first),
    }
}

/// All the values, or `None` if any is missing. Unlike collecting into an
/// `Option` directly, this runs every item, so each bad entry is reported.
fn every<T>(items: impl Iterator<Item = Option<T>>) -> Option<Vec<T>> {
    items.collect::<Vec<_>>().into_iter().collect()
}

impl RetryPolicy {
    /// The first retry's wait (or bound), which a target that switches a
    /// server schedule to exponential backoff starts from.
    fn first_wait(&self) -> Duration {
        match &self.backoff {
            Backoff::Exponential { first } => *first,
            Backoff::Schedule(delays) => delays.first().copied().unwrap_or(DEFAULT_FIRST),
        }
    }
}

/// A target's own `max` must still cover the waits it inherits.
fn check_inherited(
    backoff: &Backoff,
    max: Option<Duration>,
    cfg: &RetryConfig,
    place: &str,
    problems: &mut Problems,
) {
    let (Some(max), Some(text)) = (max, &cfg.max) else {
        return;
    };
    let longest = match backoff {
        Backoff::Exponential { first } => *first,
        Backoff::Schedule(delays) => delays.iter().copied().max().unwrap_or_default(),
    };
    if longest > max {
        problems.push(
            format!("{place}.max"),
            Some(&text.referenced),
            format!(
                "`{}` is shorter than the inherited wait of {}; raise `max` or set \
                 `first` or `schedule` here too",
                text.value,
                show(longest)
            ),
        );
    }
}

/// A duration above zero, or a problem at `place`.
fn positive(
    text: &Located<String>,
    place: String,
    example: &str,
    problems: &mut Problems,
) -> Option<Duration> {
    match units::duration(&text.value) {
        Ok(d) if d.is_zero() => {
            problems.push(
                place,
                Some(&text.referenced),
                format!("must be longer than zero, e.g. `{example}`"),
            );
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(place, Some(&text.referenced), e);
            None
        }
    }
}

/// Reads one `retry_on` entry.
fn status_match(entry: &StatusConfig) -> Result<StatusMatch, String> {
    let bad = |shown: &str| {
        format!(
            "`{shown}` is not a status to retry: give a code from 400 to 599 or the \
             class \"4xx\" or \"5xx\", {STATUS_EXAMPLE}"
        )
    };
    let code = match entry {
        StatusConfig::Code(code) => *code,
        StatusConfig::Text(text) => {
            let t = text.trim().to_ascii_lowercase();
            match t.as_str() {
                "4xx" => return Ok(StatusMatch::Class(4)),
                "5xx" => return Ok(StatusMatch::Class(5)),
                _ => t.parse().map_err(|_| bad(text))?,
            }
        }
    };
    u16::try_from(code)
        .ok()
        .filter(|code| (400..=599).contains(code))
        .map(StatusMatch::Code)
        .ok_or_else(|| bad(&code.to_string()))
}

/// A duration the way an operator writes it: `6h`, `90s`, `250ms`.
fn show(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests;
