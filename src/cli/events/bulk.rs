//! `switchboard events replay|cancel`: a bulk action by the event filter,
//! through a relay's admin API (`--admin URL`, the token from
//! `SWITCHBOARD_ADMIN_TOKEN`) or on the spool itself (`--config`, either
//! backend; `--spool`, a SQLite file). The flags become the same request
//! body the API takes, checked by the same rules (`admin::bulk`); a real
//! run is a job, followed to its end with a progress line on a terminal.
//! Must not decide what a filter selects: the spool does.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::job::{Outcome, ended, follow};
use crate::admin::bulk::{Kind, Request, check, shown};
use crate::admin::jobs::{Effects, begin, execute};
use crate::config::interpolate::Env;
use crate::runtime::Runtime;
use crate::spool::bulk::Action;
use crate::spool::{Ledger, LedgerBackend, Location, Pending, SpoolError};

pub(super) const REPLAY_EXAMPLES: &str = "\
Examples:
  switchboard events replay --admin http://127.0.0.1:9090 --target crm --state dead \\
      --since 2026-11-01T14:00:00Z --until 2026-11-01T15:00:00Z --dry-run
  switchboard events replay --config routes.yaml --key call=pbx-1 --state unrendered
  switchboard events replay --spool /var/lib/switchboard/spool.db --target crm --since 2h";

pub(super) const CANCEL_EXAMPLES: &str = "\
Examples:
  switchboard events cancel --admin http://127.0.0.1:9090 --target crm --state retrying --dry-run
  switchboard events cancel --config routes.yaml --source sipgate --since 30m";

/// Where to act, which deliveries, and how to answer.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("place").required(true).args(["admin", "config", "spool"]))]
pub struct BulkArgs {
    /// A relay's admin API (`http://127.0.0.1:9090`); the bearer token is
    /// read from SWITCHBOARD_ADMIN_TOKEN.
    #[arg(long, value_name = "URL")]
    pub admin: Option<String>,
    /// Act on the spool routes.yaml names (SQLite or PostgreSQL) directly.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Act on this SQLite spool file directly (unrendered deliveries need
    /// --config or --admin: rendering needs the rules).
    #[arg(long)]
    pub spool: Option<PathBuf>,
    /// Only webhooks from this source.
    #[arg(long)]
    pub source: Option<String>,
    /// A lookup key, `NAME=VALUE`; repeatable, all must match.
    #[arg(long = "key", value_name = "NAME=VALUE")]
    pub keys: Vec<String>,
    /// Only deliveries to this target.
    #[arg(long)]
    pub target: Option<String>,
    /// Only deliveries in this state (pending, retrying, delivered, dead,
    /// parked, cancelled, unrendered); repeatable.
    #[arg(long = "state")]
    pub states: Vec<String>,
    /// Only deliveries chosen by this route.
    #[arg(long)]
    pub route: Option<String>,
    /// Only webhooks received since: a duration ago (`2h`, `30m`) or a time
    /// (RFC 3339, or unix milliseconds).
    #[arg(long)]
    pub since: Option<String>,
    /// Only webhooks received before: as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// Only these webhook ids; repeatable.
    #[arg(long = "id")]
    pub ids: Vec<String>,
    /// Every delivery (instead of a filter).
    #[arg(long)]
    pub all: bool,
    /// A replay takes delivered deliveries too.
    #[arg(long)]
    pub include_delivered: bool,
    /// Count what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Deliveries per batch (default 500).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Print JSON (the count, or the job's last report) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Why a bulk command failed.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("--key `{0}`: write NAME=VALUE")]
    Key(String),
    /// The request was refused (by the API or by the same checks here).
    #[error("{0}")]
    Refused(String),
    #[error("{}: {error}", path.display())]
    Load {
        path: PathBuf,
        error: crate::relay::LoadError,
    },
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot reach the admin API at {url}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("the job {id} failed: {error}")]
    Failed { id: String, error: String },
    #[error(transparent)]
    Write(#[from] std::io::Error),
}

/// The request body the flags say.
fn request(args: &BulkArgs) -> Result<Request, BulkError> {
    let mut filter = Map::new();
    let mut put = |name: &str, value: Value| {
        filter.insert(name.to_owned(), value);
    };
    for (name, value) in [
        ("source", &args.source),
        ("target", &args.target),
        ("route", &args.route),
    ] {
        if let Some(value) = value {
            put(name, value.clone().into());
        }
    }
    let mut keys = Map::new();
    for pair in &args.keys {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| BulkError::Key(pair.clone()))?;
        keys.insert(name.to_owned(), value.into());
    }
    if !keys.is_empty() {
        put("keys", keys.into());
    }
    let states: Vec<&str> = args.states.iter().flat_map(|s| s.split(',')).collect();
    if !states.is_empty() {
        put("states", json!(states));
    }
    for (name, value) in [("since", &args.since), ("until", &args.until)] {
        if let Some(text) = value {
            put(name, when(text));
        }
    }
    if !args.ids.is_empty() {
        put("events", json!(args.ids));
    }
    Ok(Request {
        filter: Some(filter.into()),
        dry_run: args.dry_run,
        all: args.all,
        include_delivered: args.include_delivered,
        batch_size: args.batch_size,
    })
}

/// `2h` (that long ago, as unix milliseconds), or the text as written for
/// the filter to read.
fn when(text: &str) -> Value {
    match crate::config::units::duration(text) {
        Ok(ago) => crate::time::unix_ms(std::time::SystemTime::now() - ago).into(),
        Err(_) => text.into(),
    }
}

/// Runs `events replay` or `events cancel`.
pub fn run(kind: Kind, args: BulkArgs) -> Result<(), BulkError> {
    let body = request(&args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BulkError::Runtime)?;
    let (verb, done) = match kind {
        Kind::Replay => ("replay", "replayed"),
        Kind::Cancel => ("cancel", "cancelled"),
    };
    let outcome = match &args.admin {
        Some(url) => rt.block_on(super::remote::remote(url, verb, &body, args.json)),
        None => rt.block_on(local(&args, kind, &body)),
    }?;
    let mut out = std::io::stdout().lock();
    match outcome {
        Outcome::Counted(n) if args.json => writeln!(out, "{}", json!({"count": n}))?,
        Outcome::Counted(n) => writeln!(out, "{n} deliveries would be {done}")?,
        Outcome::Ended(job) if args.json => writeln!(out, "{job}")?,
        Outcome::Ended(job) => writeln!(
            out,
            "{verb} job {}: {}, {} of {} deliveries",
            job["id"].as_str().unwrap_or(""),
            job["state"].as_str().unwrap_or(""),
            job["done"],
            job["total"]
        )?,
    }
    Ok(())
}

/// On the spool itself, as `cli:<user>`.
async fn local(args: &BulkArgs, kind: Kind, body: &Request) -> Result<Outcome, BulkError> {
    let (location, runtime) = match (&args.config, &args.spool) {
        (Some(config), _) => {
            let runtime =
                crate::relay::load(config, &Env::from_process(), None).map_err(|error| {
                    BulkError::Load {
                        path: config.clone(),
                        error,
                    }
                })?;
            (runtime.server.spool.clone(), Some(Arc::new(runtime)))
        }
        (None, Some(path)) => (Location::Sqlite(path.clone()), None),
        (None, None) => {
            return Err(BulkError::Refused(
                "say --admin, --config or --spool".into(),
            ));
        }
    };
    let ledger = LedgerBackend::open(&location).await?;
    let (action, scope) = check(kind, body).map_err(BulkError::Refused)?;
    let selected = ledger.bulk_count(action, &scope).await?;
    if body.dry_run {
        return Ok(Outcome::Counted(selected.count));
    }
    let filter = shown(&scope.filter, action);
    let work = begin(&ledger, action, scope, selected, filter, &who()).await?;
    let id = work.id.clone();
    let running = {
        let ledger = ledger.clone();
        tokio::spawn(async move { execute(&Offline(runtime), &ledger, &work).await })
    };
    let job = follow(args.json, || async {
        let job = ledger.job(&id).await?;
        Ok(serde_json::to_value(job).unwrap_or_default())
    })
    .await;
    let _ = running.await;
    ended(job?)
}

/// `cli:<user>`, for the audit log.
pub(crate) fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}

/// The command line's effects: the rules of `--config`, if given; no
/// running relay to tell (relays look in the spool every few seconds).
struct Offline(Option<Arc<Runtime>>);

impl Effects for Offline {
    fn runtime(&self) -> Option<Arc<Runtime>> {
        self.0.clone()
    }

    fn changed(&self, _: Action, _: &[i64], _: Pending) {}
}
