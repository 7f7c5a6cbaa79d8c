//! The flags every `events` command shares: where the history is
//! ([`From`]: a relay's admin API, the spool a config names, or a SQLite
//! file) and which webhooks ([`FilterArgs`], the filters of
//! `GET /api/events`). `search` and `replay|cancel` flatten both. The
//! values are read by [`crate::admin::filter`], as the API reads them; must
//! not decide what a filter matches: the spool does.

use std::path::PathBuf;

use crate::admin::filter::{self, ValueError};
use crate::cli::spool::{self, OpenError};
use crate::runtime::Runtime;
use crate::spool::{EventFilter, LedgerBackend};

use super::EventsError;

/// Where the history is: one of these.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct From {
    /// A running relay's admin API, e.g. `http://127.0.0.1:9090`; the
    /// bearer token is read from SWITCHBOARD_ADMIN_TOKEN.
    #[arg(long, value_name = "URL")]
    pub admin: Option<url::Url>,
    /// Path of routes.yaml: the spool it names (SQLite or PostgreSQL),
    /// used directly, with its rules.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// A SQLite spool file, used directly (without the rules: unrendered
    /// deliveries are replayed only with --config or --admin).
    #[arg(long, value_name = "FILE")]
    pub spool: Option<PathBuf>,
}

impl From {
    /// The spool `--config` or `--spool` names, opened, with the rules of
    /// `--config`; `None` with `--admin`.
    pub async fn spool(&self) -> Result<Option<(LedgerBackend, Option<Runtime>)>, OpenError> {
        spool::named(self.config.as_deref(), self.spool.as_deref()).await
    }
}

/// Which webhooks: every one given must match.
#[derive(clap::Args, Default)]
pub struct FilterArgs {
    /// The source they came from.
    #[arg(long)]
    pub source: Option<String>,
    /// A lookup key, `NAME=VALUE` (e.g. `call=pbx-123`); repeatable, all
    /// must match.
    #[arg(long = "key", value_name = "NAME=VALUE")]
    pub keys: Vec<String>,
    /// A delivery to this target.
    #[arg(long)]
    pub target: Option<String>,
    /// A delivery in this state (pending, retrying, delivered, dead,
    /// parked, cancelled, unrendered); repeatable or comma-separated.
    #[arg(long = "state")]
    pub states: Vec<String>,
    /// A delivery chosen by this route.
    #[arg(long)]
    pub route: Option<String>,
    /// A delivery whose last failure is of this class: a status (`500`),
    /// an error class (`timeout`, `connect`) or `none`; what
    /// `GET /api/dead-letters/groups` groups by.
    #[arg(long)]
    pub class: Option<String>,
    /// Received at or after: a duration ago (`2h`, `30m`), RFC 3339 or
    /// unix ms.
    #[arg(long)]
    pub since: Option<String>,
    /// Received before: a duration ago, RFC 3339 or unix ms.
    #[arg(long)]
    pub until: Option<String>,
}

/// `--flag`'s value, or the error naming the flag.
pub(super) fn flag<T>(flag: &'static str, read: Result<T, ValueError>) -> Result<T, EventsError> {
    read.map_err(|error| EventsError::Filter { flag, error })
}

impl FilterArgs {
    /// The filter the flags name, times relative to `now_ms`.
    pub fn filter(&self, now_ms: i64) -> Result<EventFilter, EventsError> {
        let time = |name, text: &Option<String>| {
            text.as_deref()
                .map(|t| flag(name, filter::time(t, now_ms)))
                .transpose()
        };
        let mut states = Vec::new();
        for text in &self.states {
            states.extend(flag("state", filter::states(text))?);
        }
        Ok(EventFilter {
            source: self.source.clone(),
            keys: self
                .keys
                .iter()
                .map(|pair| flag("key", filter::key(pair)))
                .collect::<Result<_, _>>()?,
            target: self.target.clone(),
            states,
            route: self.route.clone(),
            since_ms: time("since", &self.since)?,
            until_ms: time("until", &self.until)?,
            class: self.class.clone(),
            events: Vec::new(),
        })
    }
}
