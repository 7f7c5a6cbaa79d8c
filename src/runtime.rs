//! The compiled, immutable snapshot of `routes.yaml` that every request reads.
//!
//! [`Runtime::compile`] is the one validation path: start-up, `check` and
//! reload all call it, and it reports every problem at once. A `Runtime`
//! exists only if the whole config is valid, so nothing downstream re-checks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use ipnet::IpNet;

use crate::config::interpolate::{self, Env};
use crate::config::problems::Problems;
use crate::config::units;
use crate::config::{ClientIpHeader, Config, Located, Parsed, TransformConfig};
use crate::dispatch::circuit;
use crate::dispatch::retry;
use crate::dispatch::target::{self, Defaults, Target};
use crate::ingress::source::{self, Source};
use crate::rules::{self, Route, Routes};
use crate::transform::jq::Program;
use crate::transform::path::Path;
use crate::transform::{Selection, Transform};

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
    /// Bearer token for the admin API.
    pub admin_token: Option<String>,
    /// More `Host` values `/api/*` accepts, lower case.
    pub admin_hosts: Vec<String>,
}

/// A valid config, ready to serve.
#[derive(Debug)]
pub struct Runtime {
    /// Process-wide settings.
    pub server: Server,
    /// Sources by name.
    pub sources: HashMap<String, Arc<Source>>,
    /// Targets by name, in file order.
    pub targets: IndexMap<String, Arc<Target>>,
    /// Routes in order.
    pub routes: Routes,
}

/// What `check --no-env` found: a config whose structure and rules are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Sources defined.
    pub sources: usize,
    /// Targets defined.
    pub targets: usize,
    /// Routes defined.
    pub routes: usize,
}

impl Runtime {
    /// Parses and compiles `routes.yaml`'s text: every problem with its
    /// syntax, its shape and its meaning, each once, in one run. Start-up,
    /// `check` and reload all come through here.
    pub fn from_yaml(
        yaml: &str,
        env: &Env,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, Problems> {
        Runtime::from_parsed(Config::read(yaml), env, previous)
    }

    /// [`Runtime::from_yaml`] for a config already read.
    pub fn from_parsed(
        mut parsed: Parsed,
        env: &Env,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, Problems> {
        let Some(config) = parsed.config.take() else {
            return Err(parsed.problems);
        };
        if parsed.problems.is_empty() {
            return Runtime::compile(config, env, previous);
        }
        // Compiled for its problems only: the stand-ins in it must not run.
        let later = Runtime::compile(config, env, previous).err();
        Err(parsed.with(later.unwrap_or_default()))
    }

    /// Checks `routes.yaml`'s text away from its deployment: everything
    /// [`Runtime::from_yaml`] checks, except that no environment variable
    /// and no secrets file is read, and a value that needs one is checked
    /// only for its `${...}` syntax (see [`Env::stand_in`]).
    pub fn check_without_env(yaml: &str) -> Result<Summary, Problems> {
        let mut parsed = Config::read(yaml);
        let Some(config) = parsed.config.take() else {
            return Err(parsed.problems);
        };
        let summary = Summary {
            sources: config.sources.len(),
            targets: config.targets.len(),
            routes: config.routes.len(),
        };
        let mut later = Runtime::compile(config, &Env::stand_in(), None)
            .err()
            .unwrap_or_default();
        later.retain(|p| !parsed.uses_environment(p.position));
        parsed.with(later).into_result(summary)
    }

    /// Compiles a parsed config. `previous` is the config in force (on
    /// reload), whose unchanged rate limiters are carried over.
    pub fn compile(
        cfg: Config,
        env: &Env,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, Problems> {
        let mut problems = Problems::default();
        let s = &cfg.server;
        let listen = s
            .listen
            .value
            .parse::<SocketAddr>()
            .map_err(|_| {
                problems.push(
                    "server.listen",
                    Some(&s.listen.referenced),
                    format!(
                        "`{}` is not an address with a port (e.g. 0.0.0.0:8080)",
                        s.listen.value
                    ),
                )
            })
            .ok();
        let trusted_proxies =
            source::parse_nets(&s.trusted_proxies, "server.trusted_proxies", &mut problems);
        let max_body = units::size(&s.max_body.value)
            .map_err(|e| problems.push("server.max_body", Some(&s.max_body.referenced), e))
            .ok();
        let header_timeout = duration(&s.header_timeout, "server.header_timeout", &mut problems);
        let body_timeout = duration(&s.body_timeout, "server.body_timeout", &mut problems);
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
        let shutdown_grace = duration(&s.shutdown_grace, "server.shutdown_grace", &mut problems);
        let retention = duration(&s.retention, "server.retention", &mut problems);
        let max_pending_bytes = units::size(&s.max_pending_bytes.value)
            .map_err(|e| {
                problems.push(
                    "server.max_pending_bytes",
                    Some(&s.max_pending_bytes.referenced),
                    e,
                )
            })
            .ok();
        let window_bytes = units::size(&s.window_bytes.value)
            .map_err(|e| problems.push("server.window_bytes", Some(&s.window_bytes.referenced), e))
            .ok();
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
        let spool = crate::spool::Location::parse(&s.spool.value, env)
            .map_err(|e| problems.push("server.spool", Some(&s.spool.referenced), e.to_string()))
            .ok();
        let lease = duration(&s.lease, "server.lease", &mut problems);
        if lease.is_some_and(|l| l < Duration::from_secs(1)) {
            problems.push(
                "server.lease",
                Some(&s.lease.referenced),
                "must be at least 1s (heartbeats go every third of it)",
            );
        }
        let admin_listen = match s.admin_listen.value.trim() {
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
        let admin_token = s.admin_token.as_ref().and_then(|t| {
            interpolate::resolve(&t.value, env)
                .map_err(|e| {
                    problems.push("server.admin_token", Some(&t.referenced), e.to_string())
                })
                .ok()
        });
        let admin_hosts = admin_hosts(&s.admin_hosts, &mut problems);
        if let Some(Some(addr)) = admin_listen
            && !addr.ip().is_loopback()
            && admin_token.as_deref().is_none_or(str::is_empty)
        {
            problems.push(
                "server.admin_listen",
                Some(&s.admin_listen.referenced),
                format!("{addr} is reachable from other machines; set `admin_token` to protect the admin API, or listen on 127.0.0.1"),
            );
        }
        let policies = retry::compile(&s.retry, "server.retry", &mut problems)
            .zip(circuit::compile(
                &s.circuit,
                "server.circuit",
                &mut problems,
            ))
            .map(|(retry, circuit)| Defaults { retry, circuit });

        let no_sources = cfg.sources.is_empty();
        let mut sources = HashMap::new();
        for (name, source_cfg) in cfg.sources {
            if !valid_name(&name) {
                problems.push(
                    format!("sources.{name}"),
                    None,
                    "a source name may use letters, digits, `-` and `_` only (it is a URL segment)",
                );
            }
            if let Some(source) = source::compile(
                &name,
                source_cfg,
                env,
                previous.and_then(|p| p.sources.get(&name)).map(Arc::as_ref),
                &mut problems,
            ) {
                sources.insert(name, Arc::new(source));
            }
        }
        if no_sources {
            problems.push("sources", None, "no source is defined, so nothing can be received (e.g. `sources: {sipgate: {allow: [217.116.118.254]}}`)");
        }

        let mut targets = IndexMap::new();
        let mut defaults: HashMap<String, Arc<Transform>> = HashMap::new();
        for (name, target_cfg) in &cfg.targets {
            let old = previous.and_then(|p| p.targets.get(name)).map(Arc::as_ref);
            let Some(policies) = &policies else { break };
            if let Some(target) =
                target::compile(name, target_cfg, env, policies, old, &mut problems)
            {
                targets.insert(name.clone(), Arc::new(target));
            }
            let transform = match &target_cfg.transform {
                Some(t) => {
                    compile_transform(t, &format!("targets.{name}.transform"), &mut problems)
                }
                None => Some(Transform::None),
            };
            if let Some(t) = transform {
                defaults.insert(name.clone(), Arc::new(t));
            }
        }

        let mut routes = Vec::new();
        for (i, route_cfg) in cfg.routes.into_iter().enumerate() {
            let place = format!("routes[{i}]");
            let name = route_cfg.name.unwrap_or_else(|| place.clone());
            let when = route_cfg
                .when
                .and_then(|c| rules::compile(c, &format!("{place}.when"), &mut problems));
            let transform = route_cfg
                .transform
                .as_ref()
                .and_then(|t| compile_transform(t, &format!("{place}.transform"), &mut problems))
                .map(Arc::new);
            if route_cfg.to.is_empty() {
                problems.push(format!("{place}.to"), None, "names no target");
            }
            let mut to = Vec::new();
            for (j, target) in route_cfg.to.iter().enumerate() {
                if !cfg.targets.contains_key(&target.value) {
                    let known: Vec<&str> = cfg.targets.keys().map(String::as_str).collect();
                    let known = if known.is_empty() {
                        "no target is defined".to_owned()
                    } else {
                        format!("targets: {}", known.join(", "))
                    };
                    problems.push(
                        format!("{place}.to[{j}]"),
                        Some(&target.referenced),
                        format!("unknown target \"{}\" ({known})", target.value),
                    );
                } else if let Some(chosen) = transform
                    .clone()
                    .or_else(|| defaults.get(&target.value).cloned())
                {
                    to.push((target.value.clone(), chosen));
                }
            }
            routes.push(Route { name, when, to });
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        let (
            Some(listen),
            Some(max_body),
            Some(header_timeout),
            Some(shutdown_grace),
            Some(retention),
            Some(max_pending_bytes),
            Some(window_bytes),
            Some(spool),
            Some(lease),
            Some(body_timeout),
        ) = (
            listen,
            max_body,
            header_timeout,
            shutdown_grace,
            retention,
            max_pending_bytes,
            window_bytes,
            spool,
            lease,
            body_timeout,
        )
        else {
            return Err(problems);
        };
        Ok(Runtime {
            server: Server {
                listen,
                trusted_proxies,
                client_ip_header: s.client_ip_header,
                max_body,
                header_timeout,
                body_timeout,
                shutdown_grace,
                max_connections: s.max_connections,
                admin_max_connections: s.admin_max_connections,
                spool,
                lease,
                commit_batch: s.commit_batch,
                retention,
                max_pending: s.max_pending,
                max_pending_bytes: max_pending_bytes as u64,
                window: s.window,
                window_bytes: window_bytes as u64,
                admin_listen: admin_listen.flatten(),
                admin_token,
                admin_hosts,
            },
            sources,
            targets,
            routes: Routes(routes),
        })
    }
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

fn duration(text: &Located<String>, place: &str, problems: &mut Problems) -> Option<Duration> {
    units::duration(&text.value)
        .map_err(|e| problems.push(place.to_owned(), Some(&text.referenced), e))
        .ok()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn compile_transform(
    cfg: &TransformConfig,
    place: &str,
    problems: &mut Problems,
) -> Option<Transform> {
    let paths =
        |list: &[Located<String>], kind: &str, problems: &mut Problems| -> Option<Vec<Path>> {
            let parsed: Vec<Option<Path>> = list
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    Path::parse(&p.value)
                        .map_err(|e| {
                            problems.push(
                                format!("{place}.{kind}[{i}]"),
                                Some(&p.referenced),
                                e.to_string(),
                            )
                        })
                        .ok()
                })
                .collect();
            parsed.into_iter().collect()
        };
    match cfg {
        TransformConfig::None => Some(Transform::None),
        TransformConfig::Select(list) => {
            paths(list, "select", problems).map(|p| Transform::Select(Selection::new(&p)))
        }
        TransformConfig::Omit(list) => paths(list, "omit", problems).map(Transform::Omit),
        TransformConfig::Jq(code) => Program::compile(&code.value)
            .map(Transform::Jq)
            .map_err(|e| {
                problems.push(format!("{place}.jq"), Some(&code.referenced), e.to_string())
            })
            .ok(),
    }
}

/// The runtime in force, swapped whole on reload. Readers clone the `Arc`
/// under a short read lock and never hold the lock across an `.await`.
#[derive(Debug)]
pub struct Snapshot(std::sync::RwLock<Arc<Runtime>>);

impl Snapshot {
    /// Starts with `runtime` in force.
    pub fn new(runtime: Runtime) -> Snapshot {
        Snapshot(std::sync::RwLock::new(Arc::new(runtime)))
    }

    /// The runtime in force now.
    pub fn load(&self) -> Arc<Runtime> {
        // A poisoned lock only means a writer panicked between two plain
        // assignments; the value inside is still a whole `Arc`.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `runtime` in force for every later `load`.
    pub fn store(&self, runtime: Arc<Runtime>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = runtime;
    }
}
