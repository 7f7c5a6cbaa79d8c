//! `switchboard events search|show|replay|cancel`: the history, asked of a running
//! relay's admin API (`--admin URL`, the token from
//! `SWITCHBOARD_ADMIN_TOKEN`) or read from the spool directly (`--config`
//! names it, or `--spool` a SQLite file), with the same filters as
//! `GET /api/events`.
//!
//! This file holds the arguments, where the answers come from and the
//! command's errors; `search` and `show` print. The filter's values are
//! parsed by [`crate::admin::events::query`], as the API parses them.

pub mod bulk;
mod job;
mod reader;
mod remote;
mod search;
mod show;

use std::path::PathBuf;

use clap::Subcommand;

use crate::admin::events::query::{self, SearchQuery, TimeError};
use crate::relay::LoadError;
use crate::spool::{EventFilter, SpoolError};
use reader::Reader;

pub use bulk::{BulkArgs, BulkError};

/// What `events` does.
#[derive(Subcommand)]
pub enum EventsAction {
    /// Find webhooks by source, lookup key, target, state, route and time,
    /// newest first.
    ///
    /// Example: switchboard events search --admin http://127.0.0.1:9090 --key call=pbx-123
    Search {
        #[command(flatten)]
        from: From,
        #[command(flatten)]
        filter: FilterArgs,
        /// Webhooks per page (1 to 500).
        #[arg(long, default_value_t = query::DEFAULT_LIMIT)]
        limit: usize,
        /// Continue after a page: the cursor the last one printed.
        #[arg(long)]
        cursor: Option<String>,
        /// Print the page as JSON (`items`, `next_cursor`).
        #[arg(long)]
        json: bool,
    },
    /// One webhook's whole story: its body and headers, and each
    /// delivery's body and attempts with the target's answers.
    ///
    /// Example: switchboard events show --config routes.yaml 019ae3c4-...
    Show {
        #[command(flatten)]
        from: From,
        /// The webhook's id.
        id: String,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make dead, parked, cancelled and unrendered deliveries pending again
    /// (attempts reset); the relay sends them through each target's window,
    /// rate limit and circuit.
    ///
    /// Needs a filter or --all. Run --dry-run first: it counts and changes
    /// nothing.
    #[command(after_long_help = bulk::REPLAY_EXAMPLES)]
    Replay(BulkArgs),
    /// Stop pending and retrying deliveries: they become `cancelled`.
    ///
    /// Needs a filter or --all. Run --dry-run first: it counts and changes
    /// nothing.
    #[command(after_long_help = bulk::CANCEL_EXAMPLES)]
    Cancel(BulkArgs),
}

/// Where the history is read: one of these.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct From {
    /// A running relay's admin API, e.g. `http://127.0.0.1:9090`; the
    /// bearer token is read from SWITCHBOARD_ADMIN_TOKEN.
    #[arg(long, value_name = "URL")]
    pub admin: Option<url::Url>,
    /// Path of routes.yaml: read the spool it names (SQLite or PostgreSQL).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// A SQLite spool file, read directly.
    #[arg(long, value_name = "FILE")]
    pub spool: Option<PathBuf>,
}

/// Which webhooks: every one given must match.
#[derive(clap::Args, Default)]
pub struct FilterArgs {
    /// The source they came from.
    #[arg(long)]
    pub source: Option<String>,
    /// A lookup key, `NAME=VALUE` (e.g. `call=pbx-123`); repeatable.
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
    /// Received at or after: a duration ago (`2h`), RFC 3339 or unix ms.
    #[arg(long)]
    pub since: Option<String>,
    /// Received before: a duration ago, RFC 3339 or unix ms.
    #[arg(long)]
    pub until: Option<String>,
}

/// Why an `events` command failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("{}: {error}", path.display())]
    Load { path: PathBuf, error: LoadError },
    #[error("--key `{0}`: expected NAME=VALUE, e.g. call=pbx-123")]
    Key(String),
    #[error("--{flag}: {error}")]
    Time {
        flag: &'static str,
        error: TimeError,
    },
    #[error("--{flag}: {problem}")]
    Value { flag: &'static str, problem: String },
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot open the spool {spool}")]
    Open {
        spool: String,
        #[source]
        source: SpoolError,
    },
    #[error("no webhook {0} in the spool (unknown, or pruned after its retention)")]
    NotFound(String),
    #[error("cannot reach the admin API at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the admin API answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Write(#[from] std::io::Error),
    #[error(transparent)]
    Bulk(#[from] BulkError),
}

impl EventsError {
    /// Whether standard output's reader has gone (`events search | head`).
    pub fn broken_pipe(&self) -> bool {
        matches!(self, EventsError::Write(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl FilterArgs {
    /// The filter the flags name, times relative to `now_ms`.
    pub fn filter(&self, now_ms: i64) -> Result<EventFilter, EventsError> {
        let time = |flag, text: &Option<String>| {
            text.as_deref()
                .map(|t| query::time(t, now_ms).map_err(|error| EventsError::Time { flag, error }))
                .transpose()
        };
        let mut states = Vec::new();
        for text in &self.states {
            states.extend(query::states(text).map_err(|problem| EventsError::Value {
                flag: "state",
                problem,
            })?);
        }
        Ok(EventFilter {
            source: self.source.clone(),
            keys: self
                .keys
                .iter()
                .map(|pair| match pair.split_once('=') {
                    Some((name, value)) if !name.is_empty() => {
                        Ok((name.to_owned(), value.to_owned()))
                    }
                    _ => Err(EventsError::Key(pair.clone())),
                })
                .collect::<Result<_, _>>()?,
            target: self.target.clone(),
            states,
            route: self.route.clone(),
            since_ms: time("since", &self.since)?,
            until_ms: time("until", &self.until)?,
            events: Vec::new(),
        })
    }
}

/// Runs an `events` action.
pub fn run(action: EventsAction) -> Result<(), EventsError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(EventsError::Runtime)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match action {
        EventsAction::Search {
            from,
            filter,
            limit,
            cursor,
            json,
        } => {
            let value = |flag, problem| EventsError::Value { flag, problem };
            let search = SearchQuery {
                filter: filter.filter(crate::time::now_ms())?,
                limit: query::limit(&limit.to_string()).map_err(|p| value("limit", p))?,
                cursor: cursor
                    .as_deref()
                    .map(query::cursor)
                    .transpose()
                    .map_err(|p| value("cursor", p))?,
            };
            let reader = rt.block_on(Reader::open(&from))?;
            let page = rt.block_on(reader.search(&search))?;
            search::print(&mut out, &page, json)?;
        }
        EventsAction::Show { from, id, json } => {
            let reader = rt.block_on(Reader::open(&from))?;
            let event = rt
                .block_on(reader.show(&id))?
                .ok_or(EventsError::NotFound(id))?;
            show::print(&mut out, &event, json)?;
        }
        EventsAction::Replay(args) => bulk::run(crate::admin::bulk::Kind::Replay, args)?,
        EventsAction::Cancel(args) => bulk::run(crate::admin::bulk::Kind::Cancel, args)?,
    }
    std::io::Write::flush(&mut out)?;
    Ok(())
}
