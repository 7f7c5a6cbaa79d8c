//! `routes[i]` and their conditions, as written.
//!
//! Parsing only: `rules::compile` turns a condition into something that
//! evaluates (paths, regexes, jq programs).

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Located, TransformConfig};

/// `routes[i]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Shown in logs and `explain`. Default `routes[i]`.
    pub name: Option<String>,
    /// When the route matches; absent means always.
    pub when: Option<ConditionConfig>,
    /// Target names.
    #[schemars(with = "Vec<String>")]
    pub to: Vec<Located<String>>,
    /// Overrides each target's default transform.
    pub transform: Option<TransformConfig>,
}

/// One or several values: `topic: complaint` or `topic: [complaint, refund]`.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// A condition. Each key is one kind; several kinds in one mapping must all
/// hold. `equals`, `in`, `contains`, `matches`, `gt` and `lt` are the operator
/// of `field` (or of `header` / `answer`, which carry their own).
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// Any recognized topic equals one of these, case-insensitively.
    pub topic: Option<OneOrMany>,
    /// A completed playbook's name or id equals one of these, case-insensitively.
    pub playbook: Option<OneOrMany>,
    /// A recorded answer to a question.
    #[schemars(with = "Option<AnswerConfig>")]
    pub answer: Option<Located<AnswerConfig>>,
    /// The path is present, not null and not an empty array.
    #[schemars(with = "Option<String>")]
    pub has: Option<Located<String>>,
    /// A path compared with one operator below.
    #[schemars(with = "Option<String>")]
    pub field: Option<Located<String>>,
    /// Operator: equal to this JSON value.
    pub equals: Option<serde_json::Value>,
    /// Operator: equal to one of these values.
    #[serde(rename = "in")]
    pub in_: Option<Vec<serde_json::Value>>,
    /// Operator: a string containing this text, or an array containing this value.
    pub contains: Option<serde_json::Value>,
    /// Operator: a string matching this regex.
    #[schemars(with = "Option<String>")]
    pub matches: Option<Located<String>>,
    /// Operator: a number (or string) greater than this.
    pub gt: Option<serde_json::Value>,
    /// Operator: a number (or string) less than this.
    pub lt: Option<serde_json::Value>,
    /// The webhook came in on one of these sources.
    pub source: Option<OneOrMany>,
    /// A request header equals or matches.
    #[schemars(with = "Option<HeaderConditionConfig>")]
    pub header: Option<Located<HeaderConditionConfig>>,
    /// Every condition holds.
    pub all: Option<Vec<ConditionConfig>>,
    /// At least one condition holds.
    pub any: Option<Vec<ConditionConfig>>,
    /// The condition does not hold.
    pub not: Option<Box<ConditionConfig>>,
    /// A jq program whose first output is truthy (not `false`, not `null`).
    #[schemars(with = "Option<String>")]
    pub jq: Option<Located<String>>,
}

/// `answer: {question, equals|in|matches}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerConfig {
    /// The question, compared case-insensitively.
    pub question: String,
    /// The answer equals this, case-insensitively.
    pub equals: Option<String>,
    /// The answer equals one of these, case-insensitively.
    #[serde(rename = "in")]
    pub in_: Option<Vec<String>>,
    /// The answer matches this regex.
    pub matches: Option<String>,
}

/// `header: {name, equals|matches}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderConditionConfig {
    /// Header name, case-insensitive.
    pub name: String,
    /// The value equals this exactly.
    pub equals: Option<String>,
    /// The value matches this regex.
    pub matches: Option<String>,
}
