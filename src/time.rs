//! Wall-clock time as the spool, the logs and the wire write it: unix
//! milliseconds and seconds.
//!
//! Decisions that need "now" take it as an argument (see `dispatch::retry`);
//! only the edges (ingress, dispatch, the spool writers, the CLI) read the
//! clock, through here. Must not sleep or measure intervals: `Instant` is for
//! that.

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` in milliseconds since the Unix epoch; 0 for a time before it.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}

/// Now, in whole seconds since the Unix epoch (signature timestamps).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Unix milliseconds as an RFC 3339 time in UTC, to the millisecond
/// (`2026-11-01T14:03:07.250Z`); a time before the epoch shows the epoch.
pub fn rfc3339_ms(ms: i64) -> String {
    let at = UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}
