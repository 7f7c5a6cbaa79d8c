//! `switchboard schema`: print the JSON Schema of `routes.yaml`.
//!
//! The schema is derived from the config types (`Config::schema`); this only
//! prints it.

use std::process::ExitCode;

use crate::config::Config;

/// Prints the schema on standard output.
pub fn run() -> ExitCode {
    match serde_json::to_string_pretty(&Config::schema()) {
        Ok(schema) => {
            println!("{schema}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("switchboard: {error}");
            ExitCode::from(1)
        }
    }
}
