//! Which tail events one watcher asked for (`?source=&target=&outcome=`),
//! decided on the server so that a watcher of one quiet target is not sent
//! the whole relay's traffic. Pure: no publishing, no HTTP.
//!
//! Attempts do not carry their webhook's source, so a `source` filter
//! remembers the ids of the last [`REMEMBERED`] webhooks it let through and
//! lets their attempts through too: attempts of webhooks accepted before
//! the watcher came are not shown under a `source` filter.

use std::collections::{HashSet, VecDeque};

use super::Event;

/// Webhook ids a `source` filter remembers, at most.
const REMEMBERED: usize = 4096;

/// The attempt outcomes an `outcome` filter may name.
pub const OUTCOMES: [&str; 4] = ["delivered", "retry", "dead", "parked"];

/// One watcher's filter, and what it remembers.
#[derive(Debug, Default)]
pub struct TailFilter {
    /// Only this source's webhooks (and their attempts).
    pub source: Option<String>,
    /// Only what concerns this target.
    pub target: Option<String>,
    /// Only attempts with one of these outcomes.
    pub outcomes: Vec<String>,
    /// Webhooks of `source` let through, newest last.
    seen: VecDeque<String>,
    seen_set: HashSet<String>,
}

/// A filter that names something that cannot match.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("outcome `{0}` is not one of delivered, retry, dead, parked")]
    Outcome(String),
}

impl TailFilter {
    /// A filter; `outcomes` is a comma-separated list, or empty for all.
    pub fn new(
        source: Option<String>,
        target: Option<String>,
        outcomes: Option<&str>,
    ) -> Result<TailFilter, FilterError> {
        let outcomes: Vec<String> = outcomes
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = outcomes.iter().find(|o| !OUTCOMES.contains(&o.as_str())) {
            return Err(FilterError::Outcome(bad.clone()));
        }
        Ok(TailFilter {
            source: source.filter(|s| !s.is_empty()),
            target: target.filter(|t| !t.is_empty()),
            outcomes,
            ..TailFilter::default()
        })
    }

    /// Whether `event` goes to this watcher.
    pub fn admits(&mut self, event: &Event) -> bool {
        let target = self.target.as_deref();
        match event {
            Event::Accepted(a) => {
                let ok = self.outcomes.is_empty()
                    && self.source.as_ref().is_none_or(|s| *s == a.source)
                    && target.is_none_or(|t| a.targets.iter().any(|x| x == t));
                if ok && self.source.is_some() {
                    self.remember(&a.id);
                }
                ok
            }
            Event::Attempt(a) | Event::DeadLetter(a) => {
                target.is_none_or(|t| t == a.target)
                    && (self.outcomes.is_empty() || self.outcomes.iter().any(|o| o == a.outcome))
                    && (self.source.is_none() || self.seen_set.contains(&a.id))
            }
            Event::Paused(t) | Event::Resumed(t) | Event::Probe(t) => {
                self.source.is_none()
                    && self.outcomes.is_empty()
                    && target.is_none_or(|x| x == t.target)
            }
            // A reload concerns every source and target.
            Event::Reload { .. } => self.outcomes.is_empty(),
        }
    }

    fn remember(&mut self, id: &str) {
        if self.seen.len() == REMEMBERED
            && let Some(old) = self.seen.pop_front()
        {
            self.seen_set.remove(&old);
        }
        self.seen.push_back(id.to_owned());
        self.seen_set.insert(id.to_owned());
    }
}
