//! Rate limits as compiled: a `rate` with its `burst`, for targets and
//! sources alike, and the governor quota they make.
//!
//! [`RateLimit::compile`] is the one place `rate` and `burst` are checked;
//! a [`RateLimit`] is valid by construction, so [`RateLimit::quota`] cannot
//! fail. Building limiters and keeping them across a reload is the caller's
//! business (`dispatch/target.rs`, `ingress/throttle.rs`).

use std::num::NonZeroU32;

use governor::Quota;

use crate::config::Located;
use crate::config::problems::Problems;
use crate::config::units::{self, Rate};

/// A checked `rate` and `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per period; at most one per nanosecond ([`units::rate`]
    /// refuses more).
    pub rate: Rate,
    /// Requests allowed at once above the steady rate.
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// Compiles `rate` and `burst` at `place` (`targets.NAME`,
    /// `sources.NAME`). `Some(None)`: no limit; `None`: a problem, pushed.
    /// Without a burst, the rate's count is the burst.
    pub fn compile(
        rate: Option<&Located<String>>,
        burst: Option<u32>,
        place: &str,
        problems: &mut Problems,
    ) -> Option<Option<RateLimit>> {
        let Some(text) = rate else {
            if burst.is_some() {
                problems.push(format!("{place}.burst"), None, "`burst` needs a `rate`");
                return None;
            }
            return Some(None);
        };
        let rate = units::rate(&text.value)
            .map_err(|e| problems.push(format!("{place}.rate"), Some(&text.referenced), e))
            .ok()?;
        let Some(burst) = NonZeroU32::new(burst.unwrap_or(rate.count.get())) else {
            problems.push(format!("{place}.burst"), None, "must be at least 1");
            return None;
        };
        Some(Some(RateLimit { rate, burst }))
    }

    /// One relay's part when `share` relays send to the same target: the
    /// period stretched `share` times, the burst divided (at least 1).
    /// `None` when the stretched period does not fit a `Duration`.
    pub fn split(&self, share: NonZeroU32) -> Option<RateLimit> {
        let rate = Rate {
            count: self.rate.count,
            per: self.rate.per.checked_mul(share.get())?,
        };
        let burst = self.burst.get().div_ceil(share.get());
        Some(RateLimit {
            rate,
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        })
    }

    /// The governor quota: one cell every `per / count`, `burst` at once.
    pub fn quota(&self) -> Quota {
        let period = self.rate.per / self.rate.count.get();
        // `units::rate` refuses a period under a nanosecond, and a split only
        // stretches it, so the fallback (the fastest quota there is) is never
        // taken; it keeps this function total.
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(self.burst)
    }
}
