//! One delivery attempt and what its outcome means.
//!
//! [`attempt`] sends once with the target's method, headers and timeout and
//! never follows redirects; [`classify`] is the pure rule that turns a
//! response or error into an [`Outcome`]. Scheduling retries is not this
//! module's business.

use std::time::{Duration, Instant};

use http::{HeaderValue, StatusCode, header};

use crate::accept::Delivery;
use crate::target::Target;

/// The `user-agent` of every delivery.
pub const USER_AGENT: &str = concat!("switchboard/", env!("CARGO_PKG_VERSION"));

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered { status: u16 },
    /// Worth trying again: a timeout, a refused or broken connection, 408,
    /// 429 or 5xx. `after` is the receiver's `Retry-After`, if it sent one.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// 410 Gone: the receiver asks not to be sent anything any more.
    Gone,
    /// Any other status: trying again would get the same answer.
    Dead { reason: String },
}

/// Classifies a response status.
pub fn classify(status: StatusCode, retry_after: Option<Duration>) -> Outcome {
    let code = status.as_u16();
    match code {
        200..=299 => Outcome::Delivered { status: code },
        408 | 429 | 500..=599 => Outcome::Retry {
            reason: format!("HTTP {code}"),
            after: retry_after,
        },
        410 => Outcome::Gone,
        _ => Outcome::Dead {
            reason: format!("HTTP {code}"),
        },
    }
}

/// Reads `Retry-After` in seconds. (An HTTP date is read by the retry
/// scheduler, which knows the time.)
fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let secs: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

/// Sends `delivery` to `target` once and logs the outcome.
pub async fn attempt(client: &reqwest::Client, target: &Target, delivery: &Delivery) -> Outcome {
    let started = Instant::now();
    let mut request = client
        .request(target.method.clone(), target.url.clone())
        .timeout(target.timeout)
        .headers(target.headers.clone())
        .header("webhook-id", delivery.event.to_string());
    if !target.headers.contains_key(header::CONTENT_TYPE) {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let result = request.body(delivery.body.clone()).send().await;
    let outcome = match result {
        Ok(response) => classify(
            response.status(),
            retry_after(response.headers().get(header::RETRY_AFTER)),
        ),
        Err(error) => Outcome::Retry {
            reason: describe(&error),
            after: None,
        },
    };
    let ms = started.elapsed().as_millis() as u64;
    match &outcome {
        Outcome::Delivered { status } => {
            tracing::info!(id = %delivery.event, target = %target.name, route = %delivery.route, status, duration_ms = ms, "delivered")
        }
        Outcome::Retry { reason, .. } => {
            tracing::warn!(id = %delivery.event, target = %target.name, route = %delivery.route, %reason, duration_ms = ms, "delivery failed")
        }
        Outcome::Gone => {
            tracing::warn!(id = %delivery.event, target = %target.name, route = %delivery.route, status = 410, duration_ms = ms, "target answered 410 Gone")
        }
        Outcome::Dead { reason } => {
            tracing::warn!(id = %delivery.event, target = %target.name, route = %delivery.route, %reason, duration_ms = ms, "delivery rejected")
        }
    }
    outcome
}

/// A short cause for logs: timeout, refused connection, or the error chain.
/// URLs are left out: they may carry secrets.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        let secs = Some(Duration::from_secs(2));
        let table = [
            (200, Outcome::Delivered { status: 200 }),
            (204, Outcome::Delivered { status: 204 }),
            (
                408,
                Outcome::Retry {
                    reason: "HTTP 408".into(),
                    after: None,
                },
            ),
            (
                429,
                Outcome::Retry {
                    reason: "HTTP 429".into(),
                    after: secs,
                },
            ),
            (
                503,
                Outcome::Retry {
                    reason: "HTTP 503".into(),
                    after: secs,
                },
            ),
            (410, Outcome::Gone),
            (
                400,
                Outcome::Dead {
                    reason: "HTTP 400".into(),
                },
            ),
            (
                301,
                Outcome::Dead {
                    reason: "HTTP 301".into(),
                },
            ),
        ];
        for (code, want) in table {
            let after = if matches!(want, Outcome::Retry { after: Some(_), .. }) {
                secs
            } else {
                None
            };
            assert_eq!(
                classify(StatusCode::from_u16(code).unwrap_or_default(), after),
                want,
                "{code}"
            );
        }
    }
}
