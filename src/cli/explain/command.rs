//! `switchboard explain`: read the payload and the `--header` arguments,
//! explain them against the config, print the text or the JSON.
//!
//! What an explanation holds and how it renders is [`super`]'s;
//! this module only reads the command's inputs and prints. Sends nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use http::HeaderMap;

use crate::cli::check::report;
use crate::cli::explain::{self, ExplainError, HeaderArgError};
use crate::config::interpolate::Env;
use crate::relay;
use crate::runtime::Runtime;

/// Why `explain` could not explain.
#[derive(Debug, thiserror::Error)]
pub enum ExplainCmdError {
    #[error(transparent)]
    Header(#[from] HeaderArgError),
    #[error("cannot read the payload from standard input")]
    Stdin(#[source] std::io::Error),
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The payload, named by its path.
    #[error("{}", path.display())]
    Explain {
        path: PathBuf,
        #[source]
        source: ExplainError,
    },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The `explain` command's arguments.
pub struct Request<'a> {
    /// Path of routes.yaml.
    pub config: &'a Path,
    /// The payload file; `-` is standard input.
    pub payload: &'a Path,
    /// The source it arrives on.
    pub source: Option<&'a str>,
    /// `Name: value` headers.
    pub headers: &'a [String],
    /// JSON instead of text.
    pub json: bool,
}

/// Explains the payload and prints the explanation. A config that does not
/// load is printed as `check` prints it, and exits 1.
pub fn run(request: &Request) -> Result<ExitCode, ExplainCmdError> {
    let runtime = match relay::load(request.config, &Env::from_process(), None) {
        Ok(runtime) => runtime,
        Err(error) => {
            report(request.config, &error);
            return Ok(ExitCode::from(1));
        }
    };
    print!("{}", render(&runtime, request)?);
    Ok(ExitCode::SUCCESS)
}

/// The explanation as the text to print.
fn render(runtime: &Runtime, request: &Request) -> Result<String, ExplainCmdError> {
    let mut map = HeaderMap::new();
    for text in request.headers {
        let (name, value) = explain::parse_header(text)?;
        map.append(name, value);
    }
    let payload = request.payload;
    let raw = if payload == Path::new("-") {
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut raw)
            .map_err(ExplainCmdError::Stdin)?;
        raw
    } else {
        std::fs::read(payload).map_err(|source| ExplainCmdError::Read {
            path: payload.to_owned(),
            source,
        })?
    };
    let explanation =
        explain::explain(runtime, request.source, &map, &raw.into()).map_err(|source| {
            ExplainCmdError::Explain {
                path: payload.to_owned(),
                source,
            }
        })?;
    Ok(if request.json {
        serde_json::to_string_pretty(&explanation)? + "\n"
    } else {
        explanation.to_string()
    })
}
