//! Reading and compiling the config file into a runtime, for start-up,
//! reload and every subcommand that reads the config; and why it failed.
//! Puts nothing in force: that is `reload`'s.

use std::net::SocketAddr;

use crate::config::interpolate::Env;
use crate::config::problems::Problems;
use crate::config::{Config, ParseError};
use crate::runtime::Runtime;
use crate::spool::SpoolError;

/// Why a config could not be put in force.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Invalid(Problems),
    #[error(
        "server.listen changed from {from} to {to}; a reload cannot move the listener, restart instead"
    )]
    ListenChanged { from: SocketAddr, to: SocketAddr },
    #[error(
        "server.spool or server.admin_listen changed; a reload cannot move them, restart instead"
    )]
    SpoolChanged,
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Parses and compiles the config file. `previous` lends unchanged rate
/// limiters to the new runtime. A relative SQLite `server.spool` is taken
/// relative to the file's directory.
pub fn load(
    path: &std::path::Path,
    env: &Env,
    previous: Option<&Runtime>,
) -> Result<Runtime, LoadError> {
    env.note_file(path);
    let parsed = Config::read(&crate::config::read_file(path)?);
    if parsed.config.is_none() {
        return Err(ParseError::Invalid(parsed.problems).into());
    }
    let mut runtime = Runtime::from_parsed(parsed, env, previous).map_err(LoadError::Invalid)?;
    // The same file whatever directory a command runs in (`serve` from a
    // unit file, `dlq` from a shell).
    if let Some(dir) = path.parent() {
        runtime.server.spool = runtime.server.spool.relative_to(dir);
    }
    runtime.files = env.files();
    Ok(runtime)
}
