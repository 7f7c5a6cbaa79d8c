//! The event search's query string (`GET /api/events?source=&key.call=…`)
//! as an [`EventFilter`] with its page size and cursor, and back (the CLI
//! asks the API with [`to_query`]). The value parsers (`time`, `states`,
//! `limit`) are small functions of their own, for the bulk actions' filter
//! and the CLI's flags to share. Pure: `now` is an argument.

use uuid::Uuid;

use crate::spool::{DeliveryState, EventFilter};

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page.
pub const MAX_LIMIT: usize = 500;

/// A search: which webhooks, how many, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub filter: EventFilter,
    pub limit: usize,
    pub cursor: Option<Uuid>,
}

/// A parameter that is not what the search takes: 400, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parameter `{parameter}`: {problem}")]
pub struct QueryError {
    pub parameter: String,
    pub problem: String,
}

/// Why a time is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a time: give RFC 3339 (2026-11-01T14:00:00Z, or with an offset), unix milliseconds, or a duration ago (90s, 15m, 2h, 7d)"
)]
pub struct TimeError(pub String);

/// `text` as unix milliseconds: digits are unix milliseconds, a duration
/// (`2h`) is that long before `now_ms`, anything else RFC 3339 (UTC when
/// it has no offset).
pub fn time(text: &str, now_ms: i64) -> Result<i64, TimeError> {
    let bad = || TimeError(text.to_owned());
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| bad());
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
    let tail = t.len().checked_sub(6).and_then(|at| t.get(at..))?;
    let sign = match tail.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Some((t, 0)),
    };
    let (hours, minutes) = tail[1..].split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    Some((&t[..t.len() - 6], sign * (hours * 60 + minutes) * 60_000))
}

/// `dead` or `dead,parked`: delivery states.
pub fn states(text: &str) -> Result<Vec<DeliveryState>, String> {
    text.split(',')
        .map(|name| {
            DeliveryState::parse(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = DeliveryState::ALL.iter().map(|s| s.as_str()).collect();
                format!("`{name}` is not a state (one of {})", known.join(", "))
            })
        })
        .collect()
}

/// A page size: 1 to [`MAX_LIMIT`].
pub fn limit(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("`{text}` is not a page size from 1 to {MAX_LIMIT}")),
    }
}

/// A cursor from a page's `next_cursor`.
pub fn cursor(text: &str) -> Result<Uuid, String> {
    Uuid::try_parse(text.trim())
        .map_err(|_| format!("`{text}` is not a cursor (pass a page's next_cursor as it is)"))
}

/// Parses the query string of `GET /api/events`.
pub fn search_query(query: &str, now_ms: i64) -> Result<SearchQuery, QueryError> {
    let mut search = SearchQuery {
        filter: EventFilter::default(),
        limit: DEFAULT_LIMIT,
        cursor: None,
    };
    let f = &mut search.filter;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let fail = |problem: String| QueryError {
            parameter: key.to_string(),
            problem,
        };
        let once = |slot: &mut Option<String>| match slot {
            Some(_) => Err(fail("given twice".to_owned())),
            None => {
                *slot = Some(value.to_string());
                Ok(())
            }
        };
        match key.as_ref() {
            "source" => once(&mut f.source)?,
            "target" => once(&mut f.target)?,
            "route" => once(&mut f.route)?,
            "state" => f.states.extend(states(&value).map_err(fail)?),
            "since" => f.since_ms = Some(time(&value, now_ms).map_err(|e| fail(e.to_string()))?),
            "until" => f.until_ms = Some(time(&value, now_ms).map_err(|e| fail(e.to_string()))?),
            "limit" => search.limit = limit(&value).map_err(fail)?,
            "cursor" => search.cursor = Some(cursor(&value).map_err(fail)?),
            other => match other.strip_prefix("key.") {
                Some(name) if !name.is_empty() => f.keys.push((name.to_owned(), value.to_string())),
                _ => {
                    return Err(fail(
                        "unknown parameter; use source, key.NAME, target, state, route, since, until, limit or cursor"
                            .to_owned(),
                    ));
                }
            },
        }
    }
    if let (Some(since), Some(until)) = (f.since_ms, f.until_ms)
        && since >= until
    {
        return Err(QueryError {
            parameter: "until".to_owned(),
            problem: "must be later than since".to_owned(),
        });
    }
    Ok(search)
}

/// The query string [`search_query`] reads back as `search`.
pub fn to_query(search: &SearchQuery) -> String {
    let f = &search.filter;
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    let mut add = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            q.append_pair(k, &v);
        }
    };
    add("source", f.source.clone());
    for (name, value) in &f.keys {
        add(&format!("key.{name}"), Some(value.clone()));
    }
    add("target", f.target.clone());
    add("route", f.route.clone());
    for state in &f.states {
        add("state", Some(state.as_str().to_owned()));
    }
    add("since", f.since_ms.map(|t| t.to_string()));
    add("until", f.until_ms.map(|t| t.to_string()));
    add("limit", Some(search.limit.to_string()));
    add("cursor", search.cursor.map(|c| c.to_string()));
    q.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn times_are_unix_ms_rfc3339_or_a_duration_ago() {
        assert_eq!(time("1767225600000", NOW), Ok(1_767_225_600_000));
        assert_eq!(time("2026-01-01T00:00:00Z", NOW), Ok(1_767_225_600_000));
        assert_eq!(
            time("2026-01-01T01:00:00+01:00", NOW),
            Ok(1_767_225_600_000)
        );
        assert_eq!(
            time("2025-12-31T23:30:00-00:30", NOW),
            Ok(1_767_225_600_000)
        );
        assert_eq!(time("2h", NOW), Ok(NOW - 7_200_000));
        assert!(time("yesterday", NOW).is_err());
        assert!(time("", NOW).is_err());
    }

    #[test]
    fn a_query_reads_into_the_filter_and_back() {
        let q = search_query(
            "source=sipgate&key.call=pbx-1&target=crm&state=dead,retrying&since=2h&limit=10",
            NOW,
        )
        .unwrap();
        assert_eq!(q.filter.keys, vec![("call".to_owned(), "pbx-1".to_owned())]);
        assert_eq!(
            q.filter.states,
            vec![DeliveryState::Dead, DeliveryState::Retrying]
        );
        assert_eq!(q.filter.since_ms, Some(NOW - 7_200_000));
        assert_eq!(q.limit, 10);
        assert_eq!(search_query(&to_query(&q), NOW), Ok(q));
        assert_eq!(search_query("", NOW).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        for (query, named) in [
            ("state=lost", "state"),
            ("since=soon", "since"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("cursor=abc", "cursor"),
            ("sorce=x", "sorce"),
            ("key.=x", "key."),
            ("source=a&source=b", "source"),
            ("since=2000&until=1000", "until"),
        ] {
            let e = search_query(query, NOW).unwrap_err();
            assert_eq!(e.parameter, named, "{query}: {e}");
        }
    }
}
