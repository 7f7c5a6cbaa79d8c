use super::*;
use serde_json::json;

const NOW: i64 = 1_800_000_000_000;

#[test]
fn times_are_unix_ms_rfc3339_with_or_without_an_offset_or_a_duration_ago() {
    assert_eq!(time("1767225600000", NOW), Ok(1_767_225_600_000));
    assert_eq!(time("2026-01-01T00:00:00Z", NOW), Ok(1_767_225_600_000));
    assert_eq!(
        time("2026-01-01T01:00:00+01:00", NOW),
        Ok(1_767_225_600_000)
    );
    assert_eq!(
        time("2025-12-31T23:00:00-01:00", NOW),
        Ok(1_767_225_600_000)
    );
    assert_eq!(
        time("2025-12-31T23:30:00-00:30", NOW),
        Ok(1_767_225_600_000)
    );
    assert_eq!(time("2h", NOW), Ok(NOW - 7_200_000));
    assert_eq!(time("30m", NOW), Ok(NOW - 1_800_000));
    assert!(time("yesterday", NOW).is_err());
    assert!(time("", NOW).is_err());
}

#[test]
fn states_ids_and_keys_read_as_operators_write_them() {
    assert_eq!(
        states("dead, parked"),
        Ok(vec![DeliveryState::Dead, DeliveryState::Parked])
    );
    assert_eq!(states("dead,lost"), Err(ValueError::State("lost".into())));
    let refused = state("lost").unwrap_err().to_string();
    for state in DeliveryState::ALL {
        assert!(refused.contains(state.as_str()), "{refused}");
    }
    assert_eq!(
        id("0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B").as_deref(),
        Ok("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
    );
    assert!(id("nope").is_err());
    assert_eq!(key("call=a=b"), Ok(("call".into(), "a=b".into())));
    assert!(key("=x").is_err() && key("call").is_err());
}

#[test]
fn a_body_filter_reads_keys_states_and_times_as_operators_write_them() {
    let filter = from_json(
        json!({
            "keys": {"call": "pbx-1"},
            "state": "dead",
            "states": ["retrying", "dead"],
            "target": "crm",
            "since": "2026-01-01T00:00:00Z",
            "until": 1_767_229_200_000_i64,
        }),
        NOW,
    )
    .unwrap();
    assert_eq!(filter.keys, vec![("call".to_owned(), "pbx-1".to_owned())]);
    assert_eq!(
        filter.states,
        vec![DeliveryState::Dead, DeliveryState::Retrying]
    );
    assert_eq!(filter.since_ms, Some(1_767_225_600_000));
    assert_eq!(filter.until_ms, Some(1_767_229_200_000));
    assert!(from_json(json!({}), NOW).unwrap().is_empty());
    let ago = from_json(json!({"since": "2h"}), NOW).unwrap();
    assert_eq!(ago.since_ms, Some(NOW - 7_200_000));
}

#[test]
fn a_body_filter_names_what_it_refuses() {
    let state = from_json(json!({"state": "lost"}), NOW).unwrap_err();
    assert!(state.to_string().starts_with("states `lost`"), "{state}");
    let field = from_json(json!({"stat": "dead"}), NOW).unwrap_err();
    assert!(field.to_string().contains("stat"), "{field}");
    let id = from_json(json!({"events": ["nope"]}), NOW).unwrap_err();
    assert!(id.to_string().starts_with("events `nope`"), "{id}");
    let bad = from_json(json!({"until": "yesterday"}), NOW).unwrap_err();
    assert!(bad.to_string().starts_with("until `yesterday`"), "{bad}");
}

#[test]
fn a_filter_written_as_json_reads_back_as_itself() {
    let filter = EventFilter {
        source: Some("sipgate".into()),
        keys: vec![("call".into(), "pbx-1".into())],
        target: Some("crm".into()),
        states: vec![DeliveryState::Dead, DeliveryState::Unrendered],
        route: Some("summaries".into()),
        since_ms: Some(1_767_225_600_000),
        until_ms: Some(1_767_229_200_000),
        events: vec!["0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into()],
        class: Some("500".into()),
    };
    assert_eq!(from_json(to_json(&filter), NOW), Ok(filter));
    assert_eq!(to_json(&EventFilter::default()), json!({}));
}
