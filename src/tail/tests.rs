use super::*;

fn accepted(id: &str, source: &str, targets: &[&str]) -> Event {
    Event::Accepted(Accepted {
        id: id.to_owned(),
        source: source.to_owned(),
        keys: serde_json::Map::new(),
        routes: vec!["r".to_owned()],
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        at_ms: 0,
    })
}

fn attempt(id: &str, target: &str, outcome: &'static str) -> Event {
    Event::Attempt(AttemptEvent {
        target: target.to_owned(),
        id: id.to_owned(),
        delivery: 1,
        attempt: 1,
        outcome,
        status: Some(200),
        error: None,
        duration_ms: 3,
        probe: false,
        at_ms: 0,
    })
}

#[test]
fn publishing_without_watchers_builds_nothing() {
    let tail = Tail::new(4);
    tail.publish(|| unreachable!("nobody watches"));
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_told_it_missed_events() {
    let tail = Tail::new(2);
    let mut watcher = tail.subscribe();
    for n in 0..5 {
        tail.publish(|| accepted(&n.to_string(), "s", &["t"]));
    }
    assert!(matches!(watcher.next().await, Next::Missed(3)));
}

#[tokio::test]
async fn closing_ends_every_watcher() {
    let tail = Tail::new(2);
    let mut watcher = tail.subscribe();
    tail.close();
    assert!(matches!(watcher.next().await, Next::Closed));
}

#[test]
fn a_source_filter_lets_through_the_attempts_of_its_webhooks() {
    let mut filter = TailFilter::new(Some("crm".into()), None, None).unwrap();
    assert!(filter.admits(&accepted("a", "crm", &["t"])));
    assert!(!filter.admits(&accepted("b", "other", &["t"])));
    assert!(filter.admits(&attempt("a", "t", "delivered")));
    assert!(!filter.admits(&attempt("b", "t", "delivered")));
}

#[test]
fn target_and_outcome_filters() {
    let mut filter = TailFilter::new(None, Some("t".into()), Some("dead,retry")).unwrap();
    assert!(
        !filter.admits(&accepted("a", "crm", &["t"])),
        "outcome filters keep attempts only"
    );
    assert!(filter.admits(&attempt("a", "t", "dead")));
    assert!(!filter.admits(&attempt("a", "t", "delivered")));
    assert!(!filter.admits(&attempt("a", "u", "dead")));
    let mut by_target = TailFilter::new(None, Some("t".into()), None).unwrap();
    assert!(by_target.admits(&accepted("a", "crm", &["u", "t"])));
    assert!(!by_target.admits(&accepted("a", "crm", &["u"])));
}

#[test]
fn an_unknown_outcome_is_refused() {
    assert_eq!(
        TailFilter::new(None, None, Some("gone")).unwrap_err(),
        FilterError::Outcome("gone".into())
    );
}
