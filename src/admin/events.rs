//! The history's endpoints: the event search (`GET /api/events`), a
//! webhook's original bytes (`GET /api/events/{id}/body`) and its stored
//! body explained against the rules in force (`GET /api/events/{id}/explain`,
//! with the report `switchboard explain` prints, from the same code). The
//! story of one webhook is `webhooks::event`. Reads only; must not change
//! the spool or build SQL.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::json;
use warp::reply::{Reply, Response};

use super::problem::Problem;
use super::{Admin, Control};
use crate::cli::explain::{self, ExplainError};
use crate::spool::{Ledger, SpoolError, Stored};

pub mod query;

fn internal(e: SpoolError) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no such webhook in the spool (unknown, or pruned after its retention)",
    )
}

/// The webhook's stored input, or a 404.
async fn stored<C: Control>(admin: &Admin<C>, id: &str) -> Result<Stored, Problem> {
    admin
        .ledger
        .stored(id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)
}

/// `GET /api/events?source=&key.NAME=VALUE&target=&state=&route=&since=&until=&limit=&cursor=`.
pub(super) async fn search<C: Control>(admin: &Admin<C>, q: &str) -> Result<Response, Problem> {
    let search = query::search_query(q, crate::time::now_ms())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let page = admin
        .ledger
        .search(&search.filter, search.limit, search.cursor)
        .await
        .map_err(internal)?;
    Ok(warp::reply::json(&page).into_response())
}

/// `GET /api/events/{id}/body`: the bytes as received, with their content
/// type. Never rendered by a browser as a page of this origin: the bytes
/// came from outside.
pub(super) async fn body<C: Control>(admin: &Admin<C>, id: &str) -> Result<Response, Problem> {
    let stored = stored(admin, id).await?;
    let mut response = Response::new(stored.body.into());
    let headers = response.headers_mut();
    let content_type = stored
        .content_type
        .and_then(|t| HeaderValue::try_from(t).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(http::header::CONTENT_TYPE, content_type);
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    Ok(response)
}

/// `GET /api/events/{id}/explain`: what the rules in force do with the
/// stored body, and whether they are the ones it was routed by.
pub(super) async fn explain<C: Control>(admin: &Admin<C>, id: &str) -> Result<Response, Problem> {
    let stored = stored(admin, id).await?;
    let runtime = admin.relay.runtime();
    let headers = header_map(stored.headers.as_deref());
    let explanation = explain::explain_accepted(&runtime, &stored.source, &headers, &stored.body)
        .map_err(|e| match e {
        ExplainError::UnknownSource { name, .. } => Problem::new(
            StatusCode::CONFLICT,
            format!(
                "the webhook came from source `{name}`, which the config in force no longer has"
            ),
        ),
        other => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
    })?;
    let changed = stored.config_version.as_deref() != Some(runtime.version.as_str());
    Ok(warp::reply::json(&json!({
        "id": id,
        "config_version": stored.config_version,
        "current_config_version": runtime.version,
        "config_changed": changed,
        "explanation": explanation,
    }))
    .into_response())
}

/// The stored headers (a JSON object of names and values or arrays of
/// values) for `header` conditions; redacted values are left out.
fn header_map(stored: Option<&str>) -> HeaderMap {
    let mut map = HeaderMap::new();
    let Some(serde_json::Value::Object(headers)) =
        stored.and_then(|t| serde_json::from_str(t).ok())
    else {
        return map;
    };
    for (name, values) in headers {
        let Ok(name) = HeaderName::try_from(name) else {
            continue;
        };
        let values = match values {
            serde_json::Value::Array(many) => many,
            one => vec![one],
        };
        for value in values.iter().filter_map(|v| v.as_str()) {
            if value == crate::redact::REDACTED {
                continue;
            }
            if let Ok(value) = HeaderValue::try_from(value) {
                map.append(name.clone(), value);
            }
        }
    }
    map
}
