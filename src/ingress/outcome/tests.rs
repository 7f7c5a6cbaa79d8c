//! Tests of `ingress/outcome.rs`: every outcome's status, label and header.

use super::*;

#[test]
fn each_outcome_has_its_status_label_and_header() {
    let not_json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
    let wait = Duration::from_millis(1500);
    // (outcome, status, label, extra header)
    type Case = (
        Outcome,
        u16,
        &'static str,
        Option<(&'static str, &'static str)>,
    );
    let table: Vec<Case> = vec![
        (
            Outcome::Accepted {
                id: Uuid::nil(),
                deliveries: 2,
            },
            202,
            "accepted",
            None,
        ),
        (Outcome::Probe, 200, "not_forwarded", None),
        (Outcome::Duplicate, 200, "not_forwarded", None),
        (
            Outcome::Refused(Refusal::UnknownSource("x".into())),
            404,
            "unknown_source",
            None,
        ),
        (
            Outcome::Refused(Refusal::ClientUnreadable),
            403,
            "forbidden",
            None,
        ),
        (
            Outcome::Refused(Refusal::NotAllowed),
            403,
            "forbidden",
            None,
        ),
        (
            Outcome::Refused(Refusal::RateLimited { wait }),
            429,
            "rate_limited",
            Some(("retry-after", "2")),
        ),
        (
            Outcome::Refused(Refusal::Unauthorized),
            401,
            "unauthorized",
            None,
        ),
        (
            Outcome::Refused(Refusal::Signature("stale".into())),
            401,
            "unauthorized",
            None,
        ),
        (
            Outcome::Refused(Refusal::BadMethod),
            405,
            "bad_method",
            None,
        ),
        (
            Outcome::Refused(Refusal::TooLarge { limit: 10 }),
            413,
            "too_large",
            None,
        ),
        (
            Outcome::Refused(Refusal::TooSlow),
            408,
            "too_slow",
            Some(("connection", "close")),
        ),
        (
            Outcome::Refused(Refusal::BodyBroken),
            400,
            "bad_request",
            None,
        ),
        (
            Outcome::Refused(Refusal::NotJson(not_json)),
            400,
            "bad_request",
            None,
        ),
        (
            Outcome::Refused(Refusal::Draining),
            503,
            "unavailable",
            Some(("retry-after", "5")),
        ),
        (
            Outcome::Refused(Refusal::Backlog),
            503,
            "unavailable",
            Some(("retry-after", "5")),
        ),
        (
            Outcome::Refused(Refusal::NotStored),
            503,
            "unavailable",
            Some(("retry-after", "5")),
        ),
    ];
    for (outcome, status, label, header) in table {
        let (response, got) = outcome.answer();
        assert_eq!(
            (response.status().as_u16(), got),
            (status, label),
            "{outcome:?}"
        );
        assert!(
            crate::metrics::RECEIVED.contains(&got),
            "`{got}` is not among the labels the metrics start at 0"
        );
        if let Some((name, value)) = header {
            assert_eq!(response.headers()[name], value, "{outcome:?}");
        }
    }
}

#[test]
fn a_rate_limited_client_waits_at_least_a_second() {
    let outcome = Outcome::Refused(Refusal::RateLimited {
        wait: Duration::from_millis(10),
    });
    assert_eq!(outcome.answer().0.headers()["retry-after"], "1");
}
