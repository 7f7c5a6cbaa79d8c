//! `server.retry` and `targets.NAME.retry`, as written.
//!
//! Parsing only: `dispatch/retry` compiles it into a `RetryPolicy`.

use serde::Deserialize;

use super::Located;

/// `server.retry` and `targets.NAME.retry`.
///
/// Every field is optional so that a target's `retry` overrides the server's
/// field by field (see [`compile_over`]). Either `first` (with `attempts`) or
/// `schedule` shapes the backoff, never both in one mapping.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first one included. Default 12; `1` means never
    /// retry. Not allowed together with `schedule`.
    pub attempts: Option<u32>,
    /// Longest wait before the first retry, e.g. `5s`; the bound doubles for
    /// each further retry, up to `max`, and the actual wait is drawn at random
    /// below it. Default `5s`. Not allowed together with `schedule`.
    #[schemars(with = "Option<String>")]
    pub first: Option<Located<String>>,
    /// Longest wait before any one retry, e.g. `6h`; also caps a receiver's
    /// `Retry-After`. Default `6h`.
    #[schemars(with = "Option<String>")]
    pub max: Option<Located<String>>,
    /// Fixed waits before attempts 2, 3, …, e.g. `[5s, 5m, 30m, 2h]`, used
    /// as written instead of `first`/`attempts`: a delivery gets one attempt
    /// more than the list has entries. Each entry must be at most `max`.
    #[schemars(with = "Option<Vec<String>>")]
    pub schedule: Option<Vec<Located<String>>>,
    /// Response statuses worth trying again: codes from 400 to 599 (`503`) or
    /// a class (`"4xx"`, `"5xx"`). Default `[408, 429, "5xx"]`. `[]` retries
    /// no status. Timeouts and connection errors are retried regardless.
    #[schemars(with = "Option<Vec<StatusConfig>>")]
    pub retry_on: Option<Vec<Located<StatusConfig>>>,
}

/// One `retry_on` entry as written: `503`, `"503"` or `"5xx"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum StatusConfig {
    /// A status code. Signed so that `-1` gets our message, not serde's.
    Code(i64),
    /// A class such as `"5xx"`, or a code in quotes.
    Text(String),
}
