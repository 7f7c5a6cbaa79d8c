//! What can go wrong in the spool, as one error type both backends return.
//! Each cause is its own variant, with its cause chain kept (`#[source]`);
//! nothing is flattened to a string. No storage here.

use std::sync::Arc;
use std::time::Duration;

/// Storage failures. Ingress answers 503 to these; nothing is acknowledged
/// that was not written.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("spool database error (PostgreSQL): {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no connection to the PostgreSQL spool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("cannot set up the PostgreSQL spool's connection pool: {0}")]
    PoolSetup(#[from] deadpool_postgres::BuildError),
    #[error("cannot create the spool directory {path}: {source}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// One of the spool's threads (writer, checkpoint, keys) could not be started.
    #[error("cannot start the spool's {name} thread for {path}: {source}")]
    Thread {
        name: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the spool at {path} has schema version {found}, newer than this switchboard understands ({supported}); upgrade switchboard"
    )]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error(
        "there is no spool at {path}; a relay that ran with this config would have created it (a relative server.spool is relative to the config file's directory)"
    )]
    Missing { path: String },
    /// The batch this command was in did not commit; every command in it
    /// gets the same cause.
    #[error("spool commit failed: {0}")]
    Commit(#[source] Arc<CommitError>),
    /// PostgreSQL answered an insert of deliveries with fewer ids than rows.
    #[error("the database returned fewer delivery ids than it was given")]
    FewerIds,
    /// A ledger for one backend was asked of a spool of the other.
    #[error("the spool location does not match the open spool")]
    Mismatch,
    /// A task running spool work panicked or was cancelled.
    #[error("a spool task ended without an answer: {0}")]
    Task(#[source] tokio::task::JoinError),
    #[error("the spool writer has stopped")]
    Stopped,
}

/// Why a batch's transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The SQLite transaction failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A statement of the PostgreSQL transaction, or getting its
    /// connection, failed.
    #[error(transparent)]
    Postgres(SpoolError),
    /// The PostgreSQL transaction took longer than its budget.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}
