//! Bulk actions on deliveries, as the spool sees them: which deliveries an
//! action may touch ([`Action`]), the slice of a filter one batch works on
//! ([`Scope`]), and what a batch did ([`Batch`]). Replaying an unrendered
//! delivery needs the rules in force, which the spool does not know: it
//! hands the stored webhook out ([`Unrendered`]) and stores what the caller
//! rendered ([`Rerendered`]). Types and the action's SQL condition only;
//! each backend runs them in its own `bulk`.

use bytes::Bytes;

use super::filter::{Dialect, EventFilter, Sql, SqlValue, deliveries_where};
use super::{DeadFilter, DeliveryState, Pending};

/// Deliveries per batch unless the caller says otherwise: each batch is one
/// short transaction, so a job of 100,000 never holds the spool for long.
pub const BATCH: usize = 500;

/// What a bulk action does to the deliveries it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Dead, parked, cancelled and unrendered deliveries (and delivered
    /// ones when asked) become pending again, attempts reset, due now.
    Replay { include_delivered: bool },
    /// Pending and retrying deliveries become `cancelled`.
    Cancel,
}

impl Action {
    /// Its name in the API, the audit log and jobs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replay { .. } => "replay",
            Action::Cancel => "cancel",
        }
    }

    /// The condition on `d` for the rows it changes in place (unrendered
    /// replays are rendered first: see [`Action::unrendered`]).
    pub(crate) fn changes(self) -> &'static str {
        match self {
            Action::Replay {
                include_delivered: false,
            } => "d.state IN ('dead', 'parked', 'cancelled')",
            Action::Replay {
                include_delivered: true,
            } => "d.state IN ('dead', 'parked', 'cancelled', 'delivered')",
            Action::Cancel => "d.state = 'pending'",
        }
    }

    /// Whether it also renders unrendered deliveries again.
    pub fn unrendered(self) -> bool {
        matches!(self, Action::Replay { .. })
    }

    /// The condition on `d` for every row it may touch.
    fn touches(self) -> String {
        if self.unrendered() {
            format!("({} OR d.state = 'unrendered')", self.changes())
        } else {
            self.changes().to_owned()
        }
    }
}

/// The part of a filter one batch works on: deliveries whose id is in
/// `(after, through]`, so that a job works through the ids fixed when it
/// started (deliveries that arrive meanwhile are not its business, and a
/// replayed delivery that dies again is not replayed twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// What the operator asked for.
    pub filter: EventFilter,
    /// Only deliveries last changed before this (unix ms): the dead-letter
    /// shorthand's "given up before".
    pub changed_before_ms: Option<i64>,
    /// Ids above this (the keyset cursor).
    pub after: i64,
    /// Ids up to this (the highest id when the job started).
    pub through: i64,
    /// Most deliveries in one batch.
    pub limit: usize,
}

impl Scope {
    /// Every delivery `filter` selects, in batches of [`BATCH`].
    pub fn new(filter: EventFilter) -> Scope {
        Scope {
            filter,
            changed_before_ms: None,
            after: 0,
            through: i64::MAX,
            limit: BATCH,
        }
    }
}

/// The dead-letter shorthand: `dlq replay` and `/api/dead-letters/replay`
/// are a replay of the dead deliveries their selection names.
impl From<&DeadFilter> for Scope {
    fn from(dead: &DeadFilter) -> Scope {
        Scope {
            changed_before_ms: dead.before_ms,
            ..Scope::new(EventFilter {
                target: dead.target.clone(),
                events: dead.events.clone(),
                states: vec![DeliveryState::Dead],
                ..EventFilter::default()
            })
        }
    }
}

/// What a filter selects for an action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selected {
    /// Deliveries the action would touch now.
    pub count: u64,
    /// The highest delivery id now: a job's [`Scope::through`].
    pub through: i64,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Deliveries the batch selected.
    pub scanned: usize,
    /// The highest id selected: the next batch's `after`.
    pub last: Option<i64>,
    /// The ids it changed (a cancel's, for the workers to forget).
    pub changed: Vec<i64>,
    /// The changed deliveries that entered the pending count (a replay:
    /// all but the parked ones, which it counts already) or left it (a
    /// cancel), with their body bytes: the relay's count follows at once.
    pub moved: Pending,
}

impl Batch {
    /// Whether the scope has nothing left after this batch.
    pub fn finished(&self, limit: usize) -> bool {
        self.scanned < limit
    }
}

/// An unrendered delivery and the webhook it is for, to render again.
#[derive(Debug, Clone)]
pub struct Unrendered {
    /// The delivery's id.
    pub id: i64,
    /// The webhook's source.
    pub source: String,
    /// Its headers as stored (JSON; secrets redacted), if any.
    pub headers: Option<String>,
    /// Its body as received.
    pub body: Bytes,
    /// The delivery's target and route.
    pub target: String,
    pub route: String,
}

/// What rendering an unrendered delivery again came to.
#[derive(Debug, Clone)]
pub struct Rerendered {
    /// The delivery's id.
    pub id: i64,
    /// `Ok(None)`: the webhook's own bytes; `Ok(Some)`: its own body (it
    /// becomes pending); `Err`: why it stays unrendered.
    pub body: Result<Option<Bytes>, String>,
}

/// Unrendered deliveries made pending by [`Rerendered`] results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pended {
    /// Their ids.
    pub ids: Vec<i64>,
    /// They entered the pending count, with these body bytes.
    pub moved: Pending,
}

/// The condition on `d JOIN e` for the rows `action` may touch within
/// `scope`, after the caller's own placeholders `1..first`.
pub(crate) fn selected(action: Action, scope: &Scope, dialect: Dialect, first: usize) -> Sql {
    scoped(action.touches(), scope, dialect, first)
}

/// The condition for the rows `action` changes in place.
pub(crate) fn changed(action: Action, scope: &Scope, dialect: Dialect, first: usize) -> Sql {
    scoped(action.changes().to_owned(), scope, dialect, first)
}

/// The condition for unrendered rows within `scope`.
pub(crate) fn unrendered(scope: &Scope, dialect: Dialect, first: usize) -> Sql {
    scoped("d.state = 'unrendered'".to_owned(), scope, dialect, first)
}

fn scoped(state: String, scope: &Scope, dialect: Dialect, first: usize) -> Sql {
    let mut sql = deliveries_where(&scope.filter, dialect, first);
    let after = sql.bind(SqlValue::Int(scope.after));
    let through = sql.bind(SqlValue::Int(scope.through));
    sql.text = format!(
        "{state} AND d.id > {after} AND d.id <= {through} AND ({})",
        sql.text
    );
    if let Some(before) = scope.changed_before_ms {
        let p = sql.bind(SqlValue::Int(before));
        sql.text.push_str(&format!(" AND d.updated_at < {p}"));
    }
    sql
}

/// `last_error` of a cancelled delivery.
pub fn cancelled_by(who: &str) -> String {
    format!("cancelled by {who}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_touches_what_may_go_again_and_a_cancel_what_waits() {
        let scope = Scope {
            filter: EventFilter {
                target: Some("crm".into()),
                states: vec![DeliveryState::Dead],
                ..EventFilter::default()
            },
            ..Scope::new(EventFilter::default())
        };
        let replay = selected(
            Action::Replay {
                include_delivered: false,
            },
            &scope,
            Dialect::Sqlite,
            1,
        );
        assert_eq!(
            replay.text,
            "(d.state IN ('dead', 'parked', 'cancelled') OR d.state = 'unrendered') AND d.id > ?2 \
             AND d.id <= ?3 AND (d.target = ?1 AND (d.state = 'dead'))"
        );
        let cancel = changed(Action::Cancel, &scope, Dialect::Postgres, 3);
        assert!(
            cancel
                .text
                .starts_with("d.state = 'pending' AND d.id > $4::bigint")
        );
        assert_eq!(cancel.own_values(3).len(), 3);
    }

    #[test]
    fn the_dead_letter_cut_off_is_bound_last() {
        let mut scope = Scope::new(EventFilter::default());
        scope.changed_before_ms = Some(5);
        let sql = unrendered(&scope, Dialect::Sqlite, 1);
        assert!(
            sql.text.ends_with("AND (TRUE) AND d.updated_at < ?3"),
            "{}",
            sql.text
        );
        assert_eq!(sql.values.last(), Some(&SqlValue::Int(5)));
    }
}
