//! `switchboard events search|show|replay|cancel`: the history, asked of a running
//! relay's admin API (`--admin URL`, the token from
//! `SWITCHBOARD_ADMIN_TOKEN`) or read from the spool directly (`--config`
//! names it, or `--spool` a SQLite file), with the same filters as
//! `GET /api/events`.
//!
//! This file holds the subcommands, where the answers come from and the
//! command's errors; `args` the flags they share, `search` and `show`
//! print, `bulk` acts. The filter's values are parsed by
//! [`crate::admin::filter`], as the API parses them.

mod args;
pub mod bulk;
mod job;
mod reader;
mod remote;
mod search;
mod show;

use clap::Subcommand;

use crate::admin::bulk::Kind;
use crate::admin::events::query::{self, SearchQuery};
use crate::admin::filter::ValueError;
use crate::cli::api::ApiError;
use crate::cli::spool::OpenError;
use crate::spool::SpoolError;
use reader::Reader;

pub use args::{FilterArgs, From};
pub use bulk::BulkArgs;

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

/// Why an `events` command failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("--{flag}: {error}")]
    Filter {
        flag: &'static str,
        error: ValueError,
    },
    #[error("--{flag}: {problem}")]
    Value { flag: &'static str, problem: String },
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("no webhook {0} in the spool (unknown, or pruned after its retention)")]
    NotFound(String),
    /// A bulk action refused by the checks the API makes.
    #[error("{0}")]
    Refused(String),
    #[error("the job {id} failed: {error}")]
    Failed { id: String, error: String },
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Write(#[from] std::io::Error),
}

impl EventsError {
    /// Whether standard output's reader has gone (`events search | head`).
    pub fn broken_pipe(&self) -> bool {
        matches!(self, EventsError::Write(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Runs an `events` action.
pub fn run(action: EventsAction) -> Result<(), EventsError> {
    let rt = crate::cli::runtime().map_err(EventsError::Runtime)?;
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
        EventsAction::Replay(args) => rt.block_on(bulk::run(&mut out, Kind::Replay, args))?,
        EventsAction::Cancel(args) => rt.block_on(bulk::run(&mut out, Kind::Cancel, args))?,
    }
    std::io::Write::flush(&mut out)?;
    Ok(())
}
