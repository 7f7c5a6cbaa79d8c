//! One compiled target: where to send, with which headers, how fast and how
//! many at once.
//!
//! Built from `targets.NAME` at start-up and on reload (`target/compile.rs`);
//! never sends anything itself (`deliver.rs` does). A target whose rate and
//! concurrency did not change across a reload keeps its limiter and
//! semaphore, so a reload neither resets a rate limit nor lets a burst
//! through.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, RateLimiter};
use http::{HeaderMap, Method};
use tokio::sync::Semaphore;
use url::Url;

use crate::config::units::Rate;
use crate::dispatch::circuit::CircuitPolicy;
use crate::dispatch::retry::RetryPolicy;
use crate::dispatch::sign::Signer;
use crate::rate::RateLimit;

mod compile;

pub(crate) use compile::header_map;
pub use compile::{Defaults, compile};

/// A compiled target.
#[derive(Debug)]
pub struct Target {
    /// Its name in `routes.yaml`.
    pub name: String,
    /// Where to send.
    pub url: Url,
    /// The URL came from the environment or a file: show no path.
    pub url_secret: bool,
    /// Usually POST.
    pub method: Method,
    /// Extra headers; every value is marked sensitive so it never shows in
    /// debug output.
    pub headers: HeaderMap,
    /// Time for one attempt.
    pub timeout: Duration,
    /// The rate limit, if any.
    pub limit: Option<Limit>,
    /// Attempts in flight at once.
    pub concurrency: Arc<Semaphore>,
    /// The configured concurrency, to tell whether a reload changed it.
    pub concurrency_max: u32,
    /// When and how often to retry.
    pub retry: RetryPolicy,
    /// When to stop sending for a while.
    pub circuit: CircuitPolicy,
    /// Signs every delivery (`webhook-signature`), when configured.
    pub sign: Option<Signer>,
    /// The first bytes of each response body kept in the history.
    pub response_bytes: usize,
    /// Whether attempts carry `traceparent` and `tracestate` (when tracing
    /// is on).
    pub propagate_trace: bool,
}

/// A rate limiter with the settings it was built from.
#[derive(Debug, Clone)]
pub struct Limit {
    /// The configured rate.
    pub rate: Rate,
    /// The configured burst.
    pub burst: u32,
    /// Shared with the previous snapshot when unchanged.
    pub limiter: Arc<DefaultDirectRateLimiter>,
}

impl Limit {
    /// A new limiter for `settings`.
    pub fn new(settings: RateLimit) -> Limit {
        Limit {
            rate: settings.rate,
            burst: settings.burst.get(),
            limiter: Arc::new(RateLimiter::direct(settings.quota())),
        }
    }

    /// `previous`'s limiter when its settings are these (a reload neither
    /// resets a rate limit nor lets a burst through), else a new one.
    fn reuse(previous: Option<&Target>, settings: RateLimit) -> Limit {
        previous
            .and_then(|p| p.limit.as_ref())
            .filter(|l| l.rate == settings.rate && l.burst == settings.burst.get())
            .cloned()
            .unwrap_or_else(|| Limit::new(settings))
    }

    /// One relay's part when `share` relays send to the same target: the
    /// period stretched `share` times, the burst divided (at least 1).
    /// `None` when the stretched period does not fit a quota.
    pub fn split(&self, share: NonZeroU32) -> Option<Limit> {
        let burst = NonZeroU32::new(self.burst)?;
        RateLimit {
            rate: self.rate,
            burst,
        }
        .split(share)
        .map(Limit::new)
    }
}

/// `url` without user info or query: its scheme, host and port, then its
/// path when `show_path`, `/<redacted>` in its place otherwise. The one
/// redaction of target URLs (the status API, `explain`).
pub fn redact_url(url: &Url, show_path: bool) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    if show_path {
        shown.push_str(url.path());
    } else {
        shown.push_str("/<redacted>");
    }
    shown
}

impl Target {
    /// The URL for status pages and logs: no user info or query, and no
    /// path when the URL came from a secret (chat webhook URLs carry their
    /// token in the path).
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url, !self.url_secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units;

    fn limit(rate: &str, burst: u32) -> Limit {
        Limit::new(RateLimit {
            rate: units::rate(rate).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        })
    }

    #[test]
    fn a_shared_limit_gives_each_replica_its_part() {
        let cases = [
            // rate, burst, replicas -> period per request, burst
            ("10/s", 10, 1, Duration::from_millis(100), 10),
            ("10/s", 10, 2, Duration::from_millis(200), 5),
            ("10/s", 10, 3, Duration::from_millis(300), 4),
            ("1/s", 1, 4, Duration::from_secs(4), 1),
        ];
        for (rate, burst, share, period, part_burst) in cases {
            let part = limit(rate, burst)
                .split(NonZeroU32::new(share).unwrap())
                .unwrap();
            assert_eq!(
                (part.rate.per / part.rate.count.get(), part.burst),
                (period, part_burst),
                "{rate} burst {burst} over {share}"
            );
        }
    }
}
