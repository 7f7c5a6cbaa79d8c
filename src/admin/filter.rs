//! The event filter's values as operators write them, parsed once for
//! every reader: the bulk actions' JSON body (here, [`from_json`]), the
//! event search's query string (`events::query`) and the command line's
//! flags (`cli::events`). Times are RFC 3339 (`Z` or an offset), unix
//! milliseconds or a duration ago (`2h`); states by name; webhook ids as
//! UUIDs; lookup keys as `NAME=VALUE`. One reading of each value, so that
//! a search and the bulk action run on its result agree.
//!
//! The value parsers do not know the field they read: each reader names
//! it its own way (`since`, query parameter `since`, `--since`). Pure:
//! must not read the spool, the config in force or a clock (`now_ms` is an
//! argument).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::spool::{DeliveryState, EventFilter};

/// A value that is not what its field takes: what was given and what
/// would do. The reader that found it names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error(
        "`{0}` is not a time: give RFC 3339 (2026-11-01T14:00:00Z, or with an offset), unix milliseconds, or a duration ago (90s, 15m, 2h, 7d)"
    )]
    Time(String),
    #[error(
        "`{0}` is not a delivery state: use pending, retrying, delivered, dead, parked, cancelled or unrendered"
    )]
    State(String),
    #[error("`{0}` is not a webhook id (a UUID)")]
    Id(String),
    #[error("`{0}` is not a lookup key: write NAME=VALUE, e.g. call=pbx-123")]
    Key(String),
}

/// Why a JSON body's filter was refused: names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{field} {error}")]
    Value {
        field: &'static str,
        error: ValueError,
    },
    #[error("filter: {0}")]
    Shape(String),
}

/// `text` as unix milliseconds: a number is unix milliseconds, a duration
/// (`2h`) is that long before `now_ms`, anything else RFC 3339 (UTC when
/// it has no offset).
pub fn time(text: &str, now_ms: i64) -> Result<i64, ValueError> {
    let bad = || ValueError::Time(text.to_owned());
    let t = text.trim();
    if let Ok(ms) = t.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(ago) = crate::config::units::duration(t) {
        let ago = i64::try_from(ago.as_millis()).map_err(|_| bad())?;
        return Ok(now_ms.saturating_sub(ago));
    }
    // humantime reads UTC only: an offset is taken off by hand.
    let (local, offset_ms) = split_offset(t).ok_or_else(bad)?;
    let at = humantime::parse_rfc3339_weak(local).map_err(|_| bad())?;
    Ok(crate::time::unix_ms(at) - offset_ms)
}

/// `2026-11-01T15:00:00+01:00` as its local part and the offset in ms.
fn split_offset(t: &str) -> Option<(&str, i64)> {
    if let Some(utc) = t.strip_suffix('Z').or_else(|| t.strip_suffix('z')) {
        return Some((utc, 0));
    }
    let at = t.len().checked_sub(6)?;
    let tail = t.get(at..)?;
    let sign = match tail.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Some((t, 0)),
    };
    let (hours, minutes) = tail[1..].split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    Some((&t[..at], sign * (hours * 60 + minutes) * 60_000))
}

/// A state by its name.
pub fn state(text: &str) -> Result<DeliveryState, ValueError> {
    DeliveryState::parse(text.trim()).ok_or_else(|| ValueError::State(text.to_owned()))
}

/// `dead` or `dead,parked`: delivery states.
pub fn states(text: &str) -> Result<Vec<DeliveryState>, ValueError> {
    text.split(',').map(state).collect()
}

/// A webhook id in the form it is stored (lower case, hyphenated).
pub fn id(text: &str) -> Result<String, ValueError> {
    uuid::Uuid::try_parse(text.trim())
        .map(|id| id.to_string())
        .map_err(|_| ValueError::Id(text.to_owned()))
}

/// A lookup key as `NAME=VALUE` (`call=pbx-123`): the name, and the value
/// (which may hold `=`).
pub fn key(text: &str) -> Result<(String, String), ValueError> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(ValueError::Key(text.to_owned())),
    }
}

/// A time in a JSON body: a string as [`time`] reads it, or a number of
/// unix milliseconds.
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
    class: Option<String>,
}

/// `field`'s value, or the error naming it.
fn named<T>(field: &'static str, read: Result<T, ValueError>) -> Result<T, FilterError> {
    read.map_err(|error| FilterError::Value { field, error })
}

fn written_time(
    field: &'static str,
    time: Option<Time>,
    now_ms: i64,
) -> Result<Option<i64>, FilterError> {
    match time {
        None => Ok(None),
        Some(Time::Ms(ms)) => Ok(Some(ms)),
        Some(Time::Text(text)) => named(field, self::time(&text, now_ms)).map(Some),
    }
}

/// The filter a JSON body's `filter` names: `{"source", "keys": {name:
/// value}, "target", "state" or "states", "route", "since", "until",
/// "events", "class"}`, every field optional; durations ago count from `now_ms`.
pub fn from_json(value: Value, now_ms: i64) -> Result<EventFilter, FilterError> {
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
        let state = named("states", state(name))?;
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
        since_ms: written_time("since", written.since, now_ms)?,
        until_ms: written_time("until", written.until, now_ms)?,
        events: written
            .events
            .iter()
            .map(|text| named("events", id(text)))
            .collect::<Result<_, _>>()?,
        class: written.class,
    })
}

/// The JSON body's filter [`from_json`] reads back as `filter` (times in
/// unix milliseconds): what the command line sends the API.
pub fn to_json(filter: &EventFilter) -> Value {
    let mut body = Map::new();
    let mut put = |name: &str, value: Value| {
        body.insert(name.to_owned(), value);
    };
    for (name, value) in [
        ("source", &filter.source),
        ("target", &filter.target),
        ("route", &filter.route),
        ("class", &filter.class),
    ] {
        if let Some(value) = value {
            put(name, value.as_str().into());
        }
    }
    if !filter.keys.is_empty() {
        let keys: Map<String, Value> = filter
            .keys
            .iter()
            .map(|(name, value)| (name.clone(), value.as_str().into()))
            .collect();
        put("keys", keys.into());
    }
    if !filter.states.is_empty() {
        put("states", json!(filter.states));
    }
    for (name, value) in [("since", filter.since_ms), ("until", filter.until_ms)] {
        if let Some(ms) = value {
            put(name, ms.into());
        }
    }
    if !filter.events.is_empty() {
        put("events", json!(filter.events));
    }
    body.into()
}

#[cfg(test)]
mod tests;
