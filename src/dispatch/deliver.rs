//! One delivery attempt, and what its result means.
//!
//! [`attempt`] sends once with the target's method, headers and timeout,
//! never following redirects; [`decide`] is the pure rule that turns the
//! result into what the spool stores: delivered, retry at a time, parked
//! (410 Gone) or dead. Scheduling is the dispatcher's business.

use std::time::{Instant, SystemTime};

use http::header;

use crate::dispatch::retry::{RetryPolicy, parse_retry_after};
use crate::dispatch::target::Target;
use crate::spool::{AttemptLog, Ready, Record};

/// The `user-agent` of every delivery.
pub const USER_AGENT: &str = concat!("switchboard/", env!("CARGO_PKG_VERSION"));

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A response, with its `Retry-After` header if any.
    Status {
        code: u16,
        retry_after: Option<String>,
    },
    /// No response: timeout, refused or broken connection.
    Failed { reason: String },
}

/// How an attempt bears on the target's health (circuit breaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// It answered sensibly (2xx, or a 4xx about this request).
    Up,
    /// It failed in a way worth retrying: timeout, connection error, 408, 429, 5xx.
    Failing,
    /// It answered 410 Gone: stop sending until re-enabled.
    Gone,
}

/// Decides what to store for an attempt on a delivery that had
/// `attempts_before` earlier attempts. Pure: time comes in as `now`.
pub fn decide(
    policy: &RetryPolicy,
    attempts_before: u32,
    attempt: &Attempt,
    now: SystemTime,
    rng: &mut fastrand::Rng,
) -> (Record, Health) {
    let made = attempts_before + 1;
    let (status, error, retry_after) = match attempt {
        Attempt::Status { code, .. } if (200..300).contains(code) => {
            return (Record::Delivered { status: *code }, Health::Up);
        }
        Attempt::Status { code: 410, .. } => {
            let error = "410 Gone: the target asked not to be sent anything more; it is disabled until a reload".to_owned();
            return (Record::Parked { status: 410, error }, Health::Gone);
        }
        Attempt::Status { code, retry_after } if policy.retries_status(*code) => (
            Some(*code),
            format!("HTTP {code}"),
            retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now)),
        ),
        Attempt::Status { code, .. } => {
            let record = Record::Dead {
                status: Some(*code),
                error: format!("HTTP {code} is not retried"),
            };
            return (record, Health::Up);
        }
        Attempt::Failed { reason } => (None, reason.clone(), None),
    };
    let record = match policy.next_delay(made, retry_after, rng) {
        Some(delay) => Record::Retry {
            due_ms: crate::time::unix_ms(now + delay),
            status,
            error,
        },
        None => Record::Dead {
            status,
            error: format!("gave up after {made} attempts; last: {error}"),
        },
    };
    (record, Health::Failing)
}

/// What kind of failure an attempt without a usable answer had, as the
/// history and the dead-letter groups name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// No answer within the target's timeout.
    Timeout,
    /// The connection could not be made (refused, unreachable, DNS).
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// Sending the body or reading the answer broke off.
    Body,
    /// A 3xx answer: redirects are not followed.
    Redirect,
    /// Any other failure of the request.
    Request,
}

impl Class {
    /// Its name in the history and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Timeout => "timeout",
            Class::Connect => "connect",
            Class::Tls => "tls",
            Class::Body => "body",
            Class::Redirect => "redirect",
            Class::Request => "request",
        }
    }

    /// The class of a failed request.
    fn of(error: &reqwest::Error) -> Class {
        let chain = std::iter::successors(std::error::Error::source(error), |e| e.source())
            .map(|e| e.to_string().to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(": ");
        if error.is_timeout() {
            Class::Timeout
        } else if chain.contains("certificate") || chain.contains("tls") {
            Class::Tls
        } else if error.is_connect() {
            Class::Connect
        } else if error.is_body() || error.is_decode() {
            Class::Body
        } else {
            Class::Request
        }
    }
}

/// An attempt's result and its record for the history.
#[derive(Debug)]
pub struct Sent {
    /// What it got back, for [`decide`].
    pub result: Attempt,
    /// What the history keeps of it.
    pub log: AttemptLog,
}

/// Sends `ready` to `target` once, logs the result, and keeps what the
/// history needs: the request headers as sent, the answer's headers and the
/// first `target.response_bytes` of its body. With `trace` (the attempt's
/// span), sends its `traceparent` and `tracestate`.
pub async fn attempt(
    client: &reqwest::Client,
    target: &Target,
    ready: &Ready,
    trace: Option<&crate::trace::Attempt>,
) -> Sent {
    let started = Instant::now();
    let mut log = AttemptLog {
        attempt: ready.attempts + 1,
        started_ms: crate::time::now_ms(),
        response_headers: "{}".to_owned(),
        ..AttemptLog::default()
    };
    let timestamp = crate::time::now_secs();
    let id = ready.event.to_string();
    let mut request = client
        .request(target.method.clone(), target.url.clone())
        .timeout(target.timeout)
        .headers(target.headers.clone());
    if let Some(signer) = &target.sign {
        // Over the exact bytes below, with the id and timestamp sent beside it.
        let signature = signer.sign(&id, timestamp, &ready.body);
        request = request.header(crate::dispatch::sign::SIGNATURE_HEADER, signature);
    }
    request = request
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string());
    if !target.headers.contains_key(header::CONTENT_TYPE) {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(span) = trace {
        request = request.header("traceparent", span.context.traceparent());
        if !span.context.state.is_empty() {
            request = request.header("tracestate", span.context.state.as_str());
        }
    }
    let result = match request.body(ready.body.clone()).build() {
        Ok(request) => {
            log.request_headers = crate::redact::headers_json(request.headers(), None);
            send(client, request, target.response_bytes, &mut log).await
        }
        Err(error) => fail(&error, &mut log),
    };
    let ms = started.elapsed().as_millis() as u64;
    log.duration_ms = ms as i64;
    let attempt = ready.attempts + 1;
    let trace_id = ready
        .trace
        .as_ref()
        .map(|t| tracing::field::display(t.trace));
    match &result {
        Attempt::Status { code, .. } if (200..300).contains(code) => {
            tracing::info!(id = %ready.event, target = %target.name, route = %ready.route, status = code, attempt, duration_ms = ms, trace_id, "delivered")
        }
        Attempt::Status { code, .. } => {
            tracing::warn!(id = %ready.event, target = %target.name, route = %ready.route, status = code, attempt, duration_ms = ms, trace_id, "delivery refused")
        }
        Attempt::Failed { reason } => {
            tracing::warn!(id = %ready.event, target = %target.name, route = %ready.route, %reason, attempt, duration_ms = ms, trace_id, "delivery failed")
        }
    }
    Sent { result, log }
}

/// Sends the built request; reads the answer's headers and up to `keep`
/// bytes of its body into `log`.
async fn send(
    client: &reqwest::Client,
    request: reqwest::Request,
    keep: usize,
    log: &mut AttemptLog,
) -> Attempt {
    let mut response = match client.execute(request).await {
        Ok(response) => response,
        Err(error) => return fail(&error, log),
    };
    let code = response.status().as_u16();
    log.status = Some(code);
    log.response_headers = crate::redact::headers_json(response.headers(), None);
    if response.status().is_redirection() {
        log.class = Some(Class::Redirect.as_str());
        log.error = Some(format!("HTTP {code}: redirects are not followed"));
    } else if !response.status().is_success() {
        log.error = Some(format!("HTTP {code}"));
    }
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    // The answer counts once its status is in: a body that breaks off
    // afterwards is kept as far as it came.
    while body.len() < keep {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(keep - body.len())]),
            _ => break,
        }
    }
    if !body.is_empty() {
        log.response_body = Some(body.into());
    }
    Attempt::Status { code, retry_after }
}

/// A request that got no answer, its class and cause in `log`.
fn fail(error: &reqwest::Error, log: &mut AttemptLog) -> Attempt {
    let reason = describe(error);
    log.class = Some(Class::of(error).as_str());
    log.error = Some(reason.clone());
    Attempt::Failed { reason }
}

/// A short cause for logs: timeout, refused connection, or the error chain.
/// The URL is left out: it may carry a secret.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut cause = String::from(kind);
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause.push_str(": ");
        cause.push_str(&inner.to_string());
        source = inner.source();
    }
    cause
}
