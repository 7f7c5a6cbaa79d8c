//! `switchboard dlq list|replay|purge`: dead letters in the spool, worked on
//! directly (also while relays run), and the table `list` prints.
//!
//! Which dead letters a command names is decided by
//! [`crate::admin::dead_letters`], the same rules the admin API follows;
//! this module reads the arguments, opens the ledger and prints. Must not
//! create a spool that is not there.

use std::io::Write;

use crate::admin::dead_letters::{SelectError, Selection, Use};
use crate::admin::filter;
use crate::cli::args::{DlqAction, DlqSelect};
use crate::cli::spool::{self, OpenError};
use crate::spool::{DeadFilter, DeadLetter, Ledger, LedgerBackend, SpoolError};

/// Why a `dlq` command failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// `--before` is neither a duration nor a time.
    #[error(
        "--before `{0}`: not a duration (7d, 24h), an RFC 3339 time (2026-11-01T00:00:00Z) or unix milliseconds"
    )]
    Before(String),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A change with no selector and no `--all`.
    #[error(
        "refusing to {verb} every dead letter: select some with --target, --id or --before, or pass --all"
    )]
    Everything { verb: &'static str },
    #[error(transparent)]
    Select(SelectError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Write(#[from] std::io::Error),
}

impl DlqError {
    /// Whether standard output's reader has gone (`dlq list | head`): the
    /// reader has what it wanted, not an error.
    pub fn broken_pipe(&self) -> bool {
        matches!(self, DlqError::Write(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Runs a `dlq` action against the spool `action`'s config names.
pub fn run(action: DlqAction) -> Result<(), DlqError> {
    let (select, all, used, verb) = match &action {
        DlqAction::List { select, .. } => (select, false, Use::List, "list"),
        DlqAction::Replay { select, all } => (select, *all, Use::Change, "replay"),
        DlqAction::Purge { select, all } => (select, *all, Use::Change, "purge"),
    };
    let runtime = spool::load(&select.config)?;
    let selection = selection(select, all)?;
    let rt = crate::cli::runtime().map_err(DlqError::Runtime)?;
    let ledger = rt.block_on(spool::open(&runtime.server.spool))?;
    let filter = rt
        .block_on(selection.check(used, &runtime, || ledger.backlog()))
        .map_err(|e| match e {
            SelectError::Nothing => DlqError::Everything { verb },
            other => DlqError::Select(other),
        })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match action {
        DlqAction::List { json, .. } => {
            list(&mut out, &rt.block_on(ledger.dead_letters(&filter))?, json)?
        }
        DlqAction::Replay { .. } => {
            let n = rt.block_on(ledger.replay(&filter))?;
            rt.block_on(audit(&ledger, verb, &filter, n))?;
            writeln!(out, "{n} dead letter(s) due again")?
        }
        DlqAction::Purge { .. } => {
            let n = rt.block_on(ledger.purge(&filter))?;
            rt.block_on(audit(&ledger, verb, &filter, n))?;
            writeln!(out, "{n} dead letter(s) purged")?
        }
    }
    out.flush()?;
    Ok(())
}

/// Writes a replay or purge to the audit log, as `cli:<user>`.
async fn audit(
    ledger: &LedgerBackend,
    verb: &str,
    filter: &DeadFilter,
    n: u64,
) -> Result<(), SpoolError> {
    let who = crate::cli::events::bulk::who();
    ledger
        .audit(crate::admin::dead_letters::audited(&who, verb, filter, n))
        .await
}

/// The selection the arguments name.
fn selection(select: &DlqSelect, all: bool) -> Result<Selection, DlqError> {
    Ok(Selection {
        target: select.target.clone(),
        ids: select.ids.clone(),
        before_ms: select.before.as_deref().map(parse_before).transpose()?,
        all,
    })
}

/// `7d` (that long ago), an RFC 3339 time or unix milliseconds, as unix
/// milliseconds: read as the event filter's times are.
pub fn parse_before(text: &str) -> Result<i64, DlqError> {
    filter::time(text, crate::time::now_ms()).map_err(|_| DlqError::Before(text.to_owned()))
}

/// Lists dead letters: one JSON object per line, or a table with their
/// number on standard error.
fn list(out: &mut impl Write, dead: &[DeadLetter], json: bool) -> Result<(), DlqError> {
    if json {
        for letter in dead {
            writeln!(out, "{}", serde_json::to_string(letter)?)?;
        }
        return Ok(());
    }
    table(out, dead)?;
    out.flush()?;
    eprintln!(
        "{} dead letter{}",
        dead.len(),
        if dead.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

/// Dead letters as a table, a header line first.
fn table(out: &mut impl Write, dead: &[DeadLetter]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<36}  {:<12}  {:>8}  {:>6}  {:<20}  ERROR",
        "WEBHOOK", "TARGET", "ATTEMPTS", "STATUS", "DEAD SINCE"
    )?;
    for d in dead {
        let status = d
            .last_status
            .map_or_else(|| "-".to_owned(), |s| s.to_string());
        writeln!(
            out,
            "{:<36}  {:<12}  {:>8}  {:>6}  {:<20}  {}",
            d.event,
            d.target,
            d.attempts,
            status,
            time(d.dead_ms),
            d.last_error.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// A unix-milliseconds time as RFC 3339, to the second.
fn time(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}
