//! The SQL conditions a filter becomes, and what they bind.

use super::*;

#[test]
fn an_empty_filter_is_true_and_binds_nothing() {
    let sql = deliveries_where(&EventFilter::default(), Dialect::Sqlite, 1);
    assert_eq!(sql.text, "TRUE");
    assert!(sql.values.is_empty());
    assert!(EventFilter::default().is_empty());
}

#[test]
fn placeholders_follow_the_callers_own_in_either_style() {
    let filter = EventFilter {
        source: Some("sipgate".into()),
        keys: vec![("call".into(), "pbx-1".into())],
        states: vec![DeliveryState::Dead, DeliveryState::Retrying],
        target: Some("crm".into()),
        ..EventFilter::default()
    };
    let sql = events_where(&filter, Dialect::Sqlite, 3);
    assert_eq!(
        sql.text,
        "e.source = ?3 AND e.id IN (SELECT k.event_id FROM event_keys k WHERE k.name = ?4 AND k.value = ?5) \
         AND e.id IN (SELECT d.event_id FROM deliveries d WHERE d.target = ?6 \
         AND (d.state = 'dead' OR (d.state = 'pending' AND d.attempts > 0)))"
    );
    let most = EventFilter {
        target: Some("crm".into()),
        states: vec![DeliveryState::Delivered],
        ..EventFilter::default()
    };
    assert_eq!(
        events_where(&most, Dialect::Sqlite, 1).text,
        "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.target = ?1 AND (d.state = 'delivered'))"
    );
    assert_eq!(sql.own_values(3).len(), 4);
    assert_eq!(sql.values.len(), 6);
    let pg = deliveries_where(&filter, Dialect::Postgres, 1);
    assert!(
        pg.text.starts_with("e.source = $1::text AND"),
        "{}",
        pg.text
    );
    assert!(pg.text.contains("d.target = $4::text"), "{}", pg.text);
}

#[test]
fn a_time_window_bounds_the_ids_too() {
    let at = 1_790_000_000_123_i64;
    let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        (at / 1000) as u64,
        ((at % 1000) * 1_000_000) as u32,
    ))
    .to_string();
    assert!(v7_floor(at) <= id && id < v7_floor(at + 1), "{id}");
    let filter = EventFilter {
        since_ms: Some(at),
        until_ms: Some(at + 60_000),
        ..EventFilter::default()
    };
    let sql = deliveries_where(&filter, Dialect::Sqlite, 1);
    assert_eq!(
        sql.text,
        "e.received_at >= ?1 AND e.id >= ?2 AND e.received_at < ?3 AND e.id < ?4"
    );
    assert_eq!(sql.values[1], SqlValue::Text(v7_floor(at - ID_SLACK_MS)));
}

#[test]
fn a_class_compares_the_last_status_or_error_class() {
    let filter = EventFilter {
        target: Some("crm".into()),
        class: Some("500".into()),
        ..EventFilter::default()
    };
    let sql = deliveries_where(&filter, Dialect::Postgres, 1);
    assert_eq!(
        sql.text,
        "d.target = $1::text AND COALESCE(CAST(d.last_status AS TEXT), d.last_class, 'none') = $2::text"
    );
    let f: EventFilter = serde_json::from_str(r#"{"class": "timeout"}"#).unwrap();
    assert_eq!(f.class.as_deref(), Some("timeout"));
}

#[test]
fn ids_are_compared_as_uuids_on_postgres() {
    let filter = EventFilter {
        events: vec!["0190a5a0-0000-7000-8000-000000000001".into()],
        ..EventFilter::default()
    };
    let pg = deliveries_where(&filter, Dialect::Postgres, 1);
    assert_eq!(pg.text, "e.id IN (($1::text)::uuid)");
    let lite = deliveries_where(&filter, Dialect::Sqlite, 1);
    assert_eq!(lite.text, "e.id IN (?1)");
}

#[test]
fn states_round_trip_through_their_names_and_rows() {
    for state in DeliveryState::ALL {
        assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
    }
    assert_eq!(DeliveryState::of("pending", 0), DeliveryState::Pending);
    assert_eq!(DeliveryState::of("pending", 2), DeliveryState::Retrying);
    assert_eq!(
        DeliveryState::of("unrendered", 0),
        DeliveryState::Unrendered
    );
}

#[test]
fn a_filter_reads_keys_as_an_object_and_refuses_unknown_fields() {
    let f: EventFilter =
        serde_json::from_str(r#"{"keys": {"call": "pbx-1"}, "states": ["dead"]}"#).unwrap();
    assert_eq!(f.keys, vec![("call".to_owned(), "pbx-1".to_owned())]);
    assert_eq!(f.states, vec![DeliveryState::Dead]);
    assert!(serde_json::from_str::<EventFilter>(r#"{"stat": ["dead"]}"#).is_err());
}
