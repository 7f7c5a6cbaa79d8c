//! What the operator console asks of the API besides the history and the
//! actions: a payload explained against the rules in force
//! (`POST /api/explain`, the report `switchboard explain --json` prints,
//! from the same code), the config in force with its secrets redacted
//! (`GET /api/config`), dead and parked deliveries by group
//! (`GET /api/dead-letters/groups`) and who the caller is
//! (`GET /api/whoami`). Reads only: must not change the spool or the
//! relay, nor send anything.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use warp::reply::{Reply, Response};

use super::input::parse_body;
use super::problem::Problem;
use super::{Admin, Control};
use crate::cli::explain;
use crate::config::AdminRole;
use crate::spool::Ledger;

/// `POST /api/explain`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainBody {
    /// The source it arrives on; may be left out when there is one.
    source: Option<String>,
    /// The payload: a JSON value, or a string taken as its raw bytes.
    body: Value,
    /// Request headers, for `header` conditions and a source's token.
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

const EXPLAIN_EXAMPLE: &str = r#"{"source": "sipgate", "body": {"call": {"id": "c-1"}}, "headers": {"X-Agent": "reception"}} (a string body is taken as the raw bytes)"#;

/// `POST /api/explain`: which routes match the payload and why, and each
/// target's body, under the rules in force. Nothing is sent or stored.
pub(super) fn explain<C: Control>(admin: &Admin<C>, body: &[u8]) -> Result<Response, Problem> {
    let asked: ExplainBody = parse_body(body, EXPLAIN_EXAMPLE)?;
    let bad = |message: String| Problem::new(StatusCode::BAD_REQUEST, message);
    let mut headers = HeaderMap::new();
    for (name, value) in &asked.headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| bad(format!("`{name}` is not a header name")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| bad(format!("the value of `{name}` is not a header value")))?;
        headers.append(name, value);
    }
    let raw = match asked.body {
        Value::String(text) => Bytes::from(text),
        other => Bytes::from(serde_json::to_vec(&other).unwrap_or_default()),
    };
    let runtime = admin.relay.runtime();
    let explanation = explain::explain(&runtime, asked.source.as_deref(), &headers, &raw)
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    Ok(warp::reply::json(&json!({
        "config_version": runtime.version,
        "explanation": explanation,
    }))
    .into_response())
}

/// `GET /api/config`: the config in force as written, secrets redacted
/// ([`crate::config::shown`]), its version, its file, whether the file
/// now differs from it, and the last reload's outcome.
pub(super) fn config<C: Control>(admin: &Admin<C>) -> Response {
    let runtime = admin.relay.runtime();
    let path = admin.relay.config_path();
    let on_disk = std::fs::read_to_string(&path)
        .ok()
        .map(|text| crate::config::version_of(&text));
    warp::reply::json(&json!({
        "path": path.display().to_string(),
        "version": runtime.version,
        "file_version": on_disk,
        "file_changed": on_disk.as_deref().is_some_and(|v| v != runtime.version),
        "config": crate::config::shown::redacted(&runtime.text),
        "last_reload": admin.relay.last_reload(),
    }))
    .into_response()
}

/// `GET /api/dead-letters/groups`: dead and parked deliveries by target,
/// state and class, each with the bulk filter that selects exactly it.
pub(super) async fn dead_groups<C: Control>(admin: &Admin<C>) -> Result<Response, Problem> {
    let groups = admin
        .ledger
        .dead_groups()
        .await
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|g| {
            let filter = json!({"target": g.target, "states": [g.state], "class": g.class});
            let mut shown = serde_json::to_value(&g).unwrap_or_default();
            if let Value::Object(fields) = &mut shown {
                fields.insert("filter".to_owned(), filter);
            }
            shown
        })
        .collect();
    Ok(warp::reply::json(&json!({ "groups": groups })).into_response())
}

/// `GET /api/whoami`: the token's name and role; `anonymous` with role
/// `operate` when the API has no token (loopback only).
pub(super) fn whoami<C: Control>(admin: &Admin<C>, headers: &HeaderMap) -> Response {
    let runtime = admin.relay.runtime();
    let (name, role) = match super::holder(&runtime.server.admin_tokens, headers) {
        Ok(Some(token)) => (token.name.clone(), token.role),
        _ => (super::audit::ANONYMOUS.to_owned(), AdminRole::Operate),
    };
    let role = match role {
        AdminRole::Read => "read",
        AdminRole::Operate => "operate",
    };
    warp::reply::json(&json!({"name": name, "role": role})).into_response()
}
