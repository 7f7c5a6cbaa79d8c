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

use serde::Deserialize;

use crate::config::Located;
use crate::config::problems::Problems;
use crate::config::units;

/// `server.retry` and `targets.NAME.retry`.
///
/// Every field is optional so that a target's `retry` overrides the server's
/// field by field (see [`compile_over`]). Either `first` (with `attempts`) or
/// `schedule` shapes the backoff, never both in one mapping.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first one included. Default 12; `1` means never
    /// retry. Not allowed together with `schedule`.
    pub attempts: Option<u32>,
    /// Longest wait before the first retry, e.g. `5s`; the bound doubles for
    /// each further retry, up to `max`, and the actual wait is drawn at random
    /// below it. Default `5s`. Not allowed together with `schedule`.
    #[schemars(with = "Option<String>")]
    pub first: Option<Located<String>>,
    /// Longest wait before any one retry, e.g. `6h`; also caps a receiver's
    /// `Retry-After`. Default `6h`.
    #[schemars(with = "Option<String>")]
    pub max: Option<Located<String>>,
    /// Fixed waits before attempts 2, 3, …, e.g. `[5s, 5m, 30m, 2h]`, used
    /// as written instead of `first`/`attempts`: a delivery gets one attempt
    /// more than the list has entries. Each entry must be at most `max`.
    #[schemars(with = "Option<Vec<String>>")]
    pub schedule: Option<Vec<Located<String>>>,
    /// Response statuses worth trying again: codes from 400 to 599 (`503`) or
    /// a class (`"4xx"`, `"5xx"`). Default `[408, 429, "5xx"]`. `[]` retries
    /// no status. Timeouts and connection errors are retried regardless.
    #[schemars(with = "Option<Vec<StatusConfig>>")]
    pub retry_on: Option<Vec<Located<StatusConfig>>>,
}

/// One `retry_on` entry as written: `503`, `"503"` or `"5xx"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum StatusConfig {
    /// A status code. Signed so that `-1` gets our message, not serde's.
    Code(i64),
    /// A class such as `"5xx"`, or a code in quotes.
    Text(String),
}

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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg(yaml: &str) -> RetryConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn policy(yaml: &str) -> RetryPolicy {
        let mut problems = Problems::default();
        let policy = compile(&cfg(yaml), "server.retry", &mut problems);
        assert!(problems.is_empty(), "{problems}");
        policy.unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn defaults_are_twelve_attempts_from_5s_capped_at_6h() {
        let p = policy("{}");
        assert_eq!(p, RetryPolicy::default());
        assert_eq!(p.attempts().get(), 12);
        assert_eq!(p.backoff(), &Backoff::Exponential { first: secs(5) });
        assert_eq!(p.max(), secs(6 * 3600));
    }

    #[test]
    fn exponential_waits_stay_under_a_doubling_bound_capped_by_max() {
        let p = policy("{attempts: 100, first: 5s, max: 1h}");
        let mut rng = fastrand::Rng::with_seed(7);
        for made in 1..100u32 {
            let bound = secs(5)
                .saturating_mul(1u32.checked_shl(made - 1).unwrap_or(u32::MAX))
                .min(secs(3600));
            let wait = p.next_delay(made, None, &mut rng).unwrap();
            assert!(wait <= bound, "attempt {made}: {wait:?} > {bound:?}");
        }
        // Attempt 60 and beyond: no overflow, still within max.
        for made in [33, 60, 64, 99] {
            assert!(p.next_delay(made, None, &mut rng).unwrap() <= secs(3600));
        }
    }

    #[test]
    fn full_jitter_covers_the_whole_range() {
        let p = policy("{first: 10s}");
        let mut rng = fastrand::Rng::with_seed(7);
        let waits: Vec<Duration> = (0..1000)
            .map(|_| p.next_delay(3, None, &mut rng).unwrap())
            .collect();
        // Third retry: bound 40s; full jitter reaches near both ends.
        assert!(waits.iter().all(|w| *w <= secs(40)));
        assert!(waits.iter().any(|w| *w < secs(2)));
        assert!(waits.iter().any(|w| *w > secs(38)));
    }

    #[test]
    fn same_seed_same_waits() {
        let p = policy("{}");
        let run = || {
            let mut rng = fastrand::Rng::with_seed(7);
            (1..12)
                .map(|n| p.next_delay(n, None, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn next_delay_table() {
        let exp = policy("{attempts: 3, first: 1s, max: 1m}");
        let sched = policy("{schedule: [5s, 5m, 30m, 2h], max: 3h}");
        let mut rng = fastrand::Rng::with_seed(7);
        let cases: &[(&RetryPolicy, u32, Option<Duration>, Option<Duration>)] = &[
            // The first attempt does not wait.
            (&exp, 0, None, Some(Duration::ZERO)),
            // Retry-After wins, clamped to max.
            (&exp, 1, Some(secs(30)), Some(secs(30))),
            (&exp, 2, Some(secs(7200)), Some(secs(60))),
            (&exp, 1, Some(Duration::ZERO), Some(Duration::ZERO)),
            // Give up at the limit, Retry-After or not.
            (&exp, 3, None, None),
            (&exp, 3, Some(secs(1)), None),
            (&exp, u32::MAX, None, None),
            // A schedule is used as written; its length sets the attempts.
            (&sched, 1, None, Some(secs(5))),
            (&sched, 2, None, Some(secs(300))),
            (&sched, 3, None, Some(secs(1800))),
            (&sched, 4, None, Some(secs(7200))),
            (&sched, 4, Some(secs(99_999)), Some(secs(3 * 3600))),
            (&sched, 5, None, None),
        ];
        for (i, (p, made, after, want)) in cases.iter().enumerate() {
            assert_eq!(p.next_delay(*made, *after, &mut rng), *want, "case {i}");
        }
        assert_eq!(sched.attempts().get(), 5);
    }

    #[test]
    fn retries_status_table() {
        let default = policy("{}");
        let custom = policy("{retry_on: [409, \"425\", \"4XX\"]}");
        let none = policy("{retry_on: []}");
        let cases: &[(&RetryPolicy, u16, bool)] = &[
            (&default, 408, true),
            (&default, 429, true),
            (&default, 500, true),
            (&default, 503, true),
            (&default, 599, true),
            (&default, 400, false),
            (&default, 404, false),
            (&default, 200, false),
            (&custom, 409, true),
            (&custom, 404, true),
            (&custom, 503, false),
            (&none, 503, false),
        ];
        for (p, status, want) in cases {
            assert_eq!(p.retries_status(*status), *want, "{status}");
        }
    }

    #[test]
    fn parses_retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let cases: &[(&str, Option<Duration>)] = &[
            ("120", Some(secs(120))),
            (" 0 ", Some(Duration::ZERO)),
            ("99999999999999999999999", Some(secs(u64::MAX))),
            ("Wed, 21 Oct 2015 07:30:00 GMT", Some(secs(120))),
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(Duration::ZERO)),
            ("Tue, 20 Oct 2015 07:28:00 GMT", Some(Duration::ZERO)),
            // RFC 850 and asctime, which HTTP/1.1 still asks us to read.
            ("Wednesday, 21-Oct-15 07:29:00 GMT", Some(secs(60))),
            ("Wed Oct 21 07:29:30 2015", Some(secs(90))),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("Wed, 32 Oct 2015 07:28:00 GMT", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_retry_after(value, now), *want, "{value:?}");
        }
    }

    #[test]
    fn each_rejection_names_its_place_and_shows_an_example() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "{attempts: 0}",
                "server.retry.attempts",
                "e.g. `attempts: 12`",
            ),
            ("{first: 0s}", "server.retry.first", "e.g. `first: 5s`"),
            (
                "{first: soon}",
                "server.retry.first",
                "is not a duration (e.g. 500ms",
            ),
            ("{max: 0s}", "server.retry.max", "e.g. `max: 6h`"),
            (
                "{first: 10h}",
                "server.retry.first",
                "`10h` is longer than `max` (6h); e.g. `first: 5s`",
            ),
            (
                "{first: 2m, max: 1m}",
                "server.retry.first",
                "`2m` is longer than `max` (1m)",
            ),
            (
                "{schedule: []}",
                "server.retry.schedule",
                "lists no waits; e.g. `schedule: [5s, 5m, 30m, 2h]`",
            ),
            (
                "{schedule: [5s], attempts: 3}",
                "server.retry.schedule",
                "`first` and `attempts` cannot be set with it",
            ),
            (
                "{schedule: [5s], first: 1s}",
                "server.retry.schedule",
                "`first` and `attempts` cannot be set with it",
            ),
            (
                "{schedule: [5s, 7h]}",
                "server.retry.schedule[1]",
                "`7h` is longer than `max` (6h)",
            ),
            (
                "{schedule: [5s, later]}",
                "server.retry.schedule[1]",
                "is not a duration (e.g. 500ms",
            ),
            (
                "{retry_on: [\"6xx\"]}",
                "server.retry.retry_on[0]",
                "`6xx` is not a status to retry: give a code from 400 to 599 or the \
                 class \"4xx\" or \"5xx\", e.g. `retry_on: [408, 429, \"5xx\"]`",
            ),
            (
                "{retry_on: [503, 99]}",
                "server.retry.retry_on[1]",
                "`99` is not a status",
            ),
            (
                "{retry_on: [abc]}",
                "server.retry.retry_on[0]",
                "`abc` is not a status",
            ),
            (
                "{retry_on: [-1]}",
                "server.retry.retry_on[0]",
                "`-1` is not a status",
            ),
            (
                "{retry_on: [200]}",
                "server.retry.retry_on[0]",
                "`200` is not a status",
            ),
            (
                "{retry_on: [70000]}",
                "server.retry.retry_on[0]",
                "`70000` is not",
            ),
        ];
        for (yaml, place, message) in cases {
            let mut problems = Problems::default();
            assert!(
                compile(&cfg(yaml), "server.retry", &mut problems).is_none(),
                "{yaml}"
            );
            let problem = problems.iter().next().unwrap();
            assert_eq!(problem.place, *place, "{yaml}");
            assert!(
                problem.message.contains(message),
                "{yaml}: {:?} lacks {message:?}",
                problem.message
            );
        }
    }

    #[test]
    fn reports_every_problem_with_its_line() {
        let yaml = "attempts: 0\nfirst: 0s\nretry_on: [408, 6xx]\n";
        let mut problems = Problems::default();
        assert!(compile(&cfg(yaml), "targets.crm.retry", &mut problems).is_none());
        let found: Vec<_> = problems
            .iter()
            .map(|p| (p.place.as_str(), p.position.map(|(line, _)| line)))
            .collect();
        assert_eq!(
            found,
            [
                ("targets.crm.retry.attempts", None),
                ("targets.crm.retry.first", Some(2)),
                ("targets.crm.retry.retry_on[1]", Some(3)),
            ]
        );
    }

    #[test]
    fn unknown_keys_are_rejected_by_the_parser() {
        assert!(serde_saphyr::from_str::<RetryConfig>("{attempt: 3}").is_err());
    }

    #[test]
    fn a_target_overrides_the_server_field_by_field() {
        let over = |server: &str, target: &str| {
            let base = policy(server);
            let mut problems = Problems::default();
            let p = compile_over(&cfg(target), &base, "targets.crm.retry", &mut problems);
            (p, problems)
        };
        let ok = |server: &str, target: &str| {
            let (p, problems) = over(server, target);
            assert!(problems.is_empty(), "{problems}");
            p.unwrap()
        };

        // Unset fields inherit.
        let p = ok(
            "{attempts: 4, first: 2s, max: 1h, retry_on: [503]}",
            "{first: 3s}",
        );
        assert_eq!(p.attempts().get(), 4);
        assert_eq!(p.backoff(), &Backoff::Exponential { first: secs(3) });
        assert_eq!(p.max(), secs(3600));
        assert!(p.retries_status(503) && !p.retries_status(502));

        // retry_on replaces the list rather than adding to it.
        let p = ok("{retry_on: [503]}", "{retry_on: [\"4xx\"]}");
        assert!(p.retries_status(404) && !p.retries_status(503));

        // A target's schedule replaces the server's first and attempts.
        let p = ok("{attempts: 4, first: 2s}", "{schedule: [1m]}");
        assert_eq!(p.attempts().get(), 2);
        assert_eq!(p.backoff(), &Backoff::Schedule(vec![secs(60)]));

        // A target's attempts turn a server schedule into exponential backoff
        // from the schedule's first wait.
        let p = ok("{schedule: [10s, 1m]}", "{attempts: 6}");
        assert_eq!(p.attempts().get(), 6);
        assert_eq!(p.backoff(), &Backoff::Exponential { first: secs(10) });

        // A target's max must still cover what it inherits.
        let (p, problems) = over("{schedule: [10s, 2h]}", "{max: 1h}");
        assert!(p.is_none());
        let problem = problems.iter().next().unwrap();
        assert_eq!(problem.place, "targets.crm.retry.max");
        assert!(
            problem
                .message
                .contains("shorter than the inherited wait of 2h")
        );

        // ...and a schedule it sets must fit the max it inherits.
        let (p, problems) = over("{max: 1h}", "{schedule: [2h]}");
        assert!(p.is_none());
        assert_eq!(
            problems.iter().next().unwrap().place,
            "targets.crm.retry.schedule[0]"
        );
    }

    #[test]
    fn shows_durations_as_written() {
        let cases = [
            (secs(21_600), "6h"),
            (secs(86_400), "1d"),
            (secs(90), "90s"),
            (secs(120), "2m"),
            (Duration::from_millis(250), "250ms"),
            (Duration::ZERO, "0ms"),
        ];
        for (d, want) in cases {
            assert_eq!(show(d), want);
        }
    }
}
