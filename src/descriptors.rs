//! File descriptors: how many a relay needs for its config, and raising the
//! process's soft limit to fit them.
//!
//! Every open connection is a descriptor. Without this check, a relay under
//! systemd's default soft limit (1024) with the default `max_connections`
//! (1024) ran out before its own cap: `accept` failed with "Too many open
//! files", and webhooks and `/healthz` alike were unreachable. So the relay
//! raises its soft `RLIMIT_NOFILE` to the hard limit at start, and refuses
//! to start when its caps cannot all be open at once.
//!
//! Must not: open or close anything; [`needed`] is a function of the config.

use crate::runtime::Runtime;

/// Descriptors the spool may hold: SQLite's database, WAL and shared
/// memory files for the writer, checkpointer and readers; or PostgreSQL's
/// pooled connections.
const SPOOL: u64 = 16;

/// Everything else: stdio, both listening sockets, epoll and event fds,
/// timers, the log file, config and secret files read on reload, DNS.
const RESERVE: u64 = 64;

/// How many descriptors this config can have open at once: every ingress
/// and admin connection its caps allow, one socket per delivery attempt in
/// flight (each target's `concurrency`; the HTTP client keeps no more idle
/// connections than were once in flight), the spool and a reserve.
pub fn needed(runtime: &Runtime) -> u64 {
    let server = &runtime.server;
    let admin = if server.admin_listen.is_some() {
        server.admin_max_connections as u64
    } else {
        0
    };
    let outbound: u64 = runtime
        .targets
        .values()
        .map(|t| u64::from(t.concurrency_max))
        .sum();
    server.max_connections as u64 + admin + outbound + SPOOL + RESERVE
}

/// The process's open-file limit could not fit the config.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Reading or raising the limit failed.
    #[error("cannot read or raise the open-file limit (RLIMIT_NOFILE): {0}")]
    System(#[source] std::io::Error),
    /// Even the hard limit is too low.
    #[error(
        "the config may need {needed} open files (server.max_connections {ingress} + \
         admin_max_connections {admin} + one per delivery in flight, the spool and a reserve), \
         but the open-file limit is {limit}; raise it (systemd: LimitNOFILE=65536; shell: \
         ulimit -n) or lower server.max_connections"
    )]
    TooLow {
        /// What the config may need.
        needed: u64,
        /// The soft limit after raising it to the hard limit.
        limit: u64,
        /// `server.max_connections`.
        ingress: usize,
        /// `server.admin_max_connections`.
        admin: usize,
    },
}

/// Raises the soft open-file limit to the hard limit and checks that the
/// config fits in it. Returns the limit in force.
pub fn fit(runtime: &Runtime) -> Result<u64, LimitError> {
    let limit = rlimit::increase_nofile_limit(u64::MAX).map_err(LimitError::System)?;
    let needed = needed(runtime);
    if needed > limit {
        return Err(LimitError::TooLow {
            needed,
            limit,
            ingress: runtime.server.max_connections,
            admin: runtime.server.admin_max_connections,
        });
    }
    Ok(limit)
}
