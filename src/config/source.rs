//! `sources.NAME`: one sender, as written.
//!
//! Parsing only: `ingress/source.rs` compiles it; nothing here reads the
//! environment or a secrets file.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Located, SecretConfig, VerifyConfig, located};

/// `sources.NAME`: one sender, reached at `POST /hooks/NAME`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Client addresses allowed to send: IPs or CIDRs, IPv4 or IPv6.
    /// Absent means any address (then set a `token`).
    #[schemars(with = "Option<Vec<String>>")]
    pub allow: Option<Vec<Located<String>>>,
    /// A shared secret the sender puts in a header.
    pub token: Option<TokenConfig>,
    /// Check a signature over the body: `{standard_webhooks: {secret}}` or
    /// `{hmac: {header, algorithm, encoding, prefix, secret}}`. Checked
    /// after `allow` and `token`; a failure is 401. Default: none.
    pub verify: Option<VerifyConfig>,
    /// Requests per client address: `60/min`, `10/s`. Beyond it, 429 with
    /// `Retry-After`. IPv6 clients count per /64. Default: no limit.
    #[schemars(with = "Option<String>")]
    pub rate: Option<Located<String>>,
    /// Requests a client may send at once above the steady rate. Default:
    /// the rate's count.
    pub burst: Option<u32>,
    /// Where `topic`, `playbook` and `answer` conditions look. Default:
    /// sipgate AI Agents' layout.
    #[serde(default)]
    pub fields: FieldsConfig,
    /// Lookup keys: names for paths whose values are stored with each
    /// webhook, indexed, so that an operator finds it by them
    /// (`events search --key call=pbx-…`, `GET /api/events?key.call=…`).
    /// Default, for sipgate AI Agents' call log: `{call: call.id, caller:
    /// call.from, callee: call.to}`; `{}` stores none.
    #[schemars(with = "Option<std::collections::BTreeMap<String, String>>")]
    pub keys: Option<BTreeMap<String, Located<String>>>,
}

/// The lookup keys of a source without `keys`: sipgate AI Agents' call id
/// and the numbers at either end.
pub fn default_keys() -> BTreeMap<String, Located<String>> {
    [
        ("call", "call.id"),
        ("caller", "call.from"),
        ("callee", "call.to"),
    ]
    .into_iter()
    .map(|(name, path)| (name.to_owned(), located(path)))
    .collect()
}

/// `sources.NAME.token`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Header that carries the secret, e.g. `X-Switchboard-Token`.
    #[schemars(with = "String")]
    pub header: Located<String>,
    /// The secret; `${NAME}` reads it from the environment,
    /// `{file: /run/secrets/x}` from a file (re-read on reload).
    pub value: SecretConfig,
}

/// `sources.NAME.fields`: the payload layout behind the domain conditions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldsConfig {
    /// Path of the recognized topics. Default `assist.summary.topics[*]`.
    #[serde(default = "default_topics")]
    #[schemars(with = "String")]
    pub topics: Located<String>,
    /// Paths naming a completed playbook. Default
    /// `[assist.callScenarios[*].name, assist.callScenarios[*].id]`.
    #[serde(default = "default_playbooks")]
    #[schemars(with = "Vec<String>")]
    pub playbooks: Vec<Located<String>>,
    /// Path of the recorded answers. Default
    /// `assist.callScenarios[*].smartAnswers[*].setItems[*]`.
    #[serde(default = "default_answers")]
    #[schemars(with = "String")]
    pub answers: Located<String>,
    /// Key of the question within an answer item. Default `question`.
    #[serde(default = "default_question")]
    pub question: String,
    /// Key of the answer within an answer item. Default `answer`.
    #[serde(default = "default_answer")]
    pub answer: String,
}

impl Default for FieldsConfig {
    fn default() -> Self {
        FieldsConfig {
            topics: default_topics(),
            playbooks: default_playbooks(),
            answers: default_answers(),
            question: default_question(),
            answer: default_answer(),
        }
    }
}

fn default_topics() -> Located<String> {
    located("assist.summary.topics[*]")
}
fn default_playbooks() -> Vec<Located<String>> {
    vec![
        located("assist.callScenarios[*].name"),
        located("assist.callScenarios[*].id"),
    ]
}
fn default_answers() -> Located<String> {
    located("assist.callScenarios[*].smartAnswers[*].setItems[*]")
}
fn default_question() -> String {
    "question".to_owned()
}
fn default_answer() -> String {
    "answer".to_owned()
}
