//! Compiled routing conditions and route selection.
//!
//! `routes:` becomes a [`Routes`] whose [`Routes::select`] is a pure function
//! of one webhook: which routes match and which target gets which transform.
//! Compiling (`rules/compile.rs`) collects every problem with its place.
//! No I/O here.
//! [`Condition::explain`] (in `rules/trace.rs`) gives the same answer as
//! [`Condition::eval`] with the evidence, for `switchboard explain`.

use std::sync::Arc;

use http::{HeaderMap, HeaderName};
use regex::Regex;
use serde_json::Value;

use crate::transform::Transform;
use crate::transform::jq::{self, Program};
use crate::transform::path::Path;

mod compile;
mod trace;
pub use compile::compile;
pub use trace::Trace;

/// Where the domain conditions look in a payload, per source.
#[derive(Debug)]
pub struct Fields {
    /// Recognized topics.
    pub topics: Path,
    /// Values naming a completed playbook (name, id).
    pub playbooks: Vec<Path>,
    /// Recorded answers: objects with a question and an answer.
    pub answers: Path,
    /// Key of the question in an answer object.
    pub question: String,
    /// Key of the answer in an answer object.
    pub answer: String,
}

/// One webhook, as conditions see it.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// The source it came in on.
    pub source: &'a str,
    /// That source's layout.
    pub fields: &'a Fields,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The parsed body.
    pub body: &'a Value,
}

/// A compiled condition.
#[derive(Debug)]
pub enum Condition {
    /// Any topic equals one of these (stored lower-case).
    Topic(Vec<String>),
    /// A playbook name or id equals one of these (stored lower-case).
    Playbook(Vec<String>),
    /// An answer item whose question equals this (lower-case) passes the test.
    Answer { question: String, test: Text },
    /// The path yields a value.
    Has(Path),
    /// A value at the path passes the operator.
    Field { path: Path, op: Op },
    /// The source is one of these.
    Source(Vec<String>),
    /// The header is present and passes the test.
    Header { name: HeaderName, test: Text },
    /// All hold.
    All(Vec<Condition>),
    /// One holds.
    Any(Vec<Condition>),
    /// Does not hold.
    Not(Box<Condition>),
    /// The program's first output is truthy.
    Jq(Program),
}

/// Comparison of a JSON value.
#[derive(Debug)]
pub enum Op {
    Equals(Value),
    In(Vec<Value>),
    Contains(Value),
    Matches(Regex),
    Gt(Value),
    Lt(Value),
}

/// Comparison of a string.
#[derive(Debug)]
pub enum Text {
    Equals(String),
    In(Vec<String>),
    Matches(Regex),
}

impl Condition {
    /// Whether the webhook satisfies the condition.
    pub fn eval(&self, event: &Event<'_>) -> bool {
        match self {
            Condition::Topic(wanted) => event.fields.topics.any(event.body, |v| eq_fold(v, wanted)),
            Condition::Playbook(wanted) => event
                .fields
                .playbooks
                .iter()
                .any(|p| p.any(event.body, |v| eq_fold(v, wanted))),
            Condition::Answer { question, test } => event.fields.answers.any(event.body, |item| {
                let asked = item.get(&event.fields.question).and_then(Value::as_str);
                let answer = item.get(&event.fields.answer).and_then(Value::as_str);
                match (asked, answer) {
                    (Some(asked), Some(answer)) => {
                        eq_ci(asked, question) && test.eval_folded(answer)
                    }
                    _ => false,
                }
            }),
            Condition::Has(path) => path.exists(event.body),
            Condition::Field { path, op } => path.any(event.body, |v| op.eval(v)),
            Condition::Source(names) => names.iter().any(|n| n == event.source),
            Condition::Header { name, test } => event
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| test.eval(v)),
            Condition::All(all) => all.iter().all(|c| c.eval(event)),
            Condition::Any(any) => any.iter().any(|c| c.eval(event)),
            Condition::Not(inner) => !inner.eval(event),
            Condition::Jq(program) => match program.first(event.body) {
                Ok(Some(out)) => jq::truthy(&out),
                Ok(None) => false,
                Err(error) => {
                    tracing::debug!(%error, "jq condition failed; treated as not matching");
                    false
                }
            },
        }
    }
}

/// Case-insensitive equality with an already lower-cased `lower`; allocates
/// only for non-ASCII text.
fn eq_ci(text: &str, lower: &str) -> bool {
    if text.is_ascii() {
        text.eq_ignore_ascii_case(lower)
    } else {
        text.to_lowercase() == lower
    }
}

fn eq_fold(value: &Value, wanted: &[String]) -> bool {
    match value {
        Value::String(s) => wanted.iter().any(|w| eq_ci(s, w)),
        Value::Number(n) => wanted.iter().any(|w| n.to_string() == *w),
        _ => false,
    }
}

impl Op {
    fn eval(&self, value: &Value) -> bool {
        match self {
            Op::Equals(want) => value == want,
            Op::In(list) => list.contains(value),
            Op::Contains(want) => match (value, want) {
                (Value::String(s), Value::String(w)) => s.contains(w.as_str()),
                (v, w) => v == w,
            },
            Op::Matches(re) => match value {
                Value::String(s) => re.is_match(s),
                Value::Number(n) => re.is_match(&n.to_string()),
                Value::Bool(b) => re.is_match(if *b { "true" } else { "false" }),
                _ => false,
            },
            Op::Gt(bound) => compare(value, bound).is_some_and(|o| o.is_gt()),
            Op::Lt(bound) => compare(value, bound).is_some_and(|o| o.is_lt()),
        }
    }
}

/// Numbers compare as numbers and strings as strings (ISO timestamps sort
/// correctly that way); anything else does not compare.
fn compare(value: &Value, bound: &Value) -> Option<std::cmp::Ordering> {
    match (value, bound) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
        _ => None,
    }
}

impl Text {
    fn eval(&self, value: &str) -> bool {
        match self {
            Text::Equals(want) => value == want,
            Text::In(list) => list.iter().any(|w| w == value),
            Text::Matches(re) => re.is_match(value),
        }
    }

    /// Like `eval`, with `Equals` and `In` compiled lower-case.
    fn eval_folded(&self, value: &str) -> bool {
        match self {
            Text::Matches(re) => re.is_match(value),
            _ => self.eval(&value.to_lowercase()),
        }
    }
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    /// The route's name.
    pub name: String,
    /// `None` matches every webhook.
    pub when: Option<Condition>,
    /// Targets with the transform each receives from this route.
    pub to: Vec<(String, Arc<Transform>)>,
}

/// The routes, in order.
#[derive(Debug, Default)]
pub struct Routes(pub Vec<Route>);

/// One delivery decided for a webhook.
#[derive(Debug, Clone, Copy)]
pub struct Choice<'r> {
    /// The target's name.
    pub target: &'r str,
    /// The first matching route that named it.
    pub route: &'r str,
    /// The body it gets.
    pub transform: &'r Transform,
}

/// What the rules decided for one webhook.
#[derive(Debug, Default)]
pub struct Decision<'r> {
    /// Every matching route, in order.
    pub matched: Vec<&'r str>,
    /// One choice per target, from the first matching route that names it.
    pub choices: Vec<Choice<'r>>,
}

impl Routes {
    /// Evaluates every route in order. Each target is chosen at most once, by
    /// the first matching route that names it.
    pub fn select(&self, event: &Event<'_>) -> Decision<'_> {
        let mut decision = Decision::default();
        for route in &self.0 {
            if !route.when.as_ref().is_none_or(|c| c.eval(event)) {
                continue;
            }
            decision.matched.push(&route.name);
            for (target, transform) in &route.to {
                if !decision.choices.iter().any(|c| c.target == target) {
                    decision.choices.push(Choice {
                        target,
                        route: &route.name,
                        transform,
                    });
                }
            }
        }
        decision
    }
}
