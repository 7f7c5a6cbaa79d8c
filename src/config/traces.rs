//! `server.tracing:`: exporting traces over OTLP, as written.
//!
//! Parsing only: `trace/settings.rs` resolves the endpoint (or reads
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), the headers and the ratio.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{Located, SecretConfig};

/// `server.tracing`: present, the relay exports one trace per webhook
/// (OTLP over HTTP, protobuf); absent, it traces nothing and stores no
/// trace context.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// The OTLP/HTTP endpoint, e.g. `http://otel-collector:4318`; spans go
    /// to its `/v1/traces` (a URL already ending in `/v1/traces` is used as
    /// it is). Default: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as it is), else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; one of the three is needed.
    #[schemars(with = "Option<String>")]
    pub endpoint: Option<Located<String>>,
    /// Headers sent with every export (e.g. an API key): a string, where
    /// `${NAME}` reads the environment, or `{file: /path}`.
    #[serde(default)]
    pub headers: IndexMap<String, SecretConfig>,
    /// The share of new traces exported, from 0 to 1. A webhook arriving
    /// with a `traceparent` follows its sender's `sampled` flag instead.
    /// Default 1.
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// The `service.name` of the spans. Default `OTEL_SERVICE_NAME`, else
    /// `switchboard`.
    pub service_name: Option<String>,
    /// How long spans wait to be sent together, e.g. `1s`. Default `1s`.
    #[serde(default = "default_batch_delay")]
    #[schemars(with = "String")]
    pub batch_delay: Located<String>,
}

fn default_sample_ratio() -> f64 {
    1.0
}

fn default_batch_delay() -> Located<String> {
    super::located("1s")
}
