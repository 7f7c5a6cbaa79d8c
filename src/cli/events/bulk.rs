//! `switchboard events replay|cancel`: a bulk action by the event filter,
//! through a relay's admin API (`--admin URL`, the token from
//! `SWITCHBOARD_ADMIN_TOKEN`) or on the spool itself (`--config`, either
//! backend; `--spool`, a SQLite file). The flags become the same request
//! body the API takes, checked by the same rules (`admin::bulk`); a real
//! run is a job, followed to its end with a progress line on a terminal.
//! Must not decide what a filter selects: the spool does.

use std::io::Write;
use std::sync::Arc;

use serde_json::json;

use super::EventsError;
use super::args::{FilterArgs, From, flag};
use super::job::{Outcome, ended, follow};
use crate::admin::bulk::{Kind, Request, check, shown};
use crate::admin::filter;
use crate::admin::jobs::{Effects, begin, execute};
use crate::runtime::Runtime;
use crate::spool::bulk::Action;
use crate::spool::{Ledger, Pending};

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
pub struct BulkArgs {
    #[command(flatten)]
    pub from: From,
    #[command(flatten)]
    pub filter: FilterArgs,
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

/// The request body the flags say, times relative to `now_ms`: the flags
/// read as `events search` reads them, sent as the API takes them.
fn request(args: &BulkArgs, now_ms: i64) -> Result<Request, EventsError> {
    let mut wanted = args.filter.filter(now_ms)?;
    wanted.events = args
        .ids
        .iter()
        .map(|text| flag("id", filter::id(text)))
        .collect::<Result<_, _>>()?;
    Ok(Request {
        filter: Some(filter::to_json(&wanted)),
        dry_run: args.dry_run,
        all: args.all,
        include_delivered: args.include_delivered,
        batch_size: args.batch_size,
    })
}

/// Runs `events replay` or `events cancel`, printing to `out`.
pub async fn run(out: &mut impl Write, kind: Kind, args: BulkArgs) -> Result<(), EventsError> {
    let now_ms = crate::time::now_ms();
    let body = request(&args, now_ms)?;
    let (verb, done) = match kind {
        Kind::Replay => ("replay", "replayed"),
        Kind::Cancel => ("cancel", "cancelled"),
    };
    let outcome = match &args.from.admin {
        Some(url) => super::remote::remote(url, verb, &body, args.json).await,
        None => local(&args, kind, &body, now_ms).await,
    }?;
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
async fn local(
    args: &BulkArgs,
    kind: Kind,
    body: &Request,
    now_ms: i64,
) -> Result<Outcome, EventsError> {
    let Some((ledger, runtime)) = args.from.spool().await? else {
        return Err(EventsError::Refused(
            "say --admin, --config or --spool".into(),
        ));
    };
    let (action, scope) = check(kind, body, now_ms).map_err(EventsError::Refused)?;
    let selected = ledger.bulk_count(action, &scope).await?;
    if body.dry_run {
        return Ok(Outcome::Counted(selected.count));
    }
    let filter = shown(&scope.filter, action);
    let work = begin(&ledger, action, scope, selected, filter, &who()).await?;
    let id = work.id.clone();
    let running = {
        let ledger = ledger.clone();
        let offline = Offline(runtime.map(Arc::new));
        tokio::spawn(async move { execute(&offline, &ledger, &work).await })
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
