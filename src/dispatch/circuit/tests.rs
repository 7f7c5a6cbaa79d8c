//! Tests of `dispatch/circuit.rs`.

use super::*;
use crate::config::CircuitConfig;
use crate::config::problems::Problems;

fn cfg(yaml: &str) -> CircuitConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

fn policy(yaml: &str) -> CircuitPolicy {
    let mut problems = Problems::default();
    let policy = compile(&cfg(yaml), "server.circuit", &mut problems);
    assert!(problems.is_empty(), "{problems}");
    policy.unwrap()
}

/// What a step expects `permit` to answer, in seconds from the start.
#[derive(Debug, Clone, Copy)]
enum Want {
    Go,
    Probe,
    WaitUntil(u64),
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Ask at second `n`.
    Ask(u64, Want),
    /// A failure at second `n`.
    Fail(u64),
    Succeed,
}
use Step::*;
use Want::*;

/// Runs `steps` on a circuit (3 failures, 10s cooldown) and checks each
/// answer and the label after each step.
fn run(name: &str, steps: &[(Step, &str)]) {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut circuit = Circuit::new(policy("{failures: 3, cooldown: 10s}"));
    for (i, (step, label)) in steps.iter().enumerate() {
        match *step {
            Ask(s, want) => {
                let want = match want {
                    Go => Permit::Go,
                    Probe => Permit::Probe,
                    WaitUntil(u) => Permit::Wait { until: at(u) },
                };
                assert_eq!(circuit.permit(at(s)), want, "{name}: step {i}");
            }
            Fail(s) => circuit.record_failure(at(s)),
            Succeed => circuit.record_success(),
        }
        assert_eq!(circuit.status().label(), *label, "{name}: step {i}");
    }
}

#[test]
fn circuit_table() {
    let cases: &[(&str, &[(Step, &str)])] = &[
        (
            "opens_after_n_consecutive_failures_and_waits_out_the_cooldown",
            &[
                (Ask(0, Go), "closed"),
                (Fail(0), "closed"),
                (Fail(1), "closed"),
                (Ask(1, Go), "closed"),
                (Fail(2), "open"),
                (Ask(2, WaitUntil(12)), "open"),
                (Ask(11, WaitUntil(12)), "open"),
            ],
        ),
        (
            "exactly_one_probe_after_the_cooldown",
            &[
                (Fail(0), "closed"),
                (Fail(0), "closed"),
                (Fail(0), "open"),
                (Ask(10, Probe), "half_open"),
                (Ask(10, WaitUntil(20)), "half_open"),
                (Ask(15, WaitUntil(20)), "half_open"),
            ],
        ),
        (
            "probe_success_closes",
            &[
                (Fail(0), "closed"),
                (Fail(0), "closed"),
                (Fail(0), "open"),
                (Ask(10, Probe), "half_open"),
                (Succeed, "closed"),
                (Ask(11, Go), "closed"),
                // The count starts over.
                (Fail(11), "closed"),
                (Fail(11), "closed"),
                (Fail(11), "open"),
                (Ask(11, WaitUntil(21)), "open"),
            ],
        ),
        (
            "probe_failure_reopens_for_a_doubling_capped_cooldown",
            &[
                (Fail(0), "closed"),
                (Fail(0), "closed"),
                (Fail(0), "open"),
                (Ask(10, Probe), "half_open"),
                (Fail(11), "open"),
                (Ask(12, WaitUntil(31)), "open"),
                (Ask(31, Probe), "half_open"),
                (Fail(31), "open"),
                (Ask(31, WaitUntil(71)), "open"),
                (Ask(71, Probe), "half_open"),
                // 8x would be 80s; capped at the default max_cooldown, 1m.
                (Fail(71), "open"),
                (Ask(71, WaitUntil(131)), "open"),
                (Ask(131, Probe), "half_open"),
                (Fail(131), "open"),
                (Ask(131, WaitUntil(191)), "open"),
                // Success forgets the stretching.
                (Ask(191, Probe), "half_open"),
                (Succeed, "closed"),
                (Fail(400), "closed"),
                (Fail(400), "closed"),
                (Fail(400), "open"),
                (Ask(400, WaitUntil(410)), "open"),
            ],
        ),
        (
            "a_success_in_between_resets_the_count",
            &[
                (Fail(0), "closed"),
                (Fail(1), "closed"),
                (Succeed, "closed"),
                (Fail(2), "closed"),
                (Fail(3), "closed"),
                (Ask(3, Go), "closed"),
                (Fail(4), "open"),
            ],
        ),
        (
            "late_failures_while_open_do_not_extend_the_cooldown",
            &[
                (Fail(0), "closed"),
                (Fail(0), "closed"),
                (Fail(0), "open"),
                (Fail(5), "open"),
                (Ask(9, WaitUntil(10)), "open"),
                (Ask(10, Probe), "half_open"),
            ],
        ),
        (
            "a_lost_probe_is_replaced_after_one_cooldown",
            &[
                (Fail(0), "closed"),
                (Fail(0), "closed"),
                (Fail(0), "open"),
                (Ask(10, Probe), "half_open"),
                (Ask(19, WaitUntil(20)), "half_open"),
                (Ask(20, Probe), "half_open"),
                (Ask(20, WaitUntil(30)), "half_open"),
            ],
        ),
    ];
    for (name, steps) in cases {
        run(name, steps);
    }
}

#[test]
fn reconfigure_keeps_the_state() {
    let t0 = Instant::now();
    let mut circuit = Circuit::new(policy("{failures: 5}"));
    circuit.record_failure(t0);
    circuit.reconfigure(policy("{failures: 2, cooldown: 1m}"));
    circuit.record_failure(t0);
    assert_eq!(
        circuit.state(),
        &State::Open {
            until: t0 + Duration::from_secs(60)
        }
    );
}

#[test]
fn defaults_are_5_failures_and_30s_doubling_up_to_1m() {
    let p = policy("{}");
    assert_eq!(p, CircuitPolicy::default());
    assert_eq!(p.failures().get(), 5);
    assert_eq!(p.cooldown(), Duration::from_secs(30));
    assert_eq!(p.max_cooldown(), Duration::from_secs(60));
}

#[test]
fn failed_probes_double_the_cooldown_up_to_max_cooldown() {
    let s = Duration::from_secs;
    let cases: &[(&str, &[(u32, Duration)])] = &[
        ("{}", &[(0, s(30)), (1, s(60)), (2, s(60)), (30, s(60))]),
        (
            "{cooldown: 5s, max_cooldown: 1m}",
            &[(0, s(5)), (1, s(10)), (3, s(40)), (4, s(60)), (9, s(60))],
        ),
        (
            "{cooldown: 10s, max_cooldown: 10s}",
            &[(0, s(10)), (1, s(10)), (5, s(10))],
        ),
        // Longer than the default max_cooldown: used as it is.
        ("{cooldown: 5m}", &[(0, s(300)), (1, s(300)), (7, s(300))]),
        // However many probes failed, no overflow and no more than a day.
        (
            "{cooldown: 1d, max_cooldown: 1d}",
            &[(31, s(86_400)), (32, s(86_400)), (u32::MAX, s(86_400))],
        ),
        (
            "{cooldown: 1s, max_cooldown: 1d}",
            &[(16, s(65_536)), (17, s(86_400)), (u32::MAX, s(86_400))],
        ),
    ];
    for (yaml, steps) in cases {
        let p = policy(yaml);
        for (failed, want) in *steps {
            assert_eq!(p.cooldown_after(*failed), *want, "{yaml} after {failed}");
        }
    }
}

#[test]
fn a_target_that_stays_down_is_probed_at_least_once_per_max_cooldown() {
    let t0 = Instant::now();
    let mut circuit = Circuit::new(policy("{failures: 1, cooldown: 30s, max_cooldown: 1m}"));
    circuit.record_failure(t0);
    let mut now = t0;
    let mut gaps = Vec::new();
    for _ in 0..20 {
        let Permit::Wait { until } = circuit.permit(now) else {
            panic!("open, yet not waiting");
        };
        gaps.push((until - now).as_secs());
        now = until;
        assert_eq!(circuit.permit(now), Permit::Probe);
        circuit.record_failure(now);
    }
    assert_eq!(&gaps[..4], &[30, 60, 60, 60]);
    assert!(gaps.iter().all(|g| *g <= 60), "{gaps:?}");
}

#[test]
fn a_target_overrides_the_server_field_by_field() {
    let base = policy("{failures: 3, cooldown: 1m}");
    let mut problems = Problems::default();
    let p = compile_over(
        &cfg("{failures: 7}"),
        &base,
        "targets.crm.circuit",
        &mut problems,
    )
    .unwrap();
    assert_eq!(
        (p.failures().get(), p.cooldown()),
        (7, Duration::from_secs(60))
    );
    let base = policy("{max_cooldown: 10m}");
    let p = compile_over(
        &cfg("{cooldown: 1m}"),
        &base,
        "targets.crm.circuit",
        &mut problems,
    )
    .unwrap();
    assert!(problems.is_empty(), "{problems}");
    assert_eq!(p.max_cooldown(), Duration::from_secs(600));
}

#[test]
fn each_rejection_names_its_place_and_shows_an_example() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "{failures: 0}",
            "targets.crm.circuit.failures",
            "e.g. `failures: 5`",
        ),
        (
            "{cooldown: 0s}",
            "targets.crm.circuit.cooldown",
            "e.g. `cooldown: 30s`",
        ),
        (
            "{cooldown: soon}",
            "targets.crm.circuit.cooldown",
            "is not a duration (e.g. 500ms",
        ),
        (
            "{cooldown: 2d}",
            "targets.crm.circuit.cooldown",
            "`2d` is longer than a day; e.g. `cooldown: 30s",
        ),
        (
            "{max_cooldown: 0s}",
            "targets.crm.circuit.max_cooldown",
            "e.g. `max_cooldown: 30s`",
        ),
        (
            "{max_cooldown: 25h}",
            "targets.crm.circuit.max_cooldown",
            "`25h` is longer than a day",
        ),
        (
            "{cooldown: 1m, max_cooldown: 30s}",
            "targets.crm.circuit.max_cooldown",
            "`30s` is shorter than `cooldown: 1m`; e.g. `max_cooldown: 1m`",
        ),
    ];
    for (yaml, place, message) in cases {
        let mut problems = Problems::default();
        assert!(compile(&cfg(yaml), "targets.crm.circuit", &mut problems).is_none());
        let problem = problems.iter().next().unwrap();
        assert_eq!(problem.place, *place, "{yaml}");
        assert!(
            problem.message.contains(message),
            "{yaml}: {:?} lacks {message:?}",
            problem.message
        );
    }
    assert!(serde_saphyr::from_str::<CircuitConfig>("{failure: 3}").is_err());
}

#[test]
fn a_status_survives_its_code_and_shows_its_word() {
    for (status, code, word) in [
        (Status::Closed, 0, "closed"),
        (Status::HalfOpen, 1, "half_open"),
        (Status::Open, 2, "open"),
        (Status::Disabled, 3, "disabled"),
    ] {
        assert_eq!((status.code(), status.label()), (code, word));
        assert_eq!(Status::from_code(code), status);
        assert_eq!(serde_json::to_value(status).unwrap(), word);
    }
}
