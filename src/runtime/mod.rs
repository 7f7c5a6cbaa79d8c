//! The compiled, immutable snapshot of `routes.yaml` that every request reads.
//!
//! [`Runtime::compile`] is the one validation path: start-up, `check` and
//! reload all call it, and it reports every problem at once. A `Runtime`
//! exists only if the whole config is valid, so nothing downstream re-checks.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::config::interpolate::Env;
use crate::config::problems::Problems;
use crate::config::units;
use crate::config::{Config, Parsed, ServerConfig, SourceConfig, TargetConfig};
use crate::dispatch::circuit;
use crate::dispatch::retry;
use crate::dispatch::target::{self, Defaults, Target};
use crate::ingress::source::{self, Source};
use crate::rules::Routes;
use crate::transform::Transform;

mod admin;
mod routes;
mod server;
mod snapshot;

pub use admin::AdminToken;
pub use server::Server;
pub use snapshot::Snapshot;

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
    /// The config text's version ([`crate::config::version_of`]); empty
    /// for a runtime compiled from no text.
    pub version: String,
    /// The config text it was compiled from (empty likewise): shown,
    /// secrets redacted, by `GET /api/config`.
    pub text: Arc<str>,
    /// The files it was read from, each with its version when read: the
    /// config file, then every `{file: ...}` secret (set by
    /// [`crate::relay::load`]; what `server.watch_config` compares). Empty
    /// for a runtime compiled from text.
    pub files: Vec<(std::path::PathBuf, crate::stamp::Stamp)>,
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
            let mut runtime = Runtime::compile(config, env, previous)?;
            runtime.version = parsed.version;
            runtime.text = parsed.text;
            return Ok(runtime);
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
    /// reload), whose unchanged rate limiters are carried over. Problems
    /// come in file order: server, sources, targets, routes.
    pub fn compile(
        cfg: Config,
        env: &Env,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, Problems> {
        let mut problems = Problems::default();
        let server = server::compile(&cfg.server, env, &mut problems);
        let defaults = defaults(&cfg.server, &mut problems);
        let sources = sources(cfg.sources, env, previous, &mut problems);
        let (targets, transforms) = targets(
            &cfg.targets,
            env,
            defaults.as_ref(),
            previous,
            &mut problems,
        );
        let routes = routes::compile(cfg.routes, &cfg.targets, &transforms, &mut problems);
        match server {
            Some(server) if problems.is_empty() => Ok(Runtime {
                server,
                sources,
                targets,
                routes,
                version: String::new(),
                text: Arc::from(""),
                files: Vec::new(),
            }),
            _ => Err(problems),
        }
    }
}

/// `server.retry` and `server.circuit`: what every target inherits.
fn defaults(server: &ServerConfig, problems: &mut Problems) -> Option<Defaults> {
    let retry = retry::compile(&server.retry, "server.retry", problems);
    let circuit = circuit::compile(&server.circuit, "server.circuit", problems);
    let response_bytes = units::size(&server.history.response_bytes.value)
        .map_err(|e| {
            problems.push(
                "server.history.response_bytes",
                Some(&server.history.response_bytes.referenced),
                e,
            )
        })
        .ok();
    Some(Defaults {
        retry: retry?,
        circuit: circuit?,
        response_bytes: response_bytes?,
    })
}

/// `sources:`, by name; at least one.
fn sources(
    cfg: IndexMap<String, SourceConfig>,
    env: &Env,
    previous: Option<&Runtime>,
    problems: &mut Problems,
) -> HashMap<String, Arc<Source>> {
    let no_sources = cfg.is_empty();
    let mut sources = HashMap::new();
    for (name, source_cfg) in cfg {
        if !valid_name(&name) {
            problems.push(
                format!("sources.{name}"),
                None,
                "a source name may use letters, digits, `-` and `_` only (it is a URL segment)",
            );
        }
        let old = previous.and_then(|p| p.sources.get(&name)).map(Arc::as_ref);
        if let Some(source) = source::compile(&name, source_cfg, env, old, problems) {
            sources.insert(name, Arc::new(source));
        }
    }
    if no_sources {
        problems.push("sources", None, "no source is defined, so nothing can be received (e.g. `sources: {sipgate: {allow: [217.116.118.254]}}`)");
    }
    sources
}

/// `targets:` in file order, each with its default transform. Without
/// valid server policies to inherit, no target is compiled.
fn targets(
    cfg: &IndexMap<String, TargetConfig>,
    env: &Env,
    defaults: Option<&Defaults>,
    previous: Option<&Runtime>,
    problems: &mut Problems,
) -> (
    IndexMap<String, Arc<Target>>,
    HashMap<String, Arc<Transform>>,
) {
    let mut targets = IndexMap::new();
    let mut transforms = HashMap::new();
    let Some(defaults) = defaults else {
        return (targets, transforms);
    };
    for (name, target_cfg) in cfg {
        let old = previous.and_then(|p| p.targets.get(name)).map(Arc::as_ref);
        if let Some(target) = target::compile(name, target_cfg, env, defaults, old, problems) {
            targets.insert(name.clone(), Arc::new(target));
        }
        let transform = match &target_cfg.transform {
            Some(t) => routes::transform(t, &format!("targets.{name}.transform"), problems),
            None => Some(Transform::None),
        };
        if let Some(t) = transform {
            transforms.insert(name.clone(), Arc::new(t));
        }
    }
    (targets, transforms)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
