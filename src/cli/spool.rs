//! The one way the command line opens a spool itself: the config loaded as
//! the relay loads it (its spool and its rules), or a SQLite file named
//! directly, opened through its [`Ledger`](crate::spool::Ledger) (also
//! while relays run). `dlq` and `events` use it. Must not create a spool
//! that is not there, nor decide what a command does with it.

use std::path::{Path, PathBuf};

use crate::config::interpolate::Env;
use crate::relay::{self, LoadError};
use crate::runtime::Runtime;
use crate::spool::{LedgerBackend, Location, SpoolError};

/// Why the spool could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The config did not load. (Printed in one line, the problems joined:
    /// the cause is part of the message.)
    #[error("{}: {error}", path.display())]
    Load { path: PathBuf, error: LoadError },
    #[error("cannot open the spool {spool}")]
    Open {
        spool: String,
        #[source]
        source: SpoolError,
    },
}

/// The config at `path`, loaded with the process's environment.
pub fn load(path: &Path) -> Result<Runtime, OpenError> {
    relay::load(path, &Env::from_process(), None).map_err(|error| OpenError::Load {
        path: path.to_owned(),
        error,
    })
}

/// The spool at `location`, which must exist.
pub async fn open(location: &Location) -> Result<LedgerBackend, OpenError> {
    LedgerBackend::open(location)
        .await
        .map_err(|source| OpenError::Open {
            spool: location.to_string(),
            source,
        })
}

/// The spool a command names: the one the config at `config` names (with
/// its rules), or else the SQLite file `file`; `None` when it names
/// neither.
pub async fn named(
    config: Option<&Path>,
    file: Option<&Path>,
) -> Result<Option<(LedgerBackend, Option<Runtime>)>, OpenError> {
    let (location, runtime) = match (config, file) {
        (Some(config), _) => {
            let runtime = load(config)?;
            (runtime.server.spool.clone(), Some(runtime))
        }
        (None, Some(file)) => (Location::Sqlite(file.to_owned()), None),
        (None, None) => return Ok(None),
    };
    Ok(Some((open(&location).await?, runtime)))
}
