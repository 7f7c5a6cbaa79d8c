//! Compiles `targets.NAME` into a [`Target`] over the server's policies,
//! reporting every problem with its place.
//!
//! Config to target only; reuses the limiter and semaphore of the target in
//! force when unchanged. Sends nothing.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tokio::sync::Semaphore;
use url::Url;

use super::{Limit, Target};
use crate::config::interpolate::{self, Env};
use crate::config::problems::Problems;
use crate::config::units;
use crate::config::{Located, SecretConfig, TargetConfig};
use crate::dispatch::circuit::{self, CircuitPolicy};
use crate::dispatch::retry::{self, RetryPolicy};
use crate::dispatch::sign;
use crate::rate::RateLimit;
use indexmap::IndexMap;

/// The server-wide policies a target inherits from.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// `server.retry`.
    pub retry: RetryPolicy,
    /// `server.circuit`.
    pub circuit: CircuitPolicy,
    /// `server.history.response_bytes`.
    pub response_bytes: usize,
}

/// Compiles `targets.NAME` over the server `defaults`. `previous` is the
/// same-named target of the config in force, whose limiter and semaphore are
/// reused when unchanged.
pub fn compile(
    name: &str,
    cfg: &TargetConfig,
    env: &Env,
    defaults: &Defaults,
    previous: Option<&Target>,
    problems: &mut Problems,
) -> Option<Target> {
    let place = format!("targets.{name}");
    let before = problems.clone();
    let url = url(&cfg.url, env, &place, problems);
    let method = method(&cfg.method, &place, problems);
    let headers = header_map(&cfg.headers, env, &format!("{place}.headers"), problems);
    let timeout = units::duration(&cfg.timeout.value)
        .map_err(|e| problems.push(format!("{place}.timeout"), Some(&cfg.timeout.referenced), e))
        .ok();
    let limit = RateLimit::compile(cfg.rate.as_ref(), cfg.burst, &place, problems)
        .map(|limit| limit.map(|limit| Limit::reuse(previous, limit)));
    if cfg.concurrency == 0 {
        problems.push(format!("{place}.concurrency"), None, "must be at least 1");
    }
    let concurrency = previous
        .filter(|p| p.concurrency_max == cfg.concurrency)
        .map(|p| p.concurrency.clone())
        .unwrap_or_else(|| Arc::new(Semaphore::new(cfg.concurrency as usize)));
    let retry = retry::compile_over(
        &cfg.retry,
        &defaults.retry,
        &format!("{place}.retry"),
        problems,
    );
    let circuit = circuit::compile_over(
        &cfg.circuit,
        &defaults.circuit,
        &format!("{place}.circuit"),
        problems,
    );
    let signer = cfg
        .sign
        .as_ref()
        .map(|s| sign::compile(s, &format!("{place}.sign"), env, problems));
    if *problems != before {
        return None;
    }
    Some(Target {
        name: name.to_owned(),
        url: url?,
        url_secret: cfg.url.value.contains('$'),
        method: method?,
        headers,
        timeout: timeout?,
        limit: limit?,
        concurrency,
        concurrency_max: cfg.concurrency,
        retry: retry?,
        circuit: circuit?,
        sign: signer.flatten(),
        response_bytes: defaults.response_bytes,
        propagate_trace: cfg.propagate_trace,
    })
}

/// `targets.NAME.method`, any case.
fn method(cfg: &Located<String>, place: &str, problems: &mut Problems) -> Option<Method> {
    Method::from_bytes(cfg.value.to_ascii_uppercase().as_bytes())
        .map_err(|_| {
            problems.push(
                format!("{place}.method"),
                Some(&cfg.referenced),
                format!("`{}` is not an HTTP method", cfg.value),
            )
        })
        .ok()
}

/// `targets.NAME.url`: resolved, parsed, http or https.
fn url(cfg: &Located<String>, env: &Env, place: &str, problems: &mut Problems) -> Option<Url> {
    let parse = |text: String| {
        let url = Url::parse(&text).map_err(|e| {
            format!("not a valid URL ({e}); e.g. https://crm.example.com/api/calls")
        })?;
        match url.scheme() {
            "http" | "https" => Ok(url),
            other => Err(format!("scheme `{other}` is not http or https")),
        }
    };
    interpolate::resolve(&cfg.value, env)
        .map_err(|e| e.to_string())
        .and_then(parse)
        .map_err(|e| problems.push(format!("{place}.url"), Some(&cfg.referenced), e))
        .ok()
}

/// Headers as written at `place` (`targets.NAME.headers`,
/// `server.tracing.headers`): valid names, resolved values; a value from the
/// environment or a file, or under a name that usually carries a secret,
/// marked sensitive.
pub(crate) fn header_map(
    written: &IndexMap<String, SecretConfig>,
    env: &Env,
    place: &str,
    problems: &mut Problems,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (key, value) in written {
        let hplace = format!("{place}.{key}");
        let Ok(header) = HeaderName::try_from(key.as_str()) else {
            problems.push(
                hplace,
                Some(value.referenced()),
                format!("`{key}` is not a valid header name"),
            );
            continue;
        };
        match value.resolve(env) {
            Ok(text) => match HeaderValue::try_from(text) {
                Ok(mut v) => {
                    // Shown as `[redacted]` in the delivery history.
                    v.set_sensitive(value.is_secret() || crate::redact::sensitive_name(&header));
                    headers.append(header, v);
                }
                // The value may be a secret: do not echo it.
                Err(_) => problems.push(hplace, Some(value.referenced()), "the value has characters a header cannot carry (control characters or newlines)"),
            },
            Err(e) => problems.push(hplace, Some(value.referenced()), e),
        }
    }
    headers
}
