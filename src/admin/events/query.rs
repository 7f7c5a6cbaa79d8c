//! The event search's query string (`GET /api/events?source=&key.call=…`)
//! as an [`EventFilter`] with its page size and cursor, and back (the CLI
//! asks the API with [`to_query`]). Only the query string's shape is
//! here: the filter's values are read by [`crate::admin::filter`], as the
//! bulk actions' body and the CLI's flags read them; `limit` and `cursor`
//! are the search's own. Pure: `now` is an argument.

use uuid::Uuid;

use crate::admin::filter::{states, time};
use crate::spool::EventFilter;

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
            "class" => once(&mut f.class)?,
            "state" => f
                .states
                .extend(states(&value).map_err(|e| fail(e.to_string()))?),
            "since" => f.since_ms = Some(time(&value, now_ms).map_err(|e| fail(e.to_string()))?),
            "until" => f.until_ms = Some(time(&value, now_ms).map_err(|e| fail(e.to_string()))?),
            "limit" => search.limit = limit(&value).map_err(fail)?,
            "cursor" => search.cursor = Some(cursor(&value).map_err(fail)?),
            other => match other.strip_prefix("key.") {
                Some(name) if !name.is_empty() => f.keys.push((name.to_owned(), value.to_string())),
                _ => {
                    return Err(fail(
                        "unknown parameter; use source, key.NAME, target, state, route, class, since, until, limit or cursor"
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
    add("class", f.class.clone());
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
    use crate::spool::DeliveryState;

    const NOW: i64 = 1_800_000_000_000;

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
