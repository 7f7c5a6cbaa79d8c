//! Per-source ingress rate limits, keyed by client address.
//!
//! One governor keyed limiter per source: each client address gets its own
//! budget, so one noisy client cannot use up another's. IPv6 clients are
//! keyed by their /64 (one host can hold a whole /64), and idle keys are
//! pruned every minute, so the key space an attacker can fill stays bounded.

use std::net::IpAddr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, RateLimiter};

use crate::config::units::Rate;
use crate::rate::RateLimit;

/// A compiled `sources.NAME.rate`.
#[derive(Debug)]
pub struct ClientLimit {
    /// The configured rate.
    pub rate: Rate,
    /// The configured burst.
    pub burst: u32,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl ClientLimit {
    /// A limiter allowing `settings.rate` per client with bursts of
    /// `settings.burst`.
    pub fn new(settings: RateLimit) -> ClientLimit {
        ClientLimit {
            rate: settings.rate,
            burst: settings.burst.get(),
            limiter: RateLimiter::keyed(settings.quota()),
            clock: DefaultClock::default(),
        }
    }

    /// Whether this limiter was built from `settings`, so that a reload may
    /// keep it (and the budgets its clients have spent).
    pub fn is(&self, settings: RateLimit) -> bool {
        self.rate == settings.rate && self.burst == settings.burst.get()
    }

    /// `Ok` if `ip` may send now; otherwise how long until it may.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&key(ip))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets clients whose budget is full again.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Clients currently tracked.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// IPv4 addresses as they are; IPv6 by their /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_has_its_own_budget_and_v6_counts_per_64() {
        let limit = ClientLimit::new(RateLimit {
            rate: crate::config::units::rate("1/min").unwrap(),
            burst: std::num::NonZeroU32::new(2).unwrap(),
        });
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        assert!(limit.check(a).is_ok());
        assert!(limit.check(a).is_ok());
        let wait = limit.check(a).unwrap_err();
        assert!(
            // One cell per minute, two at once: the third waits about a minute.
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(limit.check(b).is_ok(), "another client is not affected");
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!(limit.check(v6a).is_ok());
        assert!(limit.check(v6b).is_ok());
        assert!(limit.check(v6a).is_err(), "the same /64 shares a budget");
        assert_eq!(limit.tracked(), 3);
    }
}
