//! What the admin API reads from a request besides its headers: the body,
//! bounded and parsed as JSON with a plain 400 when it is not what the
//! endpoint takes, and the dead-letter list's query string. Must not read
//! the spool or the config in force.

use bytes::{Buf, Bytes};
use futures_util::Stream;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::problem::Problem;
use crate::admin::dead_letters::Selection;
use crate::ingress::body::BodyError;

/// Largest request body the API reads (a dead-letter selection).
const MAX_BODY: usize = 64 * 1024;

/// The largest body `endpoint` reads: [`MAX_BODY`], except that
/// `POST /api/explain` takes any payload ingress would (`server.max_body`),
/// written as a JSON string (escaping at most doubles it) with room for
/// the source and headers around it.
pub(super) fn body_limit(endpoint: &super::Endpoint, max_body: usize) -> usize {
    match endpoint {
        super::Endpoint::Explain => max_body.saturating_mul(2).saturating_add(MAX_BODY),
        _ => MAX_BODY,
    }
}

/// Reads at most `limit` bytes.
pub(super) async fn read_body<S, B>(
    body: S,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, Problem>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let body = std::pin::pin!(body);
    crate::ingress::body::read_body(body, headers, limit)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {limit} bytes"),
            ),
            BodyError::Broken => {
                Problem::new(StatusCode::BAD_REQUEST, "the body could not be read")
            }
            BodyError::TooSlow => Problem {
                header: Some((http::header::CONNECTION, "close")),
                ..Problem::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "the body did not arrive within server.body_timeout",
                )
            },
        })
}

pub(super) const SELECTION_EXAMPLE: &str =
    r#"{"target": "crm"}, {"ids": ["019ae3c4-…"]}, {"before_ms": 1767225600000} or {"all": true}"#;

/// The body as JSON of type `T`, or a 400 that says what is wrong and shows
/// `example`.
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    example: &str,
) -> Result<T, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the body is empty; send a JSON object: {example}"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not what this endpoint takes: {e}; send {example}"),
        )
    })
}

/// The reload body: nothing, or an empty object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoFields {}

/// `?target=crm&id=019…&id=…&before_ms=…`, every parameter optional; a
/// 400 naming the parameter otherwise.
pub(super) fn selection_from_query(query: &str) -> Result<Selection, Problem> {
    let bad = |message: String| Problem::new(StatusCode::BAD_REQUEST, message);
    let mut selection = Selection::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "target" => selection.target = Some(value.into_owned()),
            "id" => selection.ids.push(value.into_owned()),
            "before_ms" => {
                selection.before_ms = Some(value.parse().map_err(|_| {
                    bad(format!(
                        "before_ms `{value}` is not a time in unix milliseconds"
                    ))
                })?)
            }
            other => {
                return Err(bad(format!(
                    "unknown query parameter `{other}`; use target, id (repeatable) or before_ms"
                )));
            }
        }
    }
    Ok(selection)
}
