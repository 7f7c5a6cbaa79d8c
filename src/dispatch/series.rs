//! A target's recent history in memory: per minute, how many attempts
//! ended delivered, retry, dead or parked, a histogram of their durations,
//! and how many had to wait for the rate limit; the last [`MINUTES`]
//! minutes (24 h), for `GET /api/targets` and its series without a
//! Prometheus.
//!
//! Fixed memory per target: one ring of [`MINUTES`] slots, allocated at the
//! first attempt (an idle target costs nothing), each slot a few counters
//! and a histogram of [`BOUNDS_MS`] buckets. Percentiles are estimates
//! within a bucket. Time is an argument; must not read a clock, send or
//! touch the spool.

use std::sync::Mutex;
use std::time::Duration;

use crate::spool::Record;

/// Minutes kept: 24 hours.
pub const MINUTES: usize = 1440;

/// Upper bounds of the latency buckets, in milliseconds; one more bucket
/// holds the slower ones.
pub const BOUNDS_MS: [u32; 15] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 60_000,
];

const BUCKETS: usize = BOUNDS_MS.len() + 1;

/// How an attempt ended, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retry,
    Dead,
    Parked,
}

impl Outcome {
    /// The outcome `record` stores.
    pub fn of(record: &Record) -> Outcome {
        match record {
            Record::Delivered { .. } => Outcome::Delivered,
            Record::Retry { .. } => Outcome::Retry,
            Record::Dead { .. } => Outcome::Dead,
            Record::Parked { .. } => Outcome::Parked,
        }
    }

    /// `delivered`, `retry`, `dead`, `parked`: the metrics' and the tail's word.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
            Outcome::Parked => "parked",
        }
    }
}

/// One minute's counts.
#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    /// Unix minute this slot holds; a slot of an older minute is stale.
    minute: i64,
    counts: [u32; 4],
    waits: u32,
    latency: [u32; BUCKETS],
}

/// One minute of a series, as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Point {
    /// The minute's start, unix milliseconds.
    pub minute_ms: i64,
    pub delivered: u64,
    pub retry: u64,
    pub dead: u64,
    pub parked: u64,
    /// Attempts that waited for the rate limit.
    pub rate_limit_waits: u64,
    /// Attempt duration percentiles (estimates), in milliseconds; `None`
    /// without attempts.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Totals over a span of minutes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Totals {
    pub delivered: u64,
    /// Attempts that did not deliver (retry, dead, parked).
    pub failed: u64,
    pub rate_limit_waits: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A target's ring of minutes.
#[derive(Debug, Default)]
pub struct Ring {
    /// Empty until the first count, then [`MINUTES`] slots.
    slots: Vec<Minute>,
}

impl Ring {
    /// Counts an attempt that ended at `at_ms` with `outcome` after `took`.
    pub fn attempt(&mut self, at_ms: i64, outcome: Outcome, took: Duration) {
        let slot = self.slot(at_ms);
        slot.counts[outcome as usize] = slot.counts[outcome as usize].saturating_add(1);
        let ms = took.as_secs_f64() * 1000.0;
        let bucket = BOUNDS_MS
            .iter()
            .position(|&b| ms <= f64::from(b))
            .unwrap_or(BOUNDS_MS.len());
        slot.latency[bucket] = slot.latency[bucket].saturating_add(1);
    }

    /// Counts an attempt that waited for the rate limit at `at_ms`.
    pub fn waited(&mut self, at_ms: i64) {
        let slot = self.slot(at_ms);
        slot.waits = slot.waits.saturating_add(1);
    }

    /// The last `minutes` minutes up to `now_ms`, oldest first, one point
    /// per minute (zero where nothing happened).
    pub fn points(&self, now_ms: i64, minutes: usize) -> Vec<Point> {
        let now = now_ms.div_euclid(60_000);
        let minutes = minutes.min(MINUTES) as i64;
        (now - minutes + 1..=now)
            .map(|m| {
                let mut point = Point {
                    minute_ms: m * 60_000,
                    ..Point::default()
                };
                if let Some(slot) = self.get(m) {
                    let [d, r, x, p] = slot.counts.map(u64::from);
                    (point.delivered, point.retry, point.dead, point.parked) = (d, r, x, p);
                    point.rate_limit_waits = u64::from(slot.waits);
                    point.p50_ms = percentile(&slot.latency, 0.50);
                    point.p99_ms = percentile(&slot.latency, 0.99);
                }
                point
            })
            .collect()
    }

    /// Totals over the last `minutes` minutes up to `now_ms`.
    pub fn totals(&self, now_ms: i64, minutes: usize) -> Totals {
        let now = now_ms.div_euclid(60_000);
        let mut totals = Totals::default();
        let mut latency = [0u32; BUCKETS];
        for m in now - minutes.min(MINUTES) as i64 + 1..=now {
            let Some(slot) = self.get(m) else { continue };
            totals.delivered += u64::from(slot.counts[Outcome::Delivered as usize]);
            totals.failed += slot.counts[1..].iter().map(|&c| u64::from(c)).sum::<u64>();
            totals.rate_limit_waits += u64::from(slot.waits);
            for (sum, n) in latency.iter_mut().zip(slot.latency) {
                *sum = sum.saturating_add(n);
            }
        }
        totals.p50_ms = percentile(&latency, 0.50);
        totals.p99_ms = percentile(&latency, 0.99);
        totals
    }

    /// The slot of minute `m`, if it holds that minute.
    fn get(&self, m: i64) -> Option<&Minute> {
        self.slots
            .get(m.rem_euclid(MINUTES as i64) as usize)
            .filter(|s| s.minute == m)
    }

    /// The slot for the minute of `at_ms`, cleared if it held an older one.
    fn slot(&mut self, at_ms: i64) -> &mut Minute {
        if self.slots.is_empty() {
            self.slots = vec![Minute::default(); MINUTES];
        }
        let m = at_ms.div_euclid(60_000);
        let at = m.rem_euclid(MINUTES as i64) as usize;
        let slot = &mut self.slots[at];
        if slot.minute != m {
            *slot = Minute {
                minute: m,
                ..Minute::default()
            };
        }
        slot
    }
}

/// The `q` quantile of a histogram, interpolated linearly within its
/// bucket; the last bucket reads as its lower bound. `None` when empty.
fn percentile(latency: &[u32; BUCKETS], q: f64) -> Option<f64> {
    let total: u64 = latency.iter().map(|&n| u64::from(n)).sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).max(1.0);
    let mut below = 0u64;
    for (i, &n) in latency.iter().enumerate() {
        let n = u64::from(n);
        if n > 0 && (below + n) as f64 >= rank {
            let low = if i == 0 {
                0.0
            } else {
                f64::from(BOUNDS_MS[i - 1])
            };
            let Some(&high) = BOUNDS_MS.get(i) else {
                return Some(low);
            };
            let within = (rank - below as f64) / n as f64;
            return Some(low + (f64::from(high) - low) * within);
        }
        below += n;
    }
    None
}

/// A target's ring, shared by its worker, its attempts and the admin API.
#[derive(Debug, Default)]
pub struct Series(Mutex<Ring>);

impl Series {
    /// Runs `f` on the ring. The lock is held for a few counter updates or
    /// one read; a poisoned one is used as it is (counters only).
    pub fn with<T>(&self, f: impl FnOnce(&mut Ring) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests;
