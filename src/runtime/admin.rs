//! `server.admin_listen`, `admin_token`, `admin_tokens` and `admin_hosts`
//! compiled: where the admin listener binds, which bearer tokens `/api/*`
//! accepts and what each may do, which `Host` values it answers.
//!
//! Checks only: binding is the relay's, enforcing the admin API's.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::config::interpolate::{self, Env};
use crate::config::problems::Problems;
use crate::config::{AdminRole, AdminTokenConfig, Located, ServerConfig};
use crate::secret::SecretDigest;

/// A token `/api/*` accepts: who holds it, and what it may do.
#[derive(Debug, Clone)]
pub struct AdminToken {
    /// `admin` for `server.admin_token`.
    pub name: String,
    pub digest: SecretDigest,
    pub role: AdminRole,
}

/// The admin listener's settings.
pub(super) struct Admin {
    /// `Some(None)`: turned off; `None`: not an address (a problem).
    pub(super) listen: Option<Option<SocketAddr>>,
    pub(super) tokens: Vec<AdminToken>,
    pub(super) hosts: Vec<String>,
}

/// The admin settings, and the rule that an admin API reachable from other
/// machines needs a token.
pub(super) fn compile(s: &ServerConfig, env: &Env, problems: &mut Problems) -> Admin {
    let listen = match s.admin_listen.value.trim() {
        "off" | "" => Some(None),
        text => text
            .parse::<SocketAddr>()
            .map(Some)
            .map_err(|_| {
                problems.push(
                    "server.admin_listen",
                    Some(&s.admin_listen.referenced),
                    format!(
                        "`{text}` is not an address with a port (e.g. 127.0.0.1:9090), or `off`"
                    ),
                )
            })
            .ok(),
    };
    let tokens = tokens(s, env, problems);
    let hosts = admin_hosts(&s.admin_hosts, problems);
    if let Some(Some(addr)) = listen
        && !addr.ip().is_loopback()
        && tokens.is_empty()
    {
        problems.push(
            "server.admin_listen",
            Some(&s.admin_listen.referenced),
            format!("{addr} is reachable from other machines; set `admin_token` (or `admin_tokens`) to protect the admin API, or listen on 127.0.0.1"),
        );
    }
    Admin {
        listen,
        tokens,
        hosts,
    }
}

/// `admin_token` as an `operate` token named `admin`, then `admin_tokens`;
/// each name once, no token empty or given twice.
fn tokens(s: &ServerConfig, env: &Env, problems: &mut Problems) -> Vec<AdminToken> {
    let mut out = Vec::new();
    if let Some(t) = &s.admin_token {
        match interpolate::resolve(&t.value, env) {
            // An empty admin_token has always meant "no token".
            Ok(token) if token.is_empty() => {}
            Ok(token) => out.push(AdminToken {
                name: "admin".to_owned(),
                digest: SecretDigest::of(token.as_bytes()),
                role: AdminRole::Operate,
            }),
            Err(e) => problems.push("server.admin_token", Some(&t.referenced), e.to_string()),
        }
    }
    let mut names: HashSet<String> = out.iter().map(|t| t.name.clone()).collect();
    let mut seen: Vec<SecretDigest> = out.iter().map(|t| t.digest.clone()).collect();
    for (i, entry) in s.admin_tokens.iter().enumerate() {
        let place = format!("server.admin_tokens[{i}]");
        if let Some(token) = named_token(entry, &place, env, problems, &mut names, &seen) {
            seen.push(token.digest.clone());
            out.push(token);
        }
    }
    out
}

/// One `admin_tokens` entry, checked against the names and tokens before it.
fn named_token(
    entry: &AdminTokenConfig,
    place: &str,
    env: &Env,
    problems: &mut Problems,
    names: &mut HashSet<String>,
    seen: &[SecretDigest],
) -> Option<AdminToken> {
    let name = entry.name.value.trim().to_owned();
    if name.is_empty() {
        problems.push(
            format!("{place}.name"),
            Some(&entry.name.referenced),
            "must not be empty",
        );
        return None;
    }
    if !names.insert(name.clone()) {
        problems.push(
            format!("{place}.name"),
            Some(&entry.name.referenced),
            format!("`{name}` names another token already (`admin_token` is named `admin`)"),
        );
        return None;
    }
    let token = entry
        .token
        .resolve(env)
        .map_err(|e| {
            problems.push(
                format!("{place}.token"),
                Some(entry.token.referenced()),
                e.to_string(),
            )
        })
        .ok()?;
    let problem = if token.is_empty() {
        Some("must not be empty")
    } else if seen.iter().any(|d| d.matches(token.as_bytes())) {
        Some("is another token's too: each holder needs a token of its own")
    } else {
        None
    };
    if let Some(problem) = problem {
        problems.push(
            format!("{place}.token"),
            Some(entry.token.referenced()),
            problem,
        );
        return None;
    }
    Some(AdminToken {
        name,
        digest: SecretDigest::of(token.as_bytes()),
        role: entry.role,
    })
}

/// `server.admin_hosts`: each a host with an optional port, as a `Host`
/// header carries it.
fn admin_hosts(hosts: &[Located<String>], problems: &mut Problems) -> Vec<String> {
    let mut out = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let text = host.value.trim().to_ascii_lowercase();
        match text.parse::<http::uri::Authority>() {
            Ok(a) if !text.contains('@') && !a.host().is_empty() => out.push(text),
            _ => problems.push(
                format!("server.admin_hosts[{i}]"),
                Some(&host.referenced),
                format!(
                    "`{}` is not a host with an optional port, as a Host header carries it (e.g. relay.internal:9090)",
                    host.value
                ),
            ),
        }
    }
    out
}
