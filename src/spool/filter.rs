//! Which webhooks and deliveries an operator means: the one filter behind
//! the event search, the bulk actions and the dead-letter shorthand, and
//! its translation to a SQL condition for either backend.
//!
//! The SQL is built here once, with numbered placeholders in the
//! backend's style, so that a search and the bulk action run on its result
//! cannot disagree about what matches. Values are always bound, never
//! spliced into the text.

use std::fmt::Write;

/// A delivery's state, as operators name it. `pending` and `retrying` are
/// both stored as `pending`, told apart by whether an attempt was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not attempted yet.
    Pending,
    /// Attempted, failed, waiting for its next attempt.
    Retrying,
    /// A target answered 2xx.
    Delivered,
    /// Given up: a dead letter.
    Dead,
    /// Waiting for a target that answered 410 Gone.
    Parked,
    /// Stopped by an operator.
    Cancelled,
    /// Its body could not be rendered (a transform failed on this payload):
    /// never sent; a replay renders it again under the rules then in force.
    Unrendered,
}

impl DeliveryState {
    /// Every state, in the order a lifecycle goes.
    pub const ALL: [DeliveryState; 7] = [
        DeliveryState::Pending,
        DeliveryState::Retrying,
        DeliveryState::Delivered,
        DeliveryState::Dead,
        DeliveryState::Parked,
        DeliveryState::Cancelled,
        DeliveryState::Unrendered,
    ];

    /// Its name in the API, the CLI and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
            DeliveryState::Parked => "parked",
            DeliveryState::Cancelled => "cancelled",
            DeliveryState::Unrendered => "unrendered",
        }
    }

    /// The state named `name`, if it is one.
    pub fn parse(name: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The state of a stored row: its `state` column and attempt count.
    pub fn of(stored: &str, attempts: u32) -> DeliveryState {
        match stored {
            "pending" if attempts > 0 => DeliveryState::Retrying,
            other => DeliveryState::parse(other).unwrap_or(DeliveryState::Pending),
        }
    }

    /// The condition on a delivery row `d` that selects this state.
    fn condition(self) -> &'static str {
        match self {
            DeliveryState::Pending => "(d.state = 'pending' AND d.attempts = 0)",
            DeliveryState::Retrying => "(d.state = 'pending' AND d.attempts > 0)",
            DeliveryState::Delivered => "d.state = 'delivered'",
            DeliveryState::Dead => "d.state = 'dead'",
            DeliveryState::Parked => "d.state = 'parked'",
            DeliveryState::Cancelled => "d.state = 'cancelled'",
            DeliveryState::Unrendered => "d.state = 'unrendered'",
        }
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which webhooks and deliveries: every field that is set must match. On
/// webhooks (search), a webhook matches when one of its deliveries matches
/// the delivery fields; on deliveries (bulk actions), each delivery is
/// judged with its webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// The source the webhook came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Lookup keys, `name → value`; every one must match.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "pairs")]
    pub keys: Vec<(String, String)>,
    /// The delivery's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The delivery's state: any of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<DeliveryState>,
    /// The route that chose the delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Received at or after (unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
    /// Received before (unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
    /// Only these webhook ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// The delivery's last failure: the status it answered (`500`), or
    /// the class of error when it did not answer (`timeout`, `connect`,
    /// …), or `none` when it was never attempted. What
    /// `GET /api/dead-letters/groups` groups by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}

/// The expression on a delivery row `d` that [`EventFilter::class`]
/// compares: its last status as text, else its last error's class, else
/// `none`. The same in both backends' SQL.
pub const CLASS_OF: &str = "COALESCE(CAST(d.last_status AS TEXT), d.last_class, 'none')";

/// `keys` as a JSON object, `{"call": "pbx-1"}`.
mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(keys: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, &str> =
            keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        map.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        Ok(BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

impl EventFilter {
    /// Whether it selects everything (a bulk action then needs `all`).
    pub fn is_empty(&self) -> bool {
        *self == EventFilter::default()
    }

    /// Whether any delivery field is set.
    fn on_deliveries(&self) -> bool {
        self.target.is_some()
            || !self.states.is_empty()
            || self.route.is_some()
            || self.class.is_some()
    }
}

/// Placeholder style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `?1`; ids are text.
    Sqlite,
    /// `$1`; ids are `uuid`.
    Postgres,
}

/// A bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
}

/// A SQL condition under construction, with its bound values.
#[derive(Debug)]
pub struct Sql {
    dialect: Dialect,
    /// The condition (`TRUE` when nothing is asked).
    pub text: String,
    /// The values, in placeholder order.
    pub values: Vec<SqlValue>,
}

impl Sql {
    /// An empty condition whose first placeholder is numbered `first`
    /// (callers bind their own values before it).
    pub fn new(dialect: Dialect, first: usize) -> Sql {
        Sql {
            dialect,
            text: String::new(),
            values: vec![SqlValue::Int(0); first.saturating_sub(1)],
        }
    }

    /// Binds `value` and returns its placeholder.
    pub fn bind(&mut self, value: SqlValue) -> String {
        self.values.push(value);
        let n = self.values.len();
        match self.dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => match self.values[n - 1] {
                SqlValue::Text(_) => format!("${n}::text"),
                SqlValue::Int(_) => format!("${n}::bigint"),
            },
        }
    }

    /// A webhook id placeholder, compared with an id column.
    fn bind_id(&mut self, id: &str) -> String {
        let p = self.bind(SqlValue::Text(id.to_owned()));
        match self.dialect {
            Dialect::Sqlite => p,
            Dialect::Postgres => format!("({p})::uuid"),
        }
    }

    fn and(&mut self, condition: &str) {
        if !self.text.is_empty() {
            self.text.push_str(" AND ");
        }
        self.text.push_str(condition);
    }

    /// The values after the caller's own (those before `first`).
    pub fn own_values(&self, first: usize) -> &[SqlValue] {
        &self.values[first.saturating_sub(1)..]
    }

    fn finish(mut self) -> Sql {
        if self.text.is_empty() {
            self.text.push_str("TRUE");
        }
        self
    }
}

/// How far a webhook's id time and its `received_at` may be apart.
const ID_SLACK_MS: i64 = 1_000;

/// The smallest UUIDv7 of unix millisecond `ms`, as text.
fn v7_floor(ms: i64) -> String {
    let ms = ms.clamp(0, (1 << 48) - 1) as u64;
    format!(
        "{:08x}-{:04x}-7000-8000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

/// The condition on a webhook row `e` alone: source, keys, time, ids.
fn event_conditions(filter: &EventFilter, sql: &mut Sql) {
    if let Some(source) = &filter.source {
        let p = sql.bind(SqlValue::Text(source.clone()));
        sql.and(&format!("e.source = {p}"));
    }
    for (name, value) in &filter.keys {
        let n = sql.bind(SqlValue::Text(name.clone()));
        let v = sql.bind(SqlValue::Text(value.clone()));
        sql.and(&format!(
            "e.id IN (SELECT k.event_id FROM event_keys k WHERE k.name = {n} AND k.value = {v})"
        ));
    }
    // Ids are UUIDv7, drawn as the webhook is stored: their first 48 bits
    // are its time. Bounding the id too (a second wider than asked, for the
    // id and `received_at` being read apart) lets a page walk the ids of the
    // window instead of every newer webhook.
    if let Some(since) = filter.since_ms {
        let p = sql.bind(SqlValue::Int(since));
        sql.and(&format!("e.received_at >= {p}"));
        let id = sql.bind_id(&v7_floor(since.saturating_sub(ID_SLACK_MS)));
        sql.and(&format!("e.id >= {id}"));
    }
    if let Some(until) = filter.until_ms {
        let p = sql.bind(SqlValue::Int(until));
        sql.and(&format!("e.received_at < {p}"));
        let id = sql.bind_id(&v7_floor(until.saturating_add(ID_SLACK_MS)));
        sql.and(&format!("e.id < {id}"));
    }
    if !filter.events.is_empty() {
        let mut list = String::new();
        for id in &filter.events {
            let p = sql.bind_id(id);
            if !list.is_empty() {
                list.push_str(", ");
            }
            list.push_str(&p);
        }
        sql.and(&format!("e.id IN ({list})"));
    }
}

/// The condition on a delivery row `d` alone: target, route, states.
fn delivery_conditions(filter: &EventFilter, sql: &mut Sql) {
    if let Some(target) = &filter.target {
        let p = sql.bind(SqlValue::Text(target.clone()));
        sql.and(&format!("d.target = {p}"));
    }
    if let Some(route) = &filter.route {
        let p = sql.bind(SqlValue::Text(route.clone()));
        sql.and(&format!("d.route = {p}"));
    }
    if let Some(class) = &filter.class {
        let p = sql.bind(SqlValue::Text(class.clone()));
        sql.and(&format!("{CLASS_OF} = {p}"));
    }
    if !filter.states.is_empty() {
        let mut any = String::from("(");
        for (i, state) in filter.states.iter().enumerate() {
            if i > 0 {
                any.push_str(" OR ");
            }
            any.push_str(state.condition());
        }
        any.push(')');
        sql.and(&any);
    }
}

/// The condition on deliveries `d` joined with their webhooks `e`
/// (`FROM deliveries d JOIN events e ON e.id = d.event_id`), placeholders
/// numbered from `first`.
pub fn deliveries_where(filter: &EventFilter, dialect: Dialect, first: usize) -> Sql {
    let mut sql = Sql::new(dialect, first);
    event_conditions(filter, &mut sql);
    delivery_conditions(filter, &mut sql);
    sql.finish()
}

/// The condition on webhooks `e` (`FROM events e`): a webhook matches when
/// one of its deliveries matches the delivery fields. Placeholders are
/// numbered from `first`.
///
/// Asked only for states other than `delivered` (the few: what waits, what
/// failed), the matching deliveries are found first through their state's
/// index and their webhooks looked up by id; otherwise the webhooks are
/// walked newest first and each one's deliveries checked, which fills a
/// page at once when most webhooks match. Either way, a page of a search
/// for dead letters among a million delivered webhooks reads the dead
/// letters, not the million.
pub fn events_where(filter: &EventFilter, dialect: Dialect, first: usize) -> Sql {
    let mut sql = Sql::new(dialect, first);
    event_conditions(filter, &mut sql);
    if filter.on_deliveries() {
        let mut inner = Sql {
            dialect,
            text: String::new(),
            values: std::mem::take(&mut sql.values),
        };
        delivery_conditions(filter, &mut inner);
        sql.values = inner.values;
        let few = !filter.states.is_empty() && !filter.states.contains(&DeliveryState::Delivered);
        let mut condition = String::new();
        let _ = if few {
            write!(
                condition,
                "e.id IN (SELECT d.event_id FROM deliveries d WHERE {})",
                inner.text
            )
        } else {
            write!(
                condition,
                "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND {})",
                inner.text
            )
        };
        sql.and(&condition);
    }
    sql.finish()
}

#[cfg(test)]
mod tests;
