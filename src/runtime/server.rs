//! `server:` compiled: addresses, sizes and durations the relay runs with.
//!
//! Checks only; nothing here binds a socket or opens the spool (the relay
//! does, with what this returns).

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::config::interpolate::Env;
use crate::config::problems::Problems;
use crate::config::units;
use crate::config::{ClientIpHeader, Located, ServerConfig};
use crate::ingress::source;

use super::admin::AdminToken;

/// Process-wide settings.
#[derive(Debug, Clone)]
pub struct Server {
    /// Ingress address.
    pub listen: SocketAddr,
    /// Peers whose forwarded headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The header those peers put the client's address in.
    pub client_ip_header: ClientIpHeader,
    /// Largest body, in bytes.
    pub max_body: usize,
    /// Time allowed for request headers.
    pub header_timeout: Duration,
    /// Time allowed for a request body.
    pub body_timeout: Duration,
    /// Open admin connections at most.
    pub admin_max_connections: usize,
    /// Time SIGTERM waits for deliveries.
    pub shutdown_grace: Duration,
    /// Open ingress connections at most.
    pub max_connections: usize,
    /// The spool: a SQLite file or a PostgreSQL database.
    pub spool: crate::spool::Location,
    /// PostgreSQL spool: how long a replica's leases outlive its heartbeat.
    pub lease: Duration,
    /// Most commands per spool transaction.
    pub commit_batch: usize,
    /// How long delivered records are kept.
    pub retention: Duration,
    /// Pending deliveries beyond which ingress answers 503.
    pub max_pending: u64,
    /// Pending body bytes beyond which ingress answers 503.
    pub max_pending_bytes: u64,
    /// Deliveries per target held in memory.
    pub window: usize,
    /// Body bytes per target held in memory.
    pub window_bytes: u64,
    /// The admin listener's address; `None` when off.
    pub admin_listen: Option<SocketAddr>,
    /// The tokens `/api/*` accepts; none: it is open (loopback only).
    pub admin_tokens: Vec<AdminToken>,
    /// More `Host` values `/api/*` accepts, lower case.
    pub admin_hosts: Vec<String>,
    /// Reload when the config file or a secrets file changes.
    pub watch_config: bool,
    /// Traces over OTLP; `None`: off.
    pub tracing: Option<crate::trace::Settings>,
}

/// Compiles `server:`. Every problem is pushed; `None` if there was any
/// that leaves a setting without a value.
pub fn compile(s: &ServerConfig, env: &Env, problems: &mut Problems) -> Option<Server> {
    let listen = address(&s.listen, "server.listen", "0.0.0.0:8080", problems);
    let trusted_proxies =
        source::parse_nets(&s.trusted_proxies, "server.trusted_proxies", problems);
    let max_body = size(&s.max_body, "server.max_body", problems);
    let header_timeout = duration(&s.header_timeout, "server.header_timeout", problems);
    let body_timeout = duration(&s.body_timeout, "server.body_timeout", problems);
    for (place, value, text) in [
        ("server.header_timeout", header_timeout, &s.header_timeout),
        ("server.body_timeout", body_timeout, &s.body_timeout),
    ] {
        if value.is_some_and(|d| d.is_zero()) {
            problems.push(
                place,
                Some(&text.referenced),
                "must be more than 0 (a connection must not be held forever)",
            );
        }
    }
    let shutdown_grace = duration(&s.shutdown_grace, "server.shutdown_grace", problems);
    let retention = duration(&s.retention, "server.retention", problems);
    let max_pending_bytes = size(&s.max_pending_bytes, "server.max_pending_bytes", problems);
    let window_bytes = size(&s.window_bytes, "server.window_bytes", problems);
    counts(s, problems);
    let spool = crate::spool::Location::parse(&s.spool.value, env)
        .map_err(|e| problems.push("server.spool", Some(&s.spool.referenced), e))
        .ok();
    let lease = lease(&s.lease, problems);
    let admin = super::admin::compile(s, env, problems);
    let tracing = s
        .tracing
        .as_ref()
        .map(|t| crate::trace::settings::compile(t, env, problems));
    Some(Server {
        listen: listen?,
        trusted_proxies,
        client_ip_header: s.client_ip_header,
        max_body: max_body?,
        header_timeout: header_timeout?,
        body_timeout: body_timeout?,
        shutdown_grace: shutdown_grace?,
        max_connections: s.max_connections,
        admin_max_connections: s.admin_max_connections,
        spool: spool?,
        lease: lease?,
        commit_batch: s.commit_batch,
        retention: retention?,
        max_pending: s.max_pending,
        max_pending_bytes: max_pending_bytes? as u64,
        window: s.window,
        window_bytes: window_bytes? as u64,
        admin_listen: admin.listen?,
        admin_tokens: admin.tokens,
        admin_hosts: admin.hosts,
        watch_config: s.watch_config,
        tracing: tracing.map_or(Some(None), |t| t.map(Some))?,
    })
}

/// The counts that must be at least 1.
fn counts(s: &ServerConfig, problems: &mut Problems) {
    if s.max_connections == 0 {
        problems.push("server.max_connections", None, "must be at least 1");
    }
    if s.admin_max_connections == 0 {
        problems.push("server.admin_max_connections", None, "must be at least 1");
    }
    if s.window == 0 {
        problems.push("server.window", None, "must be at least 1");
    }
    if s.commit_batch == 0 {
        problems.push(
            "server.commit_batch",
            None,
            "must be at least 1 (1 turns group commit off)",
        );
    }
}

/// `server.lease`: at least a second.
fn lease(text: &Located<String>, problems: &mut Problems) -> Option<Duration> {
    let lease = duration(text, "server.lease", problems);
    if lease.is_some_and(|l| l < Duration::from_secs(1)) {
        problems.push(
            "server.lease",
            Some(&text.referenced),
            "must be at least 1s (heartbeats go every third of it)",
        );
    }
    lease
}

/// An address with a port, e.g. `example`.
fn address(
    text: &Located<String>,
    place: &str,
    example: &str,
    problems: &mut Problems,
) -> Option<SocketAddr> {
    text.value
        .parse::<SocketAddr>()
        .map_err(|_| {
            problems.push(
                place,
                Some(&text.referenced),
                format!(
                    "`{}` is not an address with a port (e.g. {example})",
                    text.value
                ),
            )
        })
        .ok()
}

/// A size such as `1MiB`, in bytes.
fn size(text: &Located<String>, place: &str, problems: &mut Problems) -> Option<usize> {
    units::size(&text.value)
        .map_err(|e| problems.push(place, Some(&text.referenced), e))
        .ok()
}

/// A duration such as `30s`.
fn duration(text: &Located<String>, place: &str, problems: &mut Problems) -> Option<Duration> {
    units::duration(&text.value)
        .map_err(|e| problems.push(place.to_owned(), Some(&text.referenced), e))
        .ok()
}
