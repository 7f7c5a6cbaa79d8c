//! A target's rate limit as this relay applies it: the one place a worker
//! waits for the limiter before an attempt.
//!
//! When several replicas share a target (PostgreSQL spool), each sends at
//! its part of the configured rate ([`Limit::split`]); the part is built
//! once per share and rate and kept until either changes. Must not decide
//! what to send, nor count attempts: it only says when the next may go.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::DefaultDirectRateLimiter;

use crate::dispatch::series::Series;
use crate::dispatch::target::{Limit, Target};

/// One worker's pacing: the part of its target's limit it applies while
/// several replicas share the target.
#[derive(Default)]
pub(super) struct Pace {
    /// `(share, configured limit, this relay's part)`, while `share > 1`.
    split: Option<(NonZeroU32, Limit, Limit)>,
}

impl Pace {
    /// Waits until `target`'s rate limit lets one more attempt go, when
    /// `share` relays send to it. Counts the attempts that had to wait, in
    /// the metrics and in the target's `series`.
    pub(super) async fn wait(&mut self, target: &Target, share: NonZeroU32, series: &Series) {
        let Some(limiter) = self.limiter(target, share) else {
            return;
        };
        if limiter.check().is_err() {
            crate::metrics::rate_limited(&target.name);
            series.with(|ring| ring.waited(crate::time::now_ms()));
            limiter.until_ready().await;
        }
    }

    /// The limiter to wait for: this relay's part of the target's limit when
    /// several relays share it, else the target's own (also when the part
    /// does not fit a quota); `None` without a limit.
    fn limiter(
        &mut self,
        target: &Target,
        share: NonZeroU32,
    ) -> Option<Arc<DefaultDirectRateLimiter>> {
        let limit = target.limit.as_ref()?;
        if share.get() == 1 {
            self.split = None;
            return Some(limit.limiter.clone());
        }
        if let Some((s, of, part)) = &self.split
            && *s == share
            && of.rate == limit.rate
            && of.burst == limit.burst
        {
            return Some(part.limiter.clone());
        }
        let Some(part) = limit.split(share) else {
            return Some(limit.limiter.clone());
        };
        let limiter = part.limiter.clone();
        self.split = Some((share, limit.clone(), part));
        Some(limiter)
    }
}
