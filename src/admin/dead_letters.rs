//! Which dead letters an operator's command applies to: the selection that
//! `switchboard dlq` and the admin API's dead-letter endpoints share, and its
//! checks. A replay or purge must name what it touches (a target, webhook
//! ids, a cut-off time) or say `all`; a target must exist in the config or
//! in the spool; an id must be a webhook id. Reads the spool only to know
//! whether a target has dead letters; changes nothing.

use std::collections::HashMap;

use serde::Deserialize;

use crate::runtime::Runtime;
use crate::spool::audit::AuditEntry;
use crate::spool::bulk::Scope;
use crate::spool::{Backlog, DeadFilter, SpoolError};

/// The dead letters a command names, as the CLI's flags or the API's JSON
/// body give them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Only this target.
    pub target: Option<String>,
    /// Only these webhook ids.
    #[serde(default)]
    pub ids: Vec<String>,
    /// Only those given up before this (unix milliseconds).
    pub before_ms: Option<i64>,
    /// Every dead letter: what a replay or purge without a selector means,
    /// said explicitly.
    #[serde(default)]
    pub all: bool,
}

/// What the command does with its selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Lists: no selector means every dead letter.
    List,
    /// Replays or purges: no selector is refused.
    Change,
}

/// Why a selection was refused.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error(
        "no dead letters selected: name a target, webhook ids or a cut-off time, or select all of them explicitly"
    )]
    Nothing,
    #[error(
        "`all` selects every dead letter and cannot be combined with a target, ids or a cut-off time"
    )]
    AllAndMore,
    #[error("unknown target \"{name}\": it is not in the config and has no dead letters ({known})")]
    UnknownTarget { name: String, known: String },
    #[error("\"{0}\" is not a webhook id (a UUID such as 019ae3c4-5b1a-7d2e-8f00-0123456789ab)")]
    BadId(String),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

impl Selection {
    /// Whether it names anything other than `all`.
    fn narrows(&self) -> bool {
        self.target.is_some() || !self.ids.is_empty() || self.before_ms.is_some()
    }

    /// Checks the selection against the config and the spool's per-target
    /// counts (`backlog`, read only when the target is not in the config),
    /// and gives the spool's filter.
    pub async fn check<F>(
        self,
        used: Use,
        runtime: &Runtime,
        backlog: impl FnOnce() -> F,
    ) -> Result<DeadFilter, SelectError>
    where
        F: Future<Output = Result<HashMap<String, Backlog>, SpoolError>>,
    {
        if self.all && self.narrows() {
            return Err(SelectError::AllAndMore);
        }
        if used == Use::Change && !self.all && !self.narrows() {
            return Err(SelectError::Nothing);
        }
        // Kept in their canonical form (lower case, hyphenated), as stored.
        let events = self
            .ids
            .iter()
            .map(|id| {
                uuid::Uuid::try_parse(id)
                    .map(|id| id.to_string())
                    .map_err(|_| SelectError::BadId(id.clone()))
            })
            .collect::<Result<Vec<String>, SelectError>>()?;
        if let Some(name) = &self.target
            && !runtime.targets.contains_key(name)
        {
            // A target dropped from the config keeps its dead letters; those
            // can still be listed, replayed (to no one: they die again) or
            // purged.
            let dead = backlog().await?.get(name).is_some_and(|b| b.dead > 0);
            if !dead {
                let known: Vec<&str> = runtime.targets.keys().map(String::as_str).collect();
                return Err(SelectError::UnknownTarget {
                    name: name.clone(),
                    known: if known.is_empty() {
                        "no target is defined".to_owned()
                    } else {
                        format!("targets: {}", known.join(", "))
                    },
                });
            }
        }
        Ok(DeadFilter {
            target: self.target,
            events,
            before_ms: self.before_ms,
        })
    }
}

/// The audit log's entry for a dead-letter replay or purge (`action`) of
/// `n` dead letters by `who`: the filter as the bulk replay's, with the
/// cut-off as `dead_before_ms`.
pub fn audited(who: &str, action: &str, filter: &DeadFilter, n: u64) -> AuditEntry {
    let mut shown = serde_json::to_value(Scope::from(filter).filter).unwrap_or_default();
    if let (Some(before), Some(object)) = (filter.before_ms, shown.as_object_mut()) {
        object.insert("dead_before_ms".to_owned(), before.into());
    }
    AuditEntry {
        who: who.to_owned(),
        action: action.to_owned(),
        target: filter.target.clone(),
        filter: Some(shown),
        count: Some(n as i64),
        detail: Some("dead-letter shorthand".to_owned()),
    }
}
