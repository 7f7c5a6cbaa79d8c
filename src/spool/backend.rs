//! Choosing the spool: `server.spool` names a SQLite file or a PostgreSQL
//! database, and [`Backend`] / [`LedgerBackend`] delegate to the one chosen.
//!
//! The traits use `async fn`, so there is no `dyn Spool`: an enum with one
//! arm per backend is the whole mechanism. Owns no SQL.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::postgres::{self, PgLedger, PgSpool};
use super::sqlite::{self, SqliteLedger, SqliteSpool};
use super::{
    Admitted, Backlog, Claimed, DeadFilter, DeadLetter, EventView, Ledger, NewDelivery, NewEvent,
    Pending, Record, Spool, SpoolError, Window,
};
use crate::config::interpolate::{self, Env};

/// Where the spool lives, as `server.spool` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (the default): one relay.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…`): several replicas.
    Postgres(Box<tokio_postgres::Config>),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL names a database (`${NAME}` is
    /// resolved in it, for the password); anything else is a file path.
    pub fn parse(text: &str, env: &Env) -> Result<Location, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(
                "needs a file path (./data/switchboard.db) or a PostgreSQL URL (postgres://user@host:5432/db)"
                    .to_owned(),
            );
        }
        if !(trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://")) {
            return Ok(Location::Sqlite(PathBuf::from(text)));
        }
        let url = interpolate::resolve(trimmed, env).map_err(|e| e.to_string())?;
        // The parser's message may quote the URL, password included: say
        // what is wrong without it.
        let config: tokio_postgres::Config = url.parse().map_err(|_| {
            "not a valid PostgreSQL URL (e.g. postgres://switchboard:${PGPASSWORD}@db:5432/switchboard, \
             or postgres://switchboard@%2Fvar%2Frun%2Fpostgresql/switchboard for a local socket)"
                .to_owned()
        })?;
        if config.get_hosts().is_empty() {
            return Err(
                "the PostgreSQL URL names no host (postgres://user@host:5432/db)".to_owned(),
            );
        }
        Ok(Location::Postgres(Box::new(config)))
    }
}

impl Location {
    /// A relative SQLite path joined to `dir` (the config file's directory);
    /// anything else unchanged.
    pub fn relative_to(self, dir: &Path) -> Location {
        match self {
            Location::Sqlite(path) if path.is_relative() => Location::Sqlite(
                // Without the `./`, so that messages show a clean path.
                dir.join(
                    path.components()
                        .filter(|c| *c != std::path::Component::CurDir)
                        .collect::<PathBuf>(),
                ),
            ),
            other => other,
        }
    }
}

/// For logs and errors: the file, or the database without its password.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(config) => f.write_str(&postgres::shown(config)),
        }
    }
}

/// The relay's spool, whichever backend `server.spool` chose.
pub enum Backend {
    Sqlite(SqliteSpool),
    Postgres(PgSpool),
}

impl Backend {
    /// Opens (creating and migrating) the spool at `location`. `lease` is
    /// how long a PostgreSQL replica's claim outlives its last heartbeat.
    /// Must be called inside a tokio runtime.
    pub async fn open(
        location: &Location,
        commit_batch: usize,
        retention: Duration,
        lease: Duration,
    ) -> Result<Backend, SpoolError> {
        Ok(match location {
            Location::Sqlite(path) => Backend::Sqlite(SqliteSpool::open(sqlite::Options {
                path: path.clone(),
                commit_batch,
                retention,
            })?),
            Location::Postgres(config) => Backend::Postgres(
                PgSpool::open(postgres::Options {
                    config: (**config).clone(),
                    commit_batch,
                    retention,
                    lease,
                })
                .await?,
            ),
        })
    }

    /// The operator's view of the same spool, on a connection of its own.
    pub fn ledger(&self, location: &Location) -> Result<LedgerBackend, SpoolError> {
        Ok(match (self, location) {
            (Backend::Postgres(spool), _) => LedgerBackend::Postgres(spool.ledger()),
            (Backend::Sqlite(_), Location::Sqlite(path)) => {
                LedgerBackend::Sqlite(SqliteLedger::open(path)?)
            }
            (Backend::Sqlite(_), Location::Postgres(_)) => {
                return Err(SpoolError::Commit(
                    "the spool location does not match the open spool".to_owned(),
                ));
            }
        })
    }
}

impl Spool for Backend {
    async fn accept(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<Admitted, SpoolError> {
        match self {
            Backend::Sqlite(s) => s.accept(event, deliveries).await,
            Backend::Postgres(s) => s.accept(event, deliveries).await,
        }
    }

    async fn record(&self, id: i64, outcome: Record) {
        match self {
            Backend::Sqlite(s) => s.record(id, outcome).await,
            Backend::Postgres(s) => s.record(id, outcome).await,
        }
    }

    async fn claim(
        &self,
        target: &str,
        limit: usize,
        held: Vec<i64>,
    ) -> Result<Claimed, SpoolError> {
        match self {
            Backend::Sqlite(s) => s.claim(target, limit, held).await,
            Backend::Postgres(s) => s.claim(target, limit, held).await,
        }
    }

    fn attach(&self, target: &str, window: Window) {
        match self {
            Backend::Sqlite(s) => s.attach(target, window),
            Backend::Postgres(s) => s.attach(target, window),
        }
    }

    fn detach(&self, target: &str) {
        match self {
            Backend::Sqlite(s) => s.detach(target),
            Backend::Postgres(s) => s.detach(target),
        }
    }

    async fn dead_letter_others(&self, keep: Vec<String>) -> Result<u64, SpoolError> {
        match self {
            Backend::Sqlite(s) => s.dead_letter_others(keep).await,
            Backend::Postgres(s) => s.dead_letter_others(keep).await,
        }
    }

    async fn unpark(&self, target: &str) -> Result<u64, SpoolError> {
        match self {
            Backend::Sqlite(s) => s.unpark(target).await,
            Backend::Postgres(s) => s.unpark(target).await,
        }
    }

    fn pending(&self) -> Pending {
        match self {
            Backend::Sqlite(s) => s.pending(),
            Backend::Postgres(s) => s.pending(),
        }
    }

    fn share(&self) -> NonZeroU32 {
        match self {
            Backend::Sqlite(s) => s.share(),
            Backend::Postgres(s) => s.share(),
        }
    }

    async fn flush(&self) -> Result<(), SpoolError> {
        match self {
            Backend::Sqlite(s) => s.flush().await,
            Backend::Postgres(s) => s.flush().await,
        }
    }

    async fn close(&self) -> Result<(), SpoolError> {
        match self {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(s) => s.close().await,
        }
    }
}

/// The operator's view, whichever backend `server.spool` chose.
#[derive(Clone)]
pub enum LedgerBackend {
    Sqlite(SqliteLedger),
    Postgres(PgLedger),
}

impl LedgerBackend {
    /// Opens the spool at `location` for the `dlq` commands, without
    /// starting a relay (no writer, no heartbeat, no leases). A SQLite file
    /// that does not exist is an error, not a new empty spool: the command
    /// was most likely pointed at the wrong place.
    pub async fn open(location: &Location) -> Result<LedgerBackend, SpoolError> {
        Ok(match location {
            Location::Sqlite(path) if !path.exists() => {
                return Err(SpoolError::Missing {
                    path: path.display().to_string(),
                });
            }
            Location::Sqlite(path) => LedgerBackend::Sqlite(SqliteLedger::open(path)?),
            Location::Postgres(config) => LedgerBackend::Postgres(PgLedger::open(config).await?),
        })
    }
}

impl Ledger for LedgerBackend {
    async fn dead_letters(&self, filter: &DeadFilter) -> Result<Vec<DeadLetter>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.dead_letters(filter).await,
            LedgerBackend::Postgres(l) => l.dead_letters(filter).await,
        }
    }

    async fn replay(&self, filter: &DeadFilter) -> Result<u64, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.replay(filter).await,
            LedgerBackend::Postgres(l) => l.replay(filter).await,
        }
    }

    async fn purge(&self, filter: &DeadFilter) -> Result<u64, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.purge(filter).await,
            LedgerBackend::Postgres(l) => l.purge(filter).await,
        }
    }

    async fn backlog(&self) -> Result<HashMap<String, Backlog>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.backlog().await,
            LedgerBackend::Postgres(l) => l.backlog().await,
        }
    }

    async fn event(&self, id: &str) -> Result<Option<EventView>, SpoolError> {
        match self {
            LedgerBackend::Sqlite(l) => l.event(id).await,
            LedgerBackend::Postgres(l) => l.event(id).await,
        }
    }
}

#[cfg(test)]
mod tests;
