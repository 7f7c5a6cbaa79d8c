//! Following a bulk job to its end, wherever it runs: its report read
//! until it is no longer running, with a progress line on a terminal, and
//! what the command came to. Must not start or change a job.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde_json::Value;

use super::EventsError;

/// How often a job's progress is read.
const POLL: Duration = Duration::from_millis(250);

/// What a command came to.
pub(super) enum Outcome {
    /// A dry run's count.
    Counted(u64),
    /// A job's last report.
    Ended(Value),
}

/// Reads a job's report until it is no longer running, with a progress
/// line on a terminal (not with `--json`); the last report.
pub(super) async fn follow<F, Fut>(json: bool, mut report: F) -> Result<Value, EventsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Value, EventsError>>,
{
    let show = !json && std::io::stderr().is_terminal();
    loop {
        let job = report().await?;
        let running = job["state"] == "running";
        if show {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r{} {}/{} {}",
                job["kind"].as_str().unwrap_or("job"),
                job["done"],
                job["total"],
                job["state"].as_str().unwrap_or("")
            );
            if !running {
                let _ = writeln!(err);
            }
        }
        if !running {
            return Ok(job);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A job's last report, or why it failed.
pub(super) fn ended(job: Value) -> Result<Outcome, EventsError> {
    if job["state"] == "failed" {
        return Err(EventsError::Failed {
            id: job["id"].as_str().unwrap_or("").to_owned(),
            error: job["error"].as_str().unwrap_or("").to_owned(),
        });
    }
    Ok(Outcome::Ended(job))
}
