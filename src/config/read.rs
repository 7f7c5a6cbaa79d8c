//! Reading `routes.yaml`: text to [`Parsed`], with every problem of its
//! syntax and shape, by way of [`tree`], [`shape`] and [`de`].

use super::{Config, de, shape, tree};
use crate::config::problems::Problems;

/// Why `routes.yaml` could not be read as a config.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Every problem with the file's shape, each with its place.
    #[error("{0}")]
    Invalid(Problems),
}

/// A config read as far as it goes: every problem with the file's syntax and
/// shape, and, unless the text is not YAML at all, a config in which each
/// wrong value was replaced by a stand-in, so that compiling it finds the
/// problems with its meaning too.
#[derive(Debug)]
pub struct Parsed {
    /// The config, with stand-ins where values were wrong.
    pub config: Option<Config>,
    /// Every problem with the syntax and shape, in file order.
    pub problems: Problems,
    /// Places whose value is a stand-in: a complaint about them (or within
    /// them) repeats one already in `problems`.
    replaced: Vec<String>,
    /// Positions of the values made only of `${NAME}`s without a default,
    /// and of `{file: ...}` secrets: what `check --no-env` cannot judge.
    uses_environment: Vec<(u64, u64)>,
    /// The text's version: see [`version_of`].
    pub version: String,
    /// The text itself, for the admin API's view of the config in force.
    pub text: std::sync::Arc<str>,
}

impl Parsed {
    /// `problems` and those of `later` (compiling) that are not about a
    /// stand-in, in one list.
    pub fn with(self, later: Problems) -> Problems {
        let mut all = self.problems;
        let replaced = self.replaced;
        all.extend(later.into_iter().filter(|p| {
            !replaced.iter().any(|r| {
                r.is_empty()
                    || p.place == *r
                    || p.place
                        .strip_prefix(r.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
        }));
        all
    }

    /// Whether a problem at `position` may come from a value that needs the
    /// environment or a file.
    pub fn uses_environment(&self, position: Option<(u64, u64)>) -> bool {
        position.is_some_and(|at| self.uses_environment.contains(&at))
    }
}

/// Derived once: the shape every file is checked against.
static SCHEMA: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(Config::schema);

impl Config {
    /// Parses YAML text; any problem is an error. `${NAME}` is left as
    /// written: the environment is consulted later, per field, never by
    /// editing this text.
    pub fn parse(yaml: &str) -> Result<Config, ParseError> {
        let parsed = Config::read(yaml);
        match parsed.config {
            Some(config) if parsed.problems.is_empty() => Ok(config),
            _ => Err(ParseError::Invalid(parsed.problems)),
        }
    }

    /// Parses YAML text as far as it goes: see [`Parsed`].
    pub fn read(yaml: &str) -> Parsed {
        let mut problems = Problems::default();
        let mut root = match tree::parse(yaml) {
            Ok(root) => root,
            Err(e) => {
                problems.push_at("", Some(e.at), format!("not valid YAML: {}", e.message));
                return Parsed {
                    config: None,
                    problems,
                    replaced: Vec::new(),
                    uses_environment: Vec::new(),
                    version: version_of(yaml),
                    text: yaml.into(),
                };
            }
        };
        let report = shape::check(&mut root, &SCHEMA);
        for found in report.found {
            problems.push_at(found.place, Some(found.at), found.message);
        }
        let config = de::from_node::<Config>(&root)
            .map_err(|e| {
                // The schema and serde disagree here; say what serde says.
                problems.push_at("", e.at, e.message);
            })
            .ok();
        let mut uses_environment = Vec::new();
        environment_positions(&root, &mut uses_environment);
        Parsed {
            config,
            problems,
            replaced: report.replaced,
            uses_environment,
            version: version_of(yaml),
            text: yaml.into(),
        }
    }

    /// Reads and parses a file.
    pub fn load(path: &std::path::Path) -> Result<Config, ParseError> {
        Config::parse(&read_file(path)?)
    }
}

/// The text of the config file.
pub fn read_file(path: &std::path::Path) -> Result<String, ParseError> {
    std::fs::read_to_string(path).map_err(|source| ParseError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The version of a config text: the first 12 hex digits of its SHA-256.
/// Stored with every webhook, so that an operator sees whether the rules
/// that routed it are the ones in force. Secrets from the environment or
/// files are not part of it (they never change where a webhook goes).
pub fn version_of(yaml: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(yaml.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Positions of scalars made only of `${NAME}`s without a default, and of
/// `{file: ...}` mappings.
fn environment_positions(node: &tree::Node, out: &mut Vec<(u64, u64)>) {
    match &node.value {
        tree::Value::Scalar { text, .. } => {
            // Only a value made of variables alone: around text, the stand-in
            // word is a fair host name, user, password or token, so the rest
            // is still checked (an `ftp://` URL is wrong whatever the host).
            use crate::config::interpolate::{Env, InterpolateError, STAND_IN, resolve};
            let needs = matches!(
                resolve(text, &Env::default()),
                Err(InterpolateError::Missing(_))
            );
            let alone = resolve(text, &Env::stand_in())
                .is_ok_and(|filled| filled.replace(STAND_IN, "").trim().is_empty());
            if needs && alone {
                out.push(node.at);
            }
        }
        tree::Value::Seq(items) => items.iter().for_each(|i| environment_positions(i, out)),
        tree::Value::Map(entries) => {
            if let [(key, _)] = &entries[..]
                && key.text() == Some("file")
            {
                out.push(node.at);
            }
            for (_, value) in entries {
                environment_positions(value, out);
            }
        }
    }
}
