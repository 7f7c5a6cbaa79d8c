//! `switchboard health`: asks a running relay's admin listener whether it is
//! ready (`GET /readyz`) or alive (`GET /healthz`, `--live`) and exits 0 on a
//! 200, 1 on anything else: a container's `HEALTHCHECK` (the image has no
//! curl) or a script's. Speaks HTTP to the admin listener only; must not
//! read the config or the spool.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::args::HealthArgs;

/// Why there was no answer to judge.
#[derive(Debug, thiserror::Error)]
enum HealthError {
    #[error("--admin {0}: not a URL: {1}")]
    Url(String, #[source] url::ParseError),
    #[error("--timeout: {0}")]
    Timeout(#[source] crate::config::units::UnitError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, #[source] reqwest::Error),
}

/// Asks once; prints the answer (Docker keeps it in `docker inspect`'s
/// health log) and exits 0 for a 200, 1 otherwise.
pub fn run(args: &HealthArgs) -> ExitCode {
    match ask(args) {
        Ok((200, body)) => {
            println!("{}", body.trim());
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            eprintln!("switchboard health: {status}: {}", body.trim());
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("switchboard health: {error}");
            ExitCode::from(1)
        }
    }
}

/// The probe's status and body.
fn ask(args: &HealthArgs) -> Result<(u16, String), HealthError> {
    let path = if args.live { "healthz" } else { "readyz" };
    let base = url::Url::parse(&args.admin).map_err(|e| HealthError::Url(args.admin.clone(), e))?;
    let url = base
        .join(path)
        .map_err(|e| HealthError::Url(args.admin.clone(), e))?;
    let timeout = crate::config::units::duration(&args.timeout).map_err(HealthError::Timeout)?;
    let unreachable = |e| HealthError::Unreachable(url.to_string(), e);
    let client = reqwest::Client::builder()
        .timeout(timeout.max(Duration::from_millis(1)))
        .build()
        .map_err(unreachable)?;
    let runtime = crate::cli::runtime().map_err(HealthError::Runtime)?;
    runtime.block_on(async {
        let response = client.get(url.clone()).send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        // The body is a short JSON document; a broken one still has a status.
        let body = response.text().await.unwrap_or_default();
        Ok((status, body))
    })
}
