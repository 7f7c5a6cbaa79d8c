//! `switchboard tap`: the live tail of a running relay, one line per event
//! (like `vector tap`), or one JSON object per line with `--json`. Reads
//! `GET /api/tail` from the admin listener (`--admin`, token from
//! `SWITCHBOARD_ADMIN_TOKEN`, as every command that asks the API takes it:
//! `cli::api`) as Server-Sent Events. Must not know the relay's internals:
//! it speaks the admin API only.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use crate::cli::api::{self, ApiError};
use crate::cli::args::TapArgs;

/// Why `tap` stopped.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("--admin {0}: not a URL: {1}")]
    Url(String, #[source] url::ParseError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot reach the admin API at {0}: {1}")]
    Connect(String, #[source] reqwest::Error),
    #[error(transparent)]
    Refused(#[from] ApiError),
    #[error("the stream broke: {0}")]
    Read(#[source] reqwest::Error),
    #[error("the relay dropped this tap after {0} missed events (it read too slowly)")]
    Missed(u64),
    #[error("the relay ended the stream (it stopped or restarts)")]
    Ended,
    #[error("cannot write: {0}")]
    Write(#[source] std::io::Error),
}

impl TapError {
    /// `tap | head`: the reader has what it wanted.
    pub fn broken_pipe(&self) -> bool {
        matches!(self, TapError::Write(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Runs `tap` until the stream ends or fails, printing to standard output.
pub fn run(args: &TapArgs) -> Result<(), TapError> {
    let token = api::token();
    crate::cli::runtime()
        .map_err(TapError::Runtime)?
        .block_on(tap(args, token.as_deref(), &mut std::io::stdout().lock()))
}

/// `GET /api/tail` with the filters `args` name.
fn tail_url(args: &TapArgs) -> Result<url::Url, TapError> {
    let mut url = url::Url::parse(&args.admin)
        .and_then(|u| u.join("/api/tail"))
        .map_err(|e| TapError::Url(args.admin.clone(), e))?;
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in [
            ("source", &args.source),
            ("target", &args.target),
            ("outcome", &args.outcome),
        ] {
            if let Some(value) = value {
                query.append_pair(key, value);
            }
        }
    }
    Ok(url)
}

/// Opens the stream; a refusal says why, in the API's words.
async fn open(args: &TapArgs, token: Option<&str>) -> Result<reqwest::Response, TapError> {
    let mut request = reqwest::Client::new().get(tail_url(args)?.as_str());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| TapError::Connect(args.admin.clone(), e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.bytes().await.unwrap_or_default();
    Err(api::refusal(status, &body).into())
}

/// Reads the tail of the relay at `args.admin` and writes a line per event
/// to `out`.
pub async fn tap(
    args: &TapArgs,
    token: Option<&str>,
    out: &mut impl Write,
) -> Result<(), TapError> {
    let mut response = open(args, token).await?;
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(TapError::Read)? {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = find(&buffer, b"\n\n") {
            let frame: Vec<u8> = buffer.drain(..end + 2).collect();
            let Some((kind, data)) = parse_frame(&String::from_utf8_lossy(&frame)) else {
                continue;
            };
            if kind == "missed" {
                return Err(TapError::Missed(data["missed"].as_u64().unwrap_or(0)));
            }
            let line = if args.json {
                data.to_string()
            } else {
                line(&kind, &data)
            };
            writeln!(out, "{line}")
                .and_then(|()| out.flush())
                .map_err(TapError::Write)?;
        }
    }
    Err(TapError::Ended)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An SSE frame's event name and JSON data; `None` for a comment.
fn parse_frame(frame: &str) -> Option<(String, Value)> {
    let mut kind = None;
    let mut data = String::new();
    for line in frame.lines() {
        if let Some(k) = line.strip_prefix("event:") {
            kind = Some(k.trim().to_owned());
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.trim_start());
        }
    }
    Some((kind?, serde_json::from_str(&data).ok()?))
}

/// One event as a line for people: time, what, and the fields that matter.
pub fn line(kind: &str, data: &Value) -> String {
    let at = data["at_ms"].as_i64().map_or_else(String::new, |ms| {
        let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
        humantime::format_rfc3339_millis(at).to_string()
    });
    let what = match kind {
        "accepted" => accepted(data),
        "attempt" | "dead_letter" => attempt(kind, data),
        "paused" | "resumed" | "probe" => {
            format!(
                "{kind:<11} target={} by={}",
                text(data, "target"),
                text(data, "by")
            )
        }
        "reload" if data["ok"] == Value::Bool(true) => "reload      ok".to_owned(),
        "reload" => format!("reload      rejected: {}", list(data, "problems")),
        other => format!("{other:<11} {data}"),
    };
    format!("{at} {what}")
}

fn text(data: &Value, key: &str) -> String {
    data[key].as_str().unwrap_or("-").to_owned()
}

fn list(data: &Value, key: &str) -> String {
    data[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// An `accepted` event's line, after its time.
fn accepted(data: &Value) -> String {
    let keys: Vec<String> = data["keys"]
        .as_object()
        .map(|k| {
            k.iter()
                .map(|(n, v)| {
                    format!(
                        "{n}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut what = format!(
        "accepted    {} source={} routes={} targets={}",
        text(data, "id"),
        text(data, "source"),
        list(data, "routes"),
        list(data, "targets")
    );
    if !keys.is_empty() {
        what.push_str(&format!(" keys={}", keys.join(",")));
    }
    what
}

/// An `attempt` or `dead_letter` event's line, after its time.
fn attempt(kind: &str, data: &Value) -> String {
    let word = if kind == "attempt" {
        text(data, "outcome")
    } else {
        "dead_letter".to_owned()
    };
    let mut what = format!(
        "{word:<11} {} target={} attempt={} status={} {}ms",
        text(data, "id"),
        text(data, "target"),
        data["attempt"],
        data["status"]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |s| s.to_string()),
        data["duration_ms"],
    );
    if let Some(error) = data["error"].as_str() {
        what.push_str(&format!(" error={error:?}"));
    }
    if data["probe"] == Value::Bool(true) {
        what.push_str(" (probe)");
    }
    what
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_and_comments_skipped() {
        let (kind, data) = parse_frame("event: attempt\ndata: {\"a\":1}\n\n").unwrap();
        assert_eq!((kind.as_str(), data["a"].as_i64()), ("attempt", Some(1)));
        assert!(parse_frame(": keep-alive\n\n").is_none());
    }

    #[test]
    fn lines_name_what_happened() {
        let attempt = serde_json::json!({
            "type": "attempt", "target": "crm", "id": "019a", "attempt": 2, "outcome": "retry",
            "status": 500, "error": "HTTP 500", "duration_ms": 12, "probe": false, "at_ms": 0,
        });
        assert_eq!(
            line("attempt", &attempt),
            "1970-01-01T00:00:00.000Z retry       019a target=crm attempt=2 status=500 12ms error=\"HTTP 500\""
        );
        let accepted = serde_json::json!({
            "id": "019a", "source": "sipgate", "keys": {"call": "c1"}, "routes": ["r"],
            "targets": ["crm", "slack"], "at_ms": 0,
        });
        assert!(
            line("accepted", &accepted).ends_with(
                "accepted    019a source=sipgate routes=r targets=crm,slack keys=call=c1"
            )
        );
    }
}
