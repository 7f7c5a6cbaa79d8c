use std::time::Duration;

use super::*;

const T0: i64 = 1_700_000_040_000; // a minute's start

#[test]
fn counts_land_in_their_minute_and_old_minutes_are_forgotten() {
    let mut ring = Ring::default();
    ring.attempt(T0, Outcome::Delivered, Duration::from_millis(3));
    ring.attempt(T0 + 59_000, Outcome::Retry, Duration::from_millis(30));
    ring.attempt(T0 + 60_000, Outcome::Dead, Duration::from_millis(3));
    ring.waited(T0 + 60_000);
    let points = ring.points(T0 + 60_000, 3);
    assert_eq!(points.len(), 3);
    assert_eq!(points[1].minute_ms, T0);
    assert_eq!((points[1].delivered, points[1].retry), (1, 1));
    assert_eq!((points[2].dead, points[2].rate_limit_waits), (1, 1));
    assert_eq!(
        points[0],
        Point {
            minute_ms: T0 - 60_000,
            ..Point::default()
        }
    );
    // A day later the same slot holds a new minute: the old counts are gone.
    let day = MINUTES as i64 * 60_000;
    ring.attempt(T0 + day, Outcome::Parked, Duration::from_millis(3));
    let totals = ring.totals(T0 + day, MINUTES);
    assert_eq!((totals.delivered, totals.failed), (0, 2), "{totals:?}");
}

#[test]
fn totals_sum_failures_and_estimate_percentiles() {
    let mut ring = Ring::default();
    for _ in 0..99 {
        ring.attempt(T0, Outcome::Delivered, Duration::from_millis(8));
    }
    ring.attempt(T0, Outcome::Retry, Duration::from_millis(1500));
    let totals = ring.totals(T0 + 1, 5);
    assert_eq!((totals.delivered, totals.failed), (99, 1));
    let p50 = totals.p50_ms.unwrap();
    assert!((5.0..=10.0).contains(&p50), "{p50}");
    let p99 = totals.p99_ms.unwrap();
    assert!((5.0..=10.0).contains(&p99), "{p99}");
    assert_eq!(ring.totals(T0 + 6 * 60_000, 5), Totals::default());
}

#[test]
fn slow_attempts_read_as_the_last_bound() {
    let mut ring = Ring::default();
    ring.attempt(T0, Outcome::Retry, Duration::from_secs(120));
    assert_eq!(ring.totals(T0, 1).p99_ms, Some(60_000.0));
}

#[test]
fn an_idle_ring_holds_no_slots() {
    let ring = Ring::default();
    assert!(ring.slots.is_empty());
    assert_eq!(ring.points(T0, 2).len(), 2);
}
