//! The statement of one page of the event search, for either backend: the
//! one filter's condition ([`events_where`]), the cursor and the limit.
//! Keyset pages over the webhooks' ids, which are UUIDv7 (time-ordered):
//! a page continues below the last id of the one before, so webhooks
//! arriving meanwhile neither repeat nor shift it. Builds text and values
//! only; the backends run it.

use uuid::Uuid;

use super::EventFilter;
use super::filter::{Dialect, Sql, SqlValue, events_where};

/// `SELECT columns FROM events e` matching `filter`, newest first, older
/// than `cursor`, at most `limit + 1` rows (one more than asked says
/// whether there is a next page), with its values bound.
pub fn statement(
    filter: &EventFilter,
    dialect: Dialect,
    columns: &str,
    cursor: Option<Uuid>,
    limit: usize,
) -> Sql {
    let mut sql = events_where(filter, dialect, 1);
    let mut condition = std::mem::take(&mut sql.text);
    if let Some(cursor) = cursor {
        let p = sql.bind(SqlValue::Text(cursor.to_string()));
        let id = match dialect {
            Dialect::Sqlite => p,
            Dialect::Postgres => format!("({p})::uuid"),
        };
        condition.push_str(&format!(" AND e.id < {id}"));
    }
    let n = sql.bind(SqlValue::Int(
        i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX),
    ));
    sql.text =
        format!("SELECT {columns} FROM events e WHERE {condition} ORDER BY e.id DESC LIMIT {n}");
    sql
}
