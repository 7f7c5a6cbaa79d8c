//! `targets.NAME`: one downstream, and the transforms a target or a route
//! names, as written.
//!
//! Parsing only: `dispatch/target.rs` compiles a target, `runtime`
//! compiles transforms; nothing here reads the environment.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{CircuitConfig, Located, RetryConfig, SecretConfig, WebhookSecretsConfig, located};

/// `targets.NAME`: one downstream.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Where to send; `${NAME}` and `${NAME:-default}` read the environment.
    #[schemars(with = "String")]
    pub url: Located<String>,
    /// HTTP method. Default `POST`.
    #[serde(default = "default_method")]
    #[schemars(with = "String")]
    pub method: Located<String>,
    /// Extra request headers; values may use `${NAME}` or be
    /// `{file: /run/secrets/x}` (re-read on reload).
    #[serde(default)]
    pub headers: IndexMap<String, SecretConfig>,
    /// Sign every delivery (Standard Webhooks `webhook-signature`) with
    /// `{secret: whsec_...}`, or `{secrets: [..]}` while rotating. Default: unsigned.
    pub sign: Option<WebhookSecretsConfig>,
    /// Time for one attempt, from connect to the last response byte.
    /// Default `10s`.
    #[serde(default = "default_timeout")]
    #[schemars(with = "String")]
    pub timeout: Located<String>,
    /// Most requests per time unit: `10/s`, `600/min`, `5000/h`. Default: no limit.
    #[schemars(with = "Option<String>")]
    pub rate: Option<Located<String>>,
    /// Requests allowed at once above the steady rate. Default: the rate's count.
    pub burst: Option<u32>,
    /// Attempts in flight at once. Default 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Default transform for this target; a route's `transform` wins.
    pub transform: Option<TransformConfig>,
    /// Retry policy; unset fields come from `server.retry`.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Circuit breaker; unset fields come from `server.circuit`.
    #[serde(default)]
    pub circuit: CircuitConfig,
    /// Sends `traceparent` and `tracestate` with every attempt, so that the
    /// target's own traces join the webhook's (when `server.tracing` is on).
    /// Default `true`; `false` for a target that must not learn them.
    #[serde(default = "default_propagate_trace")]
    pub propagate_trace: bool,
}

fn default_propagate_trace() -> bool {
    true
}

/// A transform: `none`, `{select: [..]}`, `{omit: [..]}` or `{jq: '..'}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformConfig {
    /// Forward the original bytes unchanged.
    None,
    /// Keep only these paths, structure preserved.
    #[schemars(with = "Vec<String>")]
    Select(Vec<Located<String>>),
    /// Drop these paths.
    #[schemars(with = "Vec<String>")]
    Omit(Vec<Located<String>>),
    /// Reshape with a jq program; its first output is the body.
    #[schemars(with = "String")]
    Jq(Located<String>),
}

fn default_method() -> Located<String> {
    located("POST")
}
fn default_timeout() -> Located<String> {
    located("10s")
}
fn default_concurrency() -> u32 {
    8
}
