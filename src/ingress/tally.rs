//! Each configured source's ingress figures in memory, for the status API
//! (an overview without a Prometheus): webhooks accepted, not forwarded
//! (probes, duplicates) and refused since start, and the last
//! [`MINUTES`] minutes of accepted and refused counts, for a rate.
//!
//! Fixed memory per source name: one ring of [`MINUTES`] slots. Only
//! configured names are counted (a scan of made-up paths must not grow
//! it). Time is an argument; must not read a clock or touch the spool.

use std::collections::HashMap;
use std::sync::Mutex;

/// Minutes kept.
pub const MINUTES: usize = 60;

/// One minute's counts.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    minute: i64,
    accepted: u64,
    refused: u64,
}

/// One source's counts.
#[derive(Debug, Clone)]
struct Counts {
    accepted: u64,
    not_forwarded: u64,
    refused: u64,
    ring: [Slot; MINUTES],
}

/// One source's figures, as the status API shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Figures {
    /// Accepted (202) since start.
    pub accepted: u64,
    /// Answered 200 without routing (probes, duplicates) since start.
    pub not_forwarded: u64,
    /// Refused (any 4xx or 5xx) since start.
    pub refused: u64,
    /// Accepted in the last minute (the current one and the one before
    /// it, weighted: a rate that does not drop to zero as a minute starts).
    pub accepted_last_minute: u64,
    /// Accepted per minute, the last [`MINUTES`] minutes, oldest first
    /// (the current minute last).
    pub accepted_per_minute: Vec<u64>,
    /// Refused per minute, likewise.
    pub refused_per_minute: Vec<u64>,
}

/// The tally of every source.
#[derive(Debug, Default)]
pub struct Tally {
    sources: Mutex<HashMap<String, Counts>>,
}

impl Tally {
    /// Counts one answer to `source` with its outcome word (see
    /// `metrics::RECEIVED`) at `now_ms`.
    pub fn record(&self, source: &str, outcome: &str, now_ms: i64) {
        let minute = now_ms.div_euclid(60_000);
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if !sources.contains_key(source) {
            sources.insert(
                source.to_owned(),
                Counts {
                    accepted: 0,
                    not_forwarded: 0,
                    refused: 0,
                    ring: [Slot::default(); MINUTES],
                },
            );
        }
        let Some(counts) = sources.get_mut(source) else {
            return;
        };
        let slot = &mut counts.ring[minute.rem_euclid(MINUTES as i64) as usize];
        if slot.minute != minute {
            *slot = Slot {
                minute,
                ..Slot::default()
            };
        }
        match outcome {
            "accepted" => {
                counts.accepted += 1;
                slot.accepted += 1;
            }
            "not_forwarded" => counts.not_forwarded += 1,
            _ => {
                counts.refused += 1;
                slot.refused += 1;
            }
        }
    }

    /// The figures of each source named in `names`, at `now_ms` (zeros
    /// for one that has seen nothing).
    pub fn figures<'n>(
        &self,
        names: impl Iterator<Item = &'n String>,
        now_ms: i64,
    ) -> HashMap<String, Figures> {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        names
            .map(|name| {
                let figures = sources
                    .get(name)
                    .map_or_else(empty, |counts| figures(counts, now_ms));
                (name.clone(), figures)
            })
            .collect()
    }
}

fn empty() -> Figures {
    Figures {
        accepted_per_minute: vec![0; MINUTES],
        refused_per_minute: vec![0; MINUTES],
        ..Figures::default()
    }
}

fn figures(counts: &Counts, now_ms: i64) -> Figures {
    let now = now_ms.div_euclid(60_000);
    let at = |minute: i64| {
        let slot = counts.ring[minute.rem_euclid(MINUTES as i64) as usize];
        if slot.minute == minute {
            slot
        } else {
            Slot::default()
        }
    };
    let minutes = (now - MINUTES as i64 + 1..=now).map(at);
    let (accepted_per_minute, refused_per_minute) =
        minutes.map(|s| (s.accepted, s.refused)).unzip();
    // The current minute so far, plus the part of the one before that the
    // last 60 seconds still cover.
    let into = now_ms.rem_euclid(60_000) as u64;
    let last_minute = at(now).accepted + at(now - 1).accepted * (60_000 - into) / 60_000;
    Figures {
        accepted: counts.accepted,
        not_forwarded: counts.not_forwarded,
        refused: counts.refused,
        accepted_last_minute: last_minute,
        accepted_per_minute,
        refused_per_minute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outcomes_per_minute_and_forgets_minutes_past_the_ring() {
        let tally = Tally::default();
        // A minute's start.
        let t0 = 1_800_000_000_000_i64;
        assert_eq!(t0 % 60_000, 0);
        tally.record("pbx", "accepted", t0);
        tally.record("pbx", "accepted", t0 + 1_000);
        tally.record("pbx", "unauthorized", t0 + 2_000);
        tally.record("pbx", "not_forwarded", t0 + 3_000);
        tally.record("pbx", "accepted", t0 + 60_000);
        let names = ["pbx".to_owned(), "crm".to_owned()];
        let all = tally.figures(names.iter(), t0 + 90_000);
        let pbx = &all["pbx"];
        assert_eq!((pbx.accepted, pbx.refused, pbx.not_forwarded), (3, 1, 1));
        assert_eq!(pbx.accepted_per_minute[MINUTES - 1], 1);
        assert_eq!(pbx.accepted_per_minute[MINUTES - 2], 2);
        assert_eq!(pbx.refused_per_minute[MINUTES - 2], 1);
        // Half of the minute before still counts.
        assert_eq!(pbx.accepted_last_minute, 2);
        assert_eq!(all["crm"], empty());
        let later = tally.figures(names.iter(), t0 + 61 * 60_000);
        assert_eq!(later["pbx"].accepted_per_minute, vec![0; MINUTES]);
        assert_eq!(later["pbx"].accepted, 3);
    }
}
