//! `${NAME}` in URLs, header values and secrets, resolved from an environment
//! snapshot after the YAML is parsed.
//!
//! Substituting into the file's text would let a secret containing `: #`
//! change the YAML's structure, and would mangle jq programs that use `$x`;
//! resolving per field cannot. Forms: `${NAME}` (an error if unset),
//! `${NAME:-default}` (the default if unset or empty) and `$${` for a literal
//! `${`. A bare `$` is left alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::stamp::Stamp;

/// The environment as it was when the config was loaded.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    /// `check --no-env`: no variable is set, and none is missing either.
    stand_in: bool,
    /// The files a load under this environment read or tried to (the config
    /// file, `{file: ...}` secrets), each stamped just before, for
    /// `server.watch_config` (shared by clones).
    files: Arc<Mutex<Vec<(PathBuf, Stamp)>>>,
}

/// What `${NAME}` and a `{file: ...}` secret read as under
/// [`Env::stand_in`]: a word that is valid as a host name, a password or a
/// token, so that the text around it is still checked.
pub const STAND_IN: &str = "switchboard-no-env";

impl Env {
    /// The process environment, read now.
    pub fn from_process() -> Env {
        Env::from_map(std::env::vars().collect())
    }

    /// A fixed map, for tests and tools.
    pub fn from_map(vars: HashMap<String, String>) -> Env {
        Env {
            vars,
            stand_in: false,
            files: Arc::default(),
        }
    }

    /// For checking a config away from its deployment (`check --no-env`):
    /// the process environment is not read, `${NAME}` without a default
    /// reads as [`STAND_IN`] instead of being an error (with a default it is
    /// the default), and secrets files are not read.
    pub fn stand_in() -> Env {
        Env {
            vars: HashMap::new(),
            stand_in: true,
            files: Arc::default(),
        }
    }

    /// Whether this is [`Env::stand_in`].
    pub fn is_stand_in(&self) -> bool {
        self.stand_in
    }

    /// Notes a file about to be read (whether or not it can be), with its
    /// version: a change after this is a change the load did not see.
    pub fn note_file(&self, path: &Path) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if !files.iter().any(|(f, _)| f == path) {
            files.push((path.to_path_buf(), Stamp::of(path)));
        }
    }

    /// The files noted so far, in the order first read.
    pub fn files(&self) -> Vec<(PathBuf, Stamp)> {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A variable read directly, not through `${NAME}` (the standard
    /// `OTEL_*` settings); none under [`Env::stand_in`].
    pub fn var(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Env::from_map(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Why a value could not be resolved. The message never contains a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    #[error("environment variable {0} is not set (set it, or write `${{{0}:-default}}`)")]
    Missing(String),
    #[error("unterminated `${{` (write `$${{` for a literal `${{`)")]
    Unterminated,
    #[error("`${{{0}}}` is not a valid variable name")]
    BadName(String),
}

/// Resolves every `${...}` in `text`.
pub fn resolve(text: &str, env: &Env) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let close = after.find('}').ok_or(InterpolateError::Unterminated)?;
            let inner = &after[..close];
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(InterpolateError::BadName(inner.to_owned()));
            }
            match (env.get(name), default) {
                (Some(""), Some(default)) => out.push_str(default),
                (Some(value), _) => out.push_str(value),
                (None, Some(default)) => out.push_str(default),
                (None, None) if env.stand_in => out.push_str(STAND_IN),
                (None, None) => return Err(InterpolateError::Missing(name.to_owned())),
            }
            rest = &after[close + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_variables_defaults_and_escapes() {
        let env: Env = [("TOKEN", "s3cr3t: #x"), ("EMPTY", "")]
            .into_iter()
            .collect();
        let cases = [
            ("Bearer ${TOKEN}", "Bearer s3cr3t: #x"),
            ("${UNSET:-http://127.0.0.1:9/x}", "http://127.0.0.1:9/x"),
            ("${EMPTY:-fallback}", "fallback"),
            ("${TOKEN:-unused}", "s3cr3t: #x"),
            ("cost $5 and $${LITERAL}", "cost $5 and ${LITERAL}"),
            ("no variables", "no variables"),
        ];
        for (input, want) in cases {
            assert_eq!(resolve(input, &env).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn missing_and_malformed_are_errors() {
        let env = Env::default();
        assert_eq!(
            resolve("${CRM_TOKEN}", &env),
            Err(InterpolateError::Missing("CRM_TOKEN".into()))
        );
        assert_eq!(resolve("${OPEN", &env), Err(InterpolateError::Unterminated));
        assert!(matches!(
            resolve("${a-b}", &env),
            Err(InterpolateError::BadName(_))
        ));
    }

    #[test]
    fn stand_in_env_fills_missing_variables_and_keeps_defaults_and_syntax_errors() {
        let env = Env::stand_in();
        assert_eq!(
            resolve("https://${HOST}/x?${Q:-a=1}", &env).unwrap(),
            format!("https://{STAND_IN}/x?a=1")
        );
        assert_eq!(resolve("${OPEN", &env), Err(InterpolateError::Unterminated));
        assert!(matches!(
            resolve("${a-b}", &env),
            Err(InterpolateError::BadName(_))
        ));
    }
}
