//! Compiles `server.retry` and `targets.NAME.retry` into a [`RetryPolicy`],
//! a target's over the server's, reporting every problem with its place.
//!
//! Config to policy only; the decisions the policy makes are `retry.rs`'s.

use std::num::NonZeroU32;
use std::time::Duration;

use super::{Backoff, DEFAULT_FIRST, RetryPolicy, StatusMatch};
use crate::config::problems::Problems;
use crate::config::units;
use crate::config::{Located, RetryConfig, StatusConfig};

const STATUS_EXAMPLE: &str = "e.g. `retry_on: [408, 429, \"5xx\"]`";
const SCHEDULE_EXAMPLE: &str = "e.g. `schedule: [5s, 5m, 30m, 2h]`";

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

    let shape = shape(cfg, base, max, attempts, place, problems);
    let retry_on = retry_on(cfg, base, place, problems);

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

/// The attempts and the backoff: the target's `schedule`, its `first` and
/// `attempts`, or the server's shape when it sets none of them.
fn shape(
    cfg: &RetryConfig,
    base: &RetryPolicy,
    max: Option<Duration>,
    attempts: Option<NonZeroU32>,
    place: &str,
    problems: &mut Problems,
) -> Option<(NonZeroU32, Backoff)> {
    match &cfg.schedule {
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
    }
}

/// `retry_on: [..]`, or the server's.
fn retry_on(
    cfg: &RetryConfig,
    base: &RetryPolicy,
    place: &str,
    problems: &mut Problems,
) -> Option<Vec<StatusMatch>> {
    match &cfg.retry_on {
        None => Some(base.retry_on.clone()),
        Some(list) => every(list.iter().enumerate().map(|(i, entry)| {
            status_match(&entry.value)
                .map_err(|e| {
                    problems.push(format!("{place}.retry_on[{i}]"), Some(&entry.referenced), e)
                })
                .ok()
        })),
    }
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

/// A `retry_on` entry that names no status, shown as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a status to retry: give a code from 400 to 599 or the class \"4xx\" or \"5xx\", {STATUS_EXAMPLE}"
)]
pub struct StatusError(String);

/// Reads one `retry_on` entry.
fn status_match(entry: &StatusConfig) -> Result<StatusMatch, StatusError> {
    let bad = |shown: &str| StatusError(shown.to_owned());
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
pub(super) fn show(d: Duration) -> String {
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
