//! The serde mirror of `routes.yaml`: parsing only.
//!
//! Every struct here is what the operator writes, field for field, with its
//! defaults. Turning it into something that can run (URLs, header maps, regexes,
//! jq programs, rate quotas) is `runtime.rs`'s job, so this module must not touch
//! tokio, warp, reqwest or the environment. [`Config::read`] reports every
//! unknown key, duplicate key and wrong type at once, with its place, line
//! and column: `tree` reads the YAML with positions, `shape` checks it
//! against [`Config::schema`] and repairs it, `de` fills these types from
//! it, `read` puts the three together.
//!
//! One file per section: `server`, `source` (with `verify`), `target`,
//! `route`, `retry`, `circuit`, `secret`. Every `*Config` type lives here
//! and nowhere else; the runtime modules compile them (config → compile →
//! runtime), and nothing here imports a runtime module.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

pub mod interpolate;
pub mod problems;
pub mod units;

mod circuit;
mod de;
mod read;
mod retry;
mod route;
mod secret;
mod server;
mod shape;
pub mod shown;
mod source;
mod target;
mod traces;
mod tree;
mod verify;

pub use read::{ParseError, Parsed, read_file, version_of};

pub use circuit::CircuitConfig;
pub use retry::{RetryConfig, StatusConfig};
pub use route::{AnswerConfig, ConditionConfig, HeaderConditionConfig, OneOrMany, RouteConfig};
pub use secret::{SecretConfig, SecretSource, WebhookSecretsConfig};
pub use server::{AdminRole, AdminTokenConfig, ClientIpHeader, HistoryConfig, ServerConfig};
pub use source::{FieldsConfig, SourceConfig, TokenConfig, default_keys};
pub use target::{TargetConfig, TransformConfig};
pub use traces::TracingConfig;
pub use verify::{Algorithm, Encoding, HmacConfig, VerifyConfig};

/// A value together with the place in `routes.yaml` it came from, so that a
/// compile error can say "line 12 column 9".
pub type Located<T> = Spanned<T>;

/// The whole file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener and process-wide settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// Who may send, by name: `POST /hooks/{name}`.
    #[serde(default)]
    pub sources: IndexMap<String, SourceConfig>,
    /// Where webhooks go, by name.
    #[serde(default)]
    pub targets: IndexMap<String, TargetConfig>,
    /// Evaluated in order for every accepted webhook.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

impl Config {
    /// The JSON Schema of `routes.yaml`, derived from these types: every
    /// key with its doc as description, unknown keys rejected. Editors use
    /// it for completion; `switchboard schema` prints it; [`Config::read`]
    /// checks the file's shape against it.
    pub fn schema() -> serde_json::Value {
        let mut schema = schemars::schema_for!(Config);
        schema.insert("title".to_owned(), "switchboard routes.yaml".into());
        schema.to_value()
    }
}

pub(crate) fn located(value: &str) -> Located<String> {
    Spanned::new(
        value.to_owned(),
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}
