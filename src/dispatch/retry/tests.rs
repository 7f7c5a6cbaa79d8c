//! Tests of `dispatch/retry.rs`.

use super::*;
use crate::config::RetryConfig;
use crate::config::problems::Problems;

fn cfg(yaml: &str) -> RetryConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

fn policy(yaml: &str) -> RetryPolicy {
    let mut problems = Problems::default();
    let policy = compile(&cfg(yaml), "server.retry", &mut problems);
    assert!(problems.is_empty(), "{problems}");
    policy.unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn defaults_are_twelve_attempts_from_5s_capped_at_6h() {
    let p = policy("{}");
    assert_eq!(p, RetryPolicy::default());
    assert_eq!(p.attempts().get(), 12);
    assert_eq!(p.backoff(), &Backoff::Exponential { first: secs(5) });
    assert_eq!(p.max(), secs(6 * 3600));
}

#[test]
fn exponential_waits_stay_under_a_doubling_bound_capped_by_max() {
    let p = policy("{attempts: 100, first: 5s, max: 1h}");
    let mut rng = fastrand::Rng::with_seed(7);
    for made in 1..100u32 {
        let bound = secs(5)
            .saturating_mul(1u32.checked_shl(made - 1).unwrap_or(u32::MAX))
            .min(secs(3600));
        let wait = p.next_delay(made, None, &mut rng).unwrap();
        assert!(wait <= bound, "attempt {made}: {wait:?} > {bound:?}");
    }
    // Attempt 60 and beyond: no overflow, still within max.
    for made in [33, 60, 64, 99] {
        assert!(p.next_delay(made, None, &mut rng).unwrap() <= secs(3600));
    }
}

#[test]
fn full_jitter_covers_the_whole_range() {
    let p = policy("{first: 10s}");
    let mut rng = fastrand::Rng::with_seed(7);
    let waits: Vec<Duration> = (0..1000)
        .map(|_| p.next_delay(3, None, &mut rng).unwrap())
        .collect();
    // Third retry: bound 40s; full jitter reaches near both ends.
    assert!(waits.iter().all(|w| *w <= secs(40)));
    assert!(waits.iter().any(|w| *w < secs(2)));
    assert!(waits.iter().any(|w| *w > secs(38)));
}

#[test]
fn same_seed_same_waits() {
    let p = policy("{}");
    let run = || {
        let mut rng = fastrand::Rng::with_seed(7);
        (1..12)
            .map(|n| p.next_delay(n, None, &mut rng))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn next_delay_table() {
    let exp = policy("{attempts: 3, first: 1s, max: 1m}");
    let sched = policy("{schedule: [5s, 5m, 30m, 2h], max: 3h}");
    let mut rng = fastrand::Rng::with_seed(7);
    let cases: &[(&RetryPolicy, u32, Option<Duration>, Option<Duration>)] = &[
        // The first attempt does not wait.
        (&exp, 0, None, Some(Duration::ZERO)),
        // Retry-After wins, clamped to max.
        (&exp, 1, Some(secs(30)), Some(secs(30))),
        (&exp, 2, Some(secs(7200)), Some(secs(60))),
        (&exp, 1, Some(Duration::ZERO), Some(Duration::ZERO)),
        // Give up at the limit, Retry-After or not.
        (&exp, 3, None, None),
        (&exp, 3, Some(secs(1)), None),
        (&exp, u32::MAX, None, None),
        // A schedule is used as written; its length sets the attempts.
        (&sched, 1, None, Some(secs(5))),
        (&sched, 2, None, Some(secs(300))),
        (&sched, 3, None, Some(secs(1800))),
        (&sched, 4, None, Some(secs(7200))),
        (&sched, 4, Some(secs(99_999)), Some(secs(3 * 3600))),
        (&sched, 5, None, None),
    ];
    for (i, (p, made, after, want)) in cases.iter().enumerate() {
        assert_eq!(p.next_delay(*made, *after, &mut rng), *want, "case {i}");
    }
    assert_eq!(sched.attempts().get(), 5);
}

#[test]
fn retries_status_table() {
    let default = policy("{}");
    let custom = policy("{retry_on: [409, \"425\", \"4XX\"]}");
    let none = policy("{retry_on: []}");
    let cases: &[(&RetryPolicy, u16, bool)] = &[
        (&default, 408, true),
        (&default, 429, true),
        (&default, 500, true),
        (&default, 503, true),
        (&default, 599, true),
        (&default, 400, false),
        (&default, 404, false),
        (&default, 200, false),
        (&custom, 409, true),
        (&custom, 404, true),
        (&custom, 503, false),
        (&none, 503, false),
    ];
    for (p, status, want) in cases {
        assert_eq!(p.retries_status(*status), *want, "{status}");
    }
}

#[test]
fn parses_retry_after_seconds_and_dates() {
    let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
    let cases: &[(&str, Option<Duration>)] = &[
        ("120", Some(secs(120))),
        (" 0 ", Some(Duration::ZERO)),
        ("99999999999999999999999", Some(secs(u64::MAX))),
        ("Wed, 21 Oct 2015 07:30:00 GMT", Some(secs(120))),
        ("Wed, 21 Oct 2015 07:28:00 GMT", Some(Duration::ZERO)),
        ("Tue, 20 Oct 2015 07:28:00 GMT", Some(Duration::ZERO)),
        // RFC 850 and asctime, which HTTP/1.1 still asks us to read.
        ("Wednesday, 21-Oct-15 07:29:00 GMT", Some(secs(60))),
        ("Wed Oct 21 07:29:30 2015", Some(secs(90))),
        ("", None),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),
    ];
    for (value, want) in cases {
        assert_eq!(parse_retry_after(value, now), *want, "{value:?}");
    }
}

#[test]
fn each_rejection_names_its_place_and_shows_an_example() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "{attempts: 0}",
            "server.retry.attempts",
            "e.g. `attempts: 12`",
        ),
        ("{first: 0s}", "server.retry.first", "e.g. `first: 5s`"),
        (
            "{first: soon}",
            "server.retry.first",
            "is not a duration (e.g. 500ms",
        ),
        ("{max: 0s}", "server.retry.max", "e.g. `max: 6h`"),
        (
            "{first: 10h}",
            "server.retry.first",
            "`10h` is longer than `max` (6h); e.g. `first: 5s`",
        ),
        (
            "{first: 2m, max: 1m}",
            "server.retry.first",
            "`2m` is longer than `max` (1m)",
        ),
        (
            "{schedule: []}",
            "server.retry.schedule",
            "lists no waits; e.g. `schedule: [5s, 5m, 30m, 2h]`",
        ),
        (
            "{schedule: [5s], attempts: 3}",
            "server.retry.schedule",
            "`first` and `attempts` cannot be set with it",
        ),
        (
            "{schedule: [5s], first: 1s}",
            "server.retry.schedule",
            "`first` and `attempts` cannot be set with it",
        ),
        (
            "{schedule: [5s, 7h]}",
            "server.retry.schedule[1]",
            "`7h` is longer than `max` (6h)",
        ),
        (
            "{schedule: [5s, later]}",
            "server.retry.schedule[1]",
            "is not a duration (e.g. 500ms",
        ),
        (
            "{retry_on: [\"6xx\"]}",
            "server.retry.retry_on[0]",
            "`6xx` is not a status to retry: give a code from 400 to 599 or the \
             class \"4xx\" or \"5xx\", e.g. `retry_on: [408, 429, \"5xx\"]`",
        ),
        (
            "{retry_on: [503, 99]}",
            "server.retry.retry_on[1]",
            "`99` is not a status",
        ),
        (
            "{retry_on: [abc]}",
            "server.retry.retry_on[0]",
            "`abc` is not a status",
        ),
        (
            "{retry_on: [-1]}",
            "server.retry.retry_on[0]",
            "`-1` is not a status",
        ),
        (
            "{retry_on: [200]}",
            "server.retry.retry_on[0]",
            "`200` is not a status",
        ),
        (
            "{retry_on: [70000]}",
            "server.retry.retry_on[0]",
            "`70000` is not",
        ),
    ];
    for (yaml, place, message) in cases {
        let mut problems = Problems::default();
        assert!(
            compile(&cfg(yaml), "server.retry", &mut problems).is_none(),
            "{yaml}"
        );
        let problem = problems.iter().next().unwrap();
        assert_eq!(problem.place, *place, "{yaml}");
        assert!(
            problem.message.contains(message),
            "{yaml}: {:?} lacks {message:?}",
            problem.message
        );
    }
}

#[test]
fn reports_every_problem_with_its_line() {
    let yaml = "attempts: 0\nfirst: 0s\nretry_on: [408, 6xx]\n";
    let mut problems = Problems::default();
    assert!(compile(&cfg(yaml), "targets.crm.retry", &mut problems).is_none());
    let found: Vec<_> = problems
        .iter()
        .map(|p| (p.place.as_str(), p.position.map(|(line, _)| line)))
        .collect();
    assert_eq!(
        found,
        [
            ("targets.crm.retry.attempts", None),
            ("targets.crm.retry.first", Some(2)),
            ("targets.crm.retry.retry_on[1]", Some(3)),
        ]
    );
}

#[test]
fn unknown_keys_are_rejected_by_the_parser() {
    assert!(serde_saphyr::from_str::<RetryConfig>("{attempt: 3}").is_err());
}

#[test]
fn a_target_overrides_the_server_field_by_field() {
    let over = |server: &str, target: &str| {
        let base = policy(server);
        let mut problems = Problems::default();
        let p = compile_over(&cfg(target), &base, "targets.crm.retry", &mut problems);
        (p, problems)
    };
    let ok = |server: &str, target: &str| {
        let (p, problems) = over(server, target);
        assert!(problems.is_empty(), "{problems}");
        p.unwrap()
    };

    // Unset fields inherit.
    let p = ok(
        "{attempts: 4, first: 2s, max: 1h, retry_on: [503]}",
        "{first: 3s}",
    );
    assert_eq!(p.attempts().get(), 4);
    assert_eq!(p.backoff(), &Backoff::Exponential { first: secs(3) });
    assert_eq!(p.max(), secs(3600));
    assert!(p.retries_status(503) && !p.retries_status(502));

    // retry_on replaces the list rather than adding to it.
    let p = ok("{retry_on: [503]}", "{retry_on: [\"4xx\"]}");
    assert!(p.retries_status(404) && !p.retries_status(503));

    // A target's schedule replaces the server's first and attempts.
    let p = ok("{attempts: 4, first: 2s}", "{schedule: [1m]}");
    assert_eq!(p.attempts().get(), 2);
    assert_eq!(p.backoff(), &Backoff::Schedule(vec![secs(60)]));

    // A target's attempts turn a server schedule into exponential backoff
    // from the schedule's first wait.
    let p = ok("{schedule: [10s, 1m]}", "{attempts: 6}");
    assert_eq!(p.attempts().get(), 6);
    assert_eq!(p.backoff(), &Backoff::Exponential { first: secs(10) });

    // A target's max must still cover what it inherits.
    let (p, problems) = over("{schedule: [10s, 2h]}", "{max: 1h}");
    assert!(p.is_none());
    let problem = problems.iter().next().unwrap();
    assert_eq!(problem.place, "targets.crm.retry.max");
    assert!(
        problem
            .message
            .contains("shorter than the inherited wait of 2h")
    );

    // ...and a schedule it sets must fit the max it inherits.
    let (p, problems) = over("{max: 1h}", "{schedule: [2h]}");
    assert!(p.is_none());
    assert_eq!(
        problems.iter().next().unwrap().place,
        "targets.crm.retry.schedule[0]"
    );
}

#[test]
fn shows_durations_as_written() {
    let cases = [
        (secs(21_600), "6h"),
        (secs(86_400), "1d"),
        (secs(90), "90s"),
        (secs(120), "2m"),
        (Duration::from_millis(250), "250ms"),
        (Duration::ZERO, "0ms"),
    ];
    for (d, want) in cases {
        assert_eq!(show(d), want);
    }
}
