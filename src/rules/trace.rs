//! Why a condition holds or not: the evidence behind [`Condition::eval`],
//! for `switchboard explain`.
//!
//! A second evaluator on purpose. `eval` runs for every webhook, so it
//! short-circuits and never allocates; this one visits every part, keeps the
//! concrete place of each value it looks at (`assist.summary.topics[0]`) and
//! says what it found. It reuses `eval`'s comparisons (`eq_fold`, `Op::eval`,
//! `Text::eval`), and the tests below hold both to the same answer for every
//! condition kind on every fixture. Nothing here is on the request path.

use http::HeaderName;
use serde::Serialize;
use serde_json::Value;

use super::{Condition, Event, Text, eq_ci, eq_fold};
use crate::transform::jq;
use crate::transform::path::{Path, Step};

mod show;

use show::{describe_op, describe_text, indexes, list, quote, short, shown};

/// Why a condition did or did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// Whether it holds: always what [`Condition::eval`] says.
    pub matched: bool,
    /// What the condition asks and what was found, on one line:
    /// `topic [complaint, invoice]: matched "Invoice" at assist.summary.topics[0]`.
    pub detail: String,
    /// The traces of the parts of `all`, `any` and `not`, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Trace>,
}

impl Trace {
    fn leaf(matched: bool, detail: String) -> Trace {
        Trace {
            matched,
            detail,
            parts: Vec::new(),
        }
    }
}

impl Condition {
    /// Evaluates like [`Condition::eval`] and says why: every part is
    /// visited, none is skipped because an earlier one decided.
    pub fn explain(&self, event: &Event<'_>) -> Trace {
        let body = event.body;
        match self {
            Condition::Topic(wanted) => search(
                format!("topic {}", list(wanted)),
                &[&event.fields.topics],
                body,
                |v| eq_fold(v, wanted),
            ),
            Condition::Playbook(wanted) => search(
                format!("playbook {}", list(wanted)),
                &event.fields.playbooks.iter().collect::<Vec<_>>(),
                body,
                |v| eq_fold(v, wanted),
            ),
            Condition::Answer { question, test } => answer(question, test, event),
            Condition::Has(path) => has(path, body),
            Condition::Field { path, op } => search(
                format!("field {path} {}", describe_op(op)),
                &[path],
                body,
                |v| op.eval(v),
            ),
            Condition::Source(names) => Trace::leaf(
                names.iter().any(|n| n == event.source),
                format!("source {}: came in on {}", list(names), quote(event.source)),
            ),
            Condition::Header { name, test } => header(name, test, event),
            Condition::All(all) => every(all, event),
            Condition::Any(any) => some(any, event),
            Condition::Not(inner) => not(inner, event),
            Condition::Jq(program) => jq_trace(program, body),
        }
    }
}

/// `has`: the first value found, or absent.
fn has(path: &Path, body: &Value) -> Trace {
    match found(path, body).first() {
        Some((at, value)) => Trace::leaf(
            true,
            format!("has {path}: present, {} at {at}", short(value)),
        ),
        None => Trace::leaf(false, format!("has {path}: absent")),
    }
}

/// `header`: the first value that passes, or every value found.
fn header(name: &HeaderName, test: &Text, event: &Event<'_>) -> Trace {
    let what = format!("header {name} {}", describe_text(test));
    let values: Vec<&str> = event
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    match values.iter().find(|v| test.eval(v)) {
        Some(hit) => Trace::leaf(true, format!("{what}: matched {}", quote(hit))),
        None if values.is_empty() => Trace::leaf(false, format!("{what}: absent")),
        None => Trace::leaf(
            false,
            format!("{what}: found {}", shown(values.iter().map(|v| quote(v)))),
        ),
    }
}

/// `all`: every part, and the first that does not hold.
fn every(all: &[Condition], event: &Event<'_>) -> Trace {
    let parts: Vec<Trace> = all.iter().map(|c| c.explain(event)).collect();
    let detail = match indexes(&parts, false) {
        None => format!("all of {}: every one holds", parts.len()),
        Some(failing) => format!("all of {}: {failing} does not hold", parts.len()),
    };
    Trace {
        matched: parts.iter().all(|p| p.matched),
        detail,
        parts,
    }
}

/// `any`: every part, and the first that holds.
fn some(any: &[Condition], event: &Event<'_>) -> Trace {
    let parts: Vec<Trace> = any.iter().map(|c| c.explain(event)).collect();
    let detail = match indexes(&parts, true) {
        None => format!("any of {}: none holds", parts.len()),
        Some(holding) => format!("any of {}: {holding} holds", parts.len()),
    };
    Trace {
        matched: parts.iter().any(|p| p.matched),
        detail,
        parts,
    }
}

/// `not`: the part, inverted.
fn not(inner: &Condition, event: &Event<'_>) -> Trace {
    let inner = inner.explain(event);
    let detail = if inner.matched {
        "not: the condition below holds"
    } else {
        "not: the condition below does not hold"
    };
    Trace {
        matched: !inner.matched,
        detail: detail.to_owned(),
        parts: vec![inner],
    }
}

/// `jq`: the first output and whether it is truthy.
fn jq_trace(program: &jq::Program, body: &Value) -> Trace {
    match program.first(body) {
        Ok(Some(out)) => {
            let matched = jq::truthy(&out);
            let verdict = if matched { "truthy" } else { "not truthy" };
            Trace::leaf(
                matched,
                format!("jq: first output {} is {verdict}", short(&out)),
            )
        }
        Ok(None) => Trace::leaf(false, "jq: no output".to_owned()),
        Err(error) => Trace::leaf(
            false,
            format!("jq: failed ({error}), which counts as not matching"),
        ),
    }
}

/// The first value at `paths` that passes `pred`, or every value seen.
fn search(what: String, paths: &[&Path], body: &Value, pred: impl Fn(&Value) -> bool) -> Trace {
    let mut seen = Vec::new();
    for path in paths {
        let values = found(path, body);
        if let Some((at, value)) = values.iter().find(|(_, v)| pred(v)) {
            return Trace::leaf(true, format!("{what}: matched {} at {at}", short(value)));
        }
        seen.extend(values);
    }
    let places = paths
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let detail = if seen.is_empty() {
        format!("{what}: nothing at {places}")
    } else {
        let values = shown(seen.iter().map(|(_, v)| short(v)));
        format!("{what}: found {values} at {places}")
    };
    Trace::leaf(false, detail)
}

fn answer(question: &str, test: &Text, event: &Event<'_>) -> Trace {
    let fields = event.fields;
    let what = format!("answer {} {}", quote(question), describe_text(test));
    let items = found(&fields.answers, event.body);
    let mut asked = Vec::new();
    let mut answered = Vec::new();
    for (at, item) in &items {
        let q = item.get(&fields.question).and_then(Value::as_str);
        let a = item.get(&fields.answer).and_then(Value::as_str);
        match (q, a) {
            (Some(q), Some(a)) if eq_ci(q, question) => {
                if test.eval_folded(a) {
                    return Trace::leaf(true, format!("{what}: matched {} at {at}", quote(a)));
                }
                answered.push(quote(a));
            }
            (Some(q), _) => asked.push(quote(q)),
            _ => {}
        }
    }
    let detail = if !answered.is_empty() {
        format!("{what}: answered {}", shown(answered.into_iter()))
    } else if asked.is_empty() {
        format!("{what}: no answers at {}", fields.answers)
    } else {
        format!(
            "{what}: no such question among {}",
            shown(asked.into_iter())
        )
    };
    Trace::leaf(false, detail)
}

/// Every value `path` yields with the concrete place it was found: the walk
/// of `Path::any` (absent, `null` and `[]` yield nothing; an array at the
/// end yields its elements), keeping the way.
fn found<'v>(path: &Path, root: &'v Value) -> Vec<(String, &'v Value)> {
    let mut out = Vec::new();
    walk(root, path.steps(), String::new(), &mut out);
    out
}

fn walk<'v>(value: &'v Value, steps: &[Step], at: String, out: &mut Vec<(String, &'v Value)>) {
    let Some((step, rest)) = steps.split_first() else {
        match value {
            Value::Null => {}
            Value::Array(items) => out.extend(
                items
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(i, v)| (format!("{at}[{i}]"), v)),
            ),
            leaf => out.push((at, leaf)),
        }
        return;
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => {
            if let Some(v) = map.get(key) {
                let at = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                walk(v, rest, at, out);
            }
        }
        (Step::Index(i), Value::Array(items)) => {
            if let Some(v) = items.get(*i) {
                walk(v, rest, format!("{at}[{i}]"), out);
            }
        }
        (Step::Each, Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, rest, format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
