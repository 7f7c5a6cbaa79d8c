//! Retry policy: how many attempts a delivery gets, how long to wait before
//! each retry, and which answers are worth another try.
//!
//! Compiled from `server.retry` and `targets.NAME.retry`. The decisions,
//! [`RetryPolicy::retries_status`] and [`RetryPolicy::next_delay`], are pure:
//! the attempt count, the receiver's `Retry-After` and the randomness are
//! arguments. This module must not sleep, send, read a clock or touch the
//! spool; scheduling the retry is the dispatcher's job. Compiling the
//! config into a policy is `retry/compile.rs`.

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};

mod compile;

#[cfg(test)]
use compile::show;
pub use compile::{StatusError, compile, compile_over};

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

#[cfg(test)]
mod tests;
