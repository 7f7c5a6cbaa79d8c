//! What accepting one webhook came to, and the one place that turns it into
//! the HTTP answer and the `switchboard_webhooks_received_total` label.
//!
//! The stage ([`super::accept`]) decides; this file only says how a decision
//! is answered. It must not read the request, the config or the spool, so
//! that a status and its metric label cannot drift apart.

use std::time::Duration;

use http::{HeaderValue, StatusCode, header};
use serde_json::json;
use uuid::Uuid;
use warp::reply::{Reply, Response};

/// What accepting one webhook came to.
#[derive(Debug)]
pub enum Outcome {
    /// Stored: 202 with the id and how many deliveries it made.
    Accepted { id: Uuid, deliveries: usize },
    /// A reachability check (`GET`, `HEAD`, an empty, `{}` or `null` body):
    /// 200, nothing forwarded.
    Probe,
    /// A verified webhook whose `webhook-id` was already taken: 200, so the
    /// sender may stop retrying; nothing forwarded again.
    Duplicate,
    /// Not taken, and why.
    Refused(Refusal),
}

/// Why a webhook was not taken.
#[derive(Debug)]
pub enum Refusal {
    /// 404: no source of this name.
    UnknownSource(String),
    /// 403: a trusted proxy's client-address header did not parse.
    ClientUnreadable,
    /// 403: the client's address is not in the source's `allow`.
    NotAllowed,
    /// 429: the client is over the source's rate; `wait` until it is not.
    RateLimited { wait: Duration },
    /// 401: the source's token is missing or wrong.
    Unauthorized,
    /// 405: neither `POST` nor a probe's `GET`/`HEAD`.
    BadMethod,
    /// 413: the body is over `server.max_body` (`limit` bytes).
    TooLarge { limit: usize },
    /// 408: the body did not arrive within `server.body_timeout`.
    TooSlow,
    /// 400: the body could not be read.
    BodyBroken,
    /// 401: the signature is wrong or stale, with the reason.
    Signature(String),
    /// 400: the body is not JSON (or repeats a key).
    NotJson(serde_json::Error),
    /// 503: the relay is shutting down.
    Draining,
    /// 503: too many deliveries or bytes are pending.
    Backlog,
    /// 503: the spool could not store the webhook.
    NotStored,
}

impl Outcome {
    /// The HTTP answer, and the `outcome` label it is counted under in
    /// `switchboard_webhooks_received_total`: decided together, here only.
    pub fn answer(&self) -> (Response, &'static str) {
        let refusal = match self {
            Outcome::Accepted { id, deliveries } => {
                let body = json!({"id": id.to_string(), "deliveries": deliveries});
                return (reply(StatusCode::ACCEPTED, &body), "accepted");
            }
            Outcome::Probe => {
                let body = json!({"ok": true, "probe": true});
                return (reply(StatusCode::OK, &body), "not_forwarded");
            }
            Outcome::Duplicate => {
                let body = json!({"ok": true, "duplicate": true});
                return (reply(StatusCode::OK, &body), "not_forwarded");
            }
            Outcome::Refused(refusal) => refusal,
        };
        let (status, label) = refusal.status();
        let mut response = error(status, &refusal.message());
        if let Some((name, value)) = refusal.header() {
            response.headers_mut().insert(name, value);
        }
        (response, label)
    }
}

impl Refusal {
    /// The status and its metric label.
    fn status(&self) -> (StatusCode, &'static str) {
        match self {
            Refusal::UnknownSource(_) => (StatusCode::NOT_FOUND, "unknown_source"),
            Refusal::ClientUnreadable | Refusal::NotAllowed => (StatusCode::FORBIDDEN, "forbidden"),
            Refusal::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Refusal::Unauthorized | Refusal::Signature(_) => {
                (StatusCode::UNAUTHORIZED, "unauthorized")
            }
            Refusal::BadMethod => (StatusCode::METHOD_NOT_ALLOWED, "bad_method"),
            Refusal::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Refusal::TooSlow => (StatusCode::REQUEST_TIMEOUT, "too_slow"),
            Refusal::BodyBroken | Refusal::NotJson(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Refusal::Draining | Refusal::Backlog | Refusal::NotStored => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        }
    }

    /// The `error` of the JSON answer.
    fn message(&self) -> String {
        match self {
            Refusal::UnknownSource(name) => format!("unknown source `{name}`"),
            Refusal::ClientUnreadable => {
                "the client address forwarded by the proxy could not be read".to_owned()
            }
            Refusal::NotAllowed => "this address may not send to this source".to_owned(),
            Refusal::RateLimited { .. } => {
                "too many requests from this address; slow down".to_owned()
            }
            Refusal::Unauthorized => "missing or wrong token".to_owned(),
            Refusal::BadMethod => "use POST".to_owned(),
            Refusal::TooLarge { limit } => format!("body larger than {limit} bytes"),
            Refusal::TooSlow => "the body did not arrive within server.body_timeout".to_owned(),
            Refusal::BodyBroken => "the body could not be read".to_owned(),
            Refusal::Signature(reason) => reason.clone(),
            Refusal::NotJson(e) => not_json(e),
            Refusal::Draining => "the relay is shutting down; retry shortly".to_owned(),
            Refusal::Backlog => "too many deliveries pending; retry later".to_owned(),
            Refusal::NotStored => "the webhook could not be stored; retry later".to_owned(),
        }
    }

    /// The one header some refusals add.
    fn header(&self) -> Option<(header::HeaderName, HeaderValue)> {
        match self {
            Refusal::RateLimited { wait } => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                HeaderValue::from_str(&secs.max(1).to_string())
                    .ok()
                    .map(|value| (header::RETRY_AFTER, value))
            }
            // The rest of the body may still be on its way: do not read it
            // as the next request.
            Refusal::TooSlow => Some((header::CONNECTION, HeaderValue::from_static("close"))),
            // Work the relay cannot take on now: the sender may retry soon.
            Refusal::Draining | Refusal::Backlog | Refusal::NotStored => {
                Some((header::RETRY_AFTER, HeaderValue::from_static("5")))
            }
            _ => None,
        }
    }
}

/// `body is not JSON: <kind> (<detail>) at line L column C`.
fn not_json(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let detail = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    let kind = match e.classify() {
        serde_json::error::Category::Eof => "it ends early",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data | serde_json::error::Category::Io => "invalid data",
    };
    format!(
        "body is not JSON: {kind} ({detail}) at line {} column {}",
        e.line(),
        e.column()
    )
}

fn reply(status: StatusCode, body: &serde_json::Value) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// A JSON error answer: `{"error": message}`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    reply(status, &json!({"error": message}))
}

#[cfg(test)]
mod tests;
