//! The event filter as operators write it, in a query string (the event
//! search) or a JSON body (the bulk actions): times as RFC 3339 or unix
//! milliseconds, states by name, `keys` as an object. One reading of each
//! field, so that a search and the bulk action run on its result agree.
//! Pure: must not read the spool, the config in force or a clock.

use serde::Deserialize;
use serde_json::Value;

use crate::spool::{DeliveryState, EventFilter};

/// Why a filter field was refused: names the field and what would do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error(
        "{field} `{value}` is not a time: use RFC 3339 (2026-11-01T14:00:00Z) or unix milliseconds"
    )]
    Time { field: &'static str, value: String },
    #[error(
        "{field} `{value}` is not a delivery state: use pending, retrying, delivered, dead, parked, cancelled or unrendered"
    )]
    State { field: &'static str, value: String },
    #[error("{field} `{value}` is not a webhook id (a UUID)")]
    Id { field: &'static str, value: String },
    #[error("filter: {0}")]
    Shape(String),
}

/// A time as RFC 3339 (`2026-11-01T14:00:00Z`, offsets allowed) or unix
/// milliseconds, as unix milliseconds.
pub fn parse_time(field: &'static str, text: &str) -> Result<i64, FilterError> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .map(crate::time::unix_ms)
        .or_else(|| offset_time(text))
        .ok_or_else(|| FilterError::Time {
            field,
            value: text.to_owned(),
        })
}

/// An RFC 3339 time with a numeric offset (`+02:00`), which `humantime`
/// does not take: the offset is taken off by hand.
fn offset_time(text: &str) -> Option<i64> {
    let at = text.len().checked_sub(6)?;
    if !text.is_char_boundary(at) {
        return None;
    }
    let (time, offset) = text.split_at(at);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours: i64 = offset.get(1..3)?.parse().ok()?;
    let minutes: i64 = offset.get(4..6)?.parse().ok()?;
    let local = humantime::parse_rfc3339_weak(time).ok()?;
    Some(crate::time::unix_ms(local) - sign * (hours * 60 + minutes) * 60_000)
}

/// A state by its name.
pub fn parse_state(field: &'static str, text: &str) -> Result<DeliveryState, FilterError> {
    DeliveryState::parse(text.trim()).ok_or_else(|| FilterError::State {
        field,
        value: text.to_owned(),
    })
}

/// A webhook id in the form it is stored (lower case, hyphenated).
pub fn parse_id(field: &'static str, text: &str) -> Result<String, FilterError> {
    uuid::Uuid::try_parse(text.trim())
        .map(|id| id.to_string())
        .map_err(|_| FilterError::Id {
            field,
            value: text.to_owned(),
        })
}

/// A time in a JSON body: a string as [`parse_time`] reads it, or a number
/// of unix milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Time {
    Ms(i64),
    Text(String),
}

/// One state or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum States {
    One(String),
    Many(Vec<String>),
}

/// The filter of a JSON body, as an operator writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    source: Option<String>,
    #[serde(default)]
    keys: std::collections::BTreeMap<String, String>,
    target: Option<String>,
    state: Option<String>,
    states: Option<States>,
    route: Option<String>,
    since: Option<Time>,
    until: Option<Time>,
    #[serde(default, alias = "ids")]
    events: Vec<String>,
}

fn time(field: &'static str, time: Option<Time>) -> Result<Option<i64>, FilterError> {
    match time {
        None => Ok(None),
        Some(Time::Ms(ms)) => Ok(Some(ms)),
        Some(Time::Text(text)) => parse_time(field, &text).map(Some),
    }
}

/// The filter a JSON body's `filter` names: `{"source", "keys": {name:
/// value}, "target", "state" or "states", "route", "since", "until",
/// "events"}`, every field optional.
pub fn from_json(value: Value) -> Result<EventFilter, FilterError> {
    let written: Written =
        serde_json::from_value(value).map_err(|e| FilterError::Shape(e.to_string()))?;
    let mut names: Vec<String> = written.state.into_iter().collect();
    match written.states {
        Some(States::One(one)) => names.push(one),
        Some(States::Many(many)) => names.extend(many),
        None => {}
    }
    let mut states = Vec::new();
    for name in &names {
        let state = parse_state("states", name)?;
        if !states.contains(&state) {
            states.push(state);
        }
    }
    Ok(EventFilter {
        source: written.source,
        keys: written.keys.into_iter().collect(),
        target: written.target,
        states,
        route: written.route,
        since_ms: time("since", written.since)?,
        until_ms: time("until", written.until)?,
        events: written
            .events
            .iter()
            .map(|id| parse_id("events", id))
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_rfc3339_with_or_without_an_offset_or_unix_ms() {
        assert_eq!(parse_time("since", "1767225600000"), Ok(1_767_225_600_000));
        assert_eq!(
            parse_time("since", "2026-01-01T00:00:00Z"),
            Ok(1_767_225_600_000)
        );
        assert_eq!(
            parse_time("since", "2026-01-01T01:00:00+01:00"),
            Ok(1_767_225_600_000)
        );
        assert_eq!(
            parse_time("until", "2025-12-31T23:00:00-01:00"),
            Ok(1_767_225_600_000)
        );
        let bad = parse_time("until", "yesterday").unwrap_err();
        assert!(bad.to_string().starts_with("until `yesterday`"), "{bad}");
    }

    #[test]
    fn a_body_filter_reads_keys_states_and_times_as_operators_write_them() {
        let filter = from_json(json!({
            "keys": {"call": "pbx-1"},
            "state": "dead",
            "states": ["retrying", "dead"],
            "target": "crm",
            "since": "2026-01-01T00:00:00Z",
            "until": 1_767_229_200_000_i64,
        }))
        .unwrap();
        assert_eq!(filter.keys, vec![("call".to_owned(), "pbx-1".to_owned())]);
        assert_eq!(
            filter.states,
            vec![DeliveryState::Dead, DeliveryState::Retrying]
        );
        assert_eq!(filter.since_ms, Some(1_767_225_600_000));
        assert_eq!(filter.until_ms, Some(1_767_229_200_000));
        assert!(from_json(json!({})).unwrap().is_empty());
    }

    #[test]
    fn a_body_filter_names_what_it_refuses() {
        let state = from_json(json!({"state": "lost"})).unwrap_err();
        assert!(state.to_string().starts_with("states `lost`"), "{state}");
        let field = from_json(json!({"stat": "dead"})).unwrap_err();
        assert!(field.to_string().contains("stat"), "{field}");
        let id = from_json(json!({"events": ["nope"]})).unwrap_err();
        assert!(id.to_string().starts_with("events `nope`"), "{id}");
    }
}
