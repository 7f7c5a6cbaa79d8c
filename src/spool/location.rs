//! Where the spool lives: `server.spool` names a SQLite file or a
//! PostgreSQL database. Parsing and showing the location only; opening it
//! is `backend`'s.

use std::fmt;
use std::path::{Path, PathBuf};

use super::postgres;
use crate::config::interpolate::{self, Env, InterpolateError};

/// Where the spool lives, as `server.spool` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (the default): one relay.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…`): several replicas.
    Postgres(Box<tokio_postgres::Config>),
}

/// Why `server.spool` names no usable location. The messages never quote
/// the URL, which may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error(
        "needs a file path (./data/switchboard.db) or a PostgreSQL URL (postgres://user@host:5432/db)"
    )]
    Empty,
    #[error(transparent)]
    Interpolate(#[from] InterpolateError),
    #[error(
        "not a valid PostgreSQL URL (e.g. postgres://switchboard:${{PGPASSWORD}}@db:5432/switchboard, \
         or postgres://switchboard@%2Fvar%2Frun%2Fpostgresql/switchboard for a local socket)"
    )]
    Url,
    #[error("the PostgreSQL URL names no host (postgres://user@host:5432/db)")]
    NoHost,
}

impl Location {
    /// A `postgres://` or `postgresql://` URL names a database (`${NAME}` is
    /// resolved in it, for the password); anything else is a file path.
    pub fn parse(text: &str, env: &Env) -> Result<Location, LocationError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(LocationError::Empty);
        }
        if !(trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://")) {
            return Ok(Location::Sqlite(PathBuf::from(text)));
        }
        let url = interpolate::resolve(trimmed, env)?;
        // The parser's message may quote the URL, password included: say
        // what is wrong without it.
        let config: tokio_postgres::Config = url.parse().map_err(|_| LocationError::Url)?;
        if config.get_hosts().is_empty() {
            return Err(LocationError::NoHost);
        }
        Ok(Location::Postgres(Box::new(config)))
    }

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

#[cfg(test)]
mod tests;
