//! `switchboard check`: validate a config and print every problem; and how
//! config problems print for every subcommand that loads a config.
//!
//! Must not start anything: checking reads the config (and, unless
//! `--no-env`, the environment and secret files) and nothing else.

use std::path::Path;
use std::process::ExitCode;

use crate::config::ParseError;
use crate::config::interpolate::Env;
use crate::relay::{self, LoadError};
use crate::runtime::Runtime;

/// Checks the config at `path`: prints a summary and exits 0, or prints
/// every problem and exits 1. `no_env` checks without the deployment's
/// environment and secrets.
pub fn run(path: &Path, no_env: bool) -> ExitCode {
    if no_env {
        let checked = crate::config::read_file(path)
            .map_err(LoadError::Parse)
            .and_then(|text| Runtime::check_without_env(&text).map_err(LoadError::Invalid));
        return match checked {
            Ok(summary) => {
                println!(
                    "{}: ok ({} sources, {} targets, {} routes; environment variables and secrets files not read)",
                    path.display(),
                    summary.sources,
                    summary.targets,
                    summary.routes
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                report(path, &error);
                ExitCode::from(1)
            }
        };
    }
    match relay::load(path, &Env::from_process(), None) {
        Ok(runtime) => {
            println!(
                "{}: ok ({} sources, {} targets, {} routes)",
                path.display(),
                runtime.sources.len(),
                runtime.targets.len(),
                runtime.routes.0.len()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            report(path, &error);
            ExitCode::from(1)
        }
    }
}

/// Prints why the config at `path` could not be loaded on standard error:
/// every problem on a line of its own, as `FILE:LINE:COLUMN: KEY: ...`.
pub fn report(path: &Path, error: &LoadError) {
    match error {
        LoadError::Invalid(problems) | LoadError::Parse(ParseError::Invalid(problems)) => {
            let n = problems.iter().count();
            eprintln!(
                "{}: {n} problem{}:",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            for problem in problems.iter() {
                eprintln!("  {}", problem.in_file(path));
            }
        }
        other => eprintln!("{}: {other}", path.display()),
    }
}
