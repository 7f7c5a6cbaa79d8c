//! Why a condition holds or not: the evidence behind [`Condition::eval`],
//! for `switchboard explain`.
//!
//! A second evaluator on purpose. `eval` runs for every webhook, so it
//! short-circuits and never allocates; this one visits every part, keeps the
//! concrete place of each value it looks at (`assist.summary.topics[0]`) and
//! says what it found. It reuses `eval`'s comparisons (`eq_fold`, `Op::eval`,
//! `Text::eval`), and the tests below hold both to the same answer for every
//! condition kind on every fixture. Nothing here is on the request path.

use serde::Serialize;
use serde_json::Value;

use super::{Condition, Event, Op, Text, eq_ci, eq_fold};
use crate::transform::jq;
use crate::transform::path::{Path, Step};

/// How many found values a "did not match" line lists before `…`.
const SHOWN: usize = 5;
/// How many characters of one value a line shows before `…`.
const WIDTH: usize = 60;

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
            Condition::Has(path) => match found(path, body).first() {
                Some((at, value)) => Trace::leaf(
                    true,
                    format!("has {path}: present, {} at {at}", short(value)),
                ),
                None => Trace::leaf(false, format!("has {path}: absent")),
            },
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
            Condition::Header { name, test } => {
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
            Condition::All(all) => {
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
            Condition::Any(any) => {
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
            Condition::Not(inner) => {
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
            Condition::Jq(program) => match program.first(body) {
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
            },
        }
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

fn describe_op(op: &Op) -> String {
    match op {
        Op::Equals(v) => format!("equals {}", short(v)),
        Op::In(list) => format!("in [{}]", join(list.iter().map(short))),
        Op::Contains(v) => format!("contains {}", short(v)),
        Op::Matches(re) => format!("matches /{}/", re.as_str()),
        Op::Gt(v) => format!("gt {}", short(v)),
        Op::Lt(v) => format!("lt {}", short(v)),
    }
}

fn describe_text(test: &Text) -> String {
    match test {
        Text::Equals(v) => format!("equals {}", quote(v)),
        Text::In(list) => format!("in [{}]", join(list.iter().map(|v| quote(v)))),
        Text::Matches(re) => format!("matches /{}/", re.as_str()),
    }
}

/// `[0]`, `[0, 2]`: the positions of the parts that did (`holding`) or did
/// not hold; `None` when there are none.
fn indexes(parts: &[Trace], holding: bool) -> Option<String> {
    let positions: Vec<String> = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.matched == holding)
        .map(|(i, _)| i.to_string())
        .collect();
    (!positions.is_empty()).then(|| format!("[{}]", positions.join(", ")))
}

/// A configured list as written: `[complaint, billing complaint]`.
fn list(values: &[String]) -> String {
    format!("[{}]", values.join(", "))
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// At most [`SHOWN`] items, then how many more.
fn shown(items: impl ExactSizeIterator<Item = String>) -> String {
    let total = items.len();
    let mut out = join(items.take(SHOWN));
    if total > SHOWN {
        out.push_str(&format!(" and {} more", total - SHOWN));
    }
    out
}

/// A value on one line: strings quoted, objects and arrays elided.
fn short(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Object(map) if !map.is_empty() => "{…}".to_owned(),
        Value::Array(items) if !items.is_empty() => "[…]".to_owned(),
        other => other.to_string(),
    }
}

/// A string in JSON quotes, cut at [`WIDTH`] characters.
fn quote(text: &str) -> String {
    let cut: String = text.chars().take(WIDTH).collect();
    let ellipsis = if cut.len() < text.len() { "…" } else { "" };
    format!("{}{ellipsis}", Value::String(cut))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Config;
    use crate::config::interpolate::Env;
    use crate::runtime::Runtime;
    use http::HeaderMap;

    /// Every condition kind, each in a holding and a failing flavour on most
    /// fixtures, plus the combinators over both.
    const CONDITIONS: &[&str] = &[
        "{topic: [appointment, invoice]}",
        "{topic: nothing-like-this}",
        "{playbook: [reschedule appointment, service request]}",
        "{playbook: b1c2d3e4-0001-4a5b-8c7d-000000000001}",
        "{answer: {question: category, equals: billing complaint}}",
        "{answer: {question: Urgency, in: [high, medium]}}",
        "{answer: {question: Preis, matches: \"€$\"}}",
        "{has: assist.summary}",
        "{has: assist.callScenarios}",
        "{has: \"call.users[0]\"}",
        "{field: call.from, equals: anonymous}",
        "{field: call.duration, in: [4120, 11266]}",
        "{field: assist.summary.topics, contains: Callback}",
        "{field: assist.summary.content, contains: appointment}",
        "{field: \"call.users[*].fullName\", matches: \"^(Anna|Lea) \"}",
        "{field: call.duration, gt: 60000}",
        "{field: call.duration, lt: 30000}",
        "{field: call.startTime, gt: \"2026-04-21\"}",
        "{field: \"assist.callScenarios[*].smartAnswers[*].setItems[*].answer\", equals: Jonas Becker}",
        "{field: \"[*]\", equals: 1}",
        "{source: [sipgate, third]}",
        "{source: other}",
        "{header: {name: X-Agent, equals: reception}}",
        "{header: {name: x-agent, matches: \"^sales-\"}}",
        "{all: [{has: assist.summary}, {has: assist.callScenarios}]}",
        "{any: [{topic: torte}, {field: call.from, equals: anonymous}]}",
        "{not: {has: assist.summary}}",
        "{not: {any: [{source: other}, {all: [{topic: callback}, {not: {field: call.direction, equals: OUT}}]}]}}",
        "{jq: '(.assist.callScenarios // []) | length > 2'}",
        "{jq: '.call.from'}",
        "{jq: 'empty'}",
        // An error (string + number) on most payloads; `null + 1` on one.
        "{jq: '.call.from + 1'}",
        "{topic: callback, source: sipgate, has: call}",
    ];

    fn runtime() -> Runtime {
        let mut yaml = String::from(
            "sources:\n  sipgate: {}\ntargets:\n  t: {url: http://127.0.0.1:9/}\nroutes:\n",
        );
        for when in CONDITIONS {
            yaml.push_str(&format!("  - when: {when}\n    to: [t]\n"));
        }
        let config = Config::parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        Runtime::compile(config, &Env::default(), None).unwrap_or_else(|e| panic!("{e}"))
    }

    fn fixtures() -> Vec<(String, Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let body = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                (path.display().to_string(), body)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(out.len() >= 10, "fixtures missing from {}", dir.display());
        out
    }

    /// `explain` agrees with `eval` on this condition and on every part of it.
    fn agree(condition: &Condition, trace: &Trace, event: &Event<'_>, place: &str) {
        assert_eq!(
            trace.matched,
            condition.eval(event),
            "{place}: {}",
            trace.detail
        );
        let parts: Vec<&Condition> = match condition {
            Condition::All(parts) | Condition::Any(parts) => parts.iter().collect(),
            Condition::Not(inner) => vec![inner],
            _ => Vec::new(),
        };
        assert_eq!(parts.len(), trace.parts.len(), "{place}");
        for (i, (c, t)) in parts.iter().zip(&trace.parts).enumerate() {
            agree(c, t, event, &format!("{place}.{i}"));
        }
    }

    #[test]
    fn explain_agrees_with_eval_for_every_kind_on_every_fixture() {
        let runtime = runtime();
        let source = &runtime.sources["sipgate"];
        let mut outcomes = vec![(false, false); CONDITIONS.len()];
        for (fixture, body) in fixtures() {
            let senders = [None, Some("reception"), Some("sales-1")]
                .into_iter()
                .flat_map(|agent| ["sipgate", "other"].map(|sender| (sender, agent)));
            for (sender, agent) in senders {
                let mut headers = HeaderMap::new();
                if let Some(agent) = agent {
                    headers.insert("x-agent", agent.parse().unwrap());
                }
                let event = Event {
                    source: sender,
                    fields: &source.fields,
                    headers: &headers,
                    body: &body,
                };
                for (i, route) in runtime.routes.0.iter().enumerate() {
                    let condition = route.when.as_ref().unwrap();
                    let trace = condition.explain(&event);
                    agree(
                        condition,
                        &trace,
                        &event,
                        &format!("{fixture} from {sender} {agent:?}: {}", CONDITIONS[i]),
                    );
                    if trace.matched {
                        outcomes[i].0 = true;
                    } else {
                        outcomes[i].1 = true;
                    }
                }
            }
        }
        // Each condition was seen both holding and failing, except the ones
        // that cannot hold on sipgate payloads.
        for (i, &(held, failed)) in outcomes.iter().enumerate() {
            let never = [
                "{topic: nothing-like-this}",
                "{field: \"[*]\", equals: 1}",
                "{jq: 'empty'}",
            ];
            if never.contains(&CONDITIONS[i]) {
                assert!(!held && failed, "{}", CONDITIONS[i]);
            } else {
                assert!(
                    held && failed,
                    "{}: held {held}, failed {failed}",
                    CONDITIONS[i]
                );
            }
        }
    }

    fn explain(when: &str, body: Value) -> Trace {
        let yaml = format!(
            "sources: {{s: {{}}}}\ntargets: {{t: {{url: http://127.0.0.1:9/}}}}\nroutes: [{{when: {when}, to: [t]}}]"
        );
        let runtime = Runtime::compile(Config::parse(&yaml).unwrap(), &Env::default(), None)
            .unwrap_or_else(|e| panic!("{e}"));
        let source = &runtime.sources["s"];
        let headers = HeaderMap::new();
        let event = source.event(&headers, &body);
        runtime.routes.0[0].when.as_ref().unwrap().explain(&event)
    }

    #[test]
    fn details_name_the_value_and_its_place() {
        use serde_json::json;
        let body = json!({"assist": {"summary": {"topics": ["Appointment", "Invoice"]}}, "call": {"duration": 5}});
        for (when, matched, detail) in [
            (
                "{topic: [complaint, invoice]}",
                true,
                r#"topic [complaint, invoice]: matched "Invoice" at assist.summary.topics[1]"#,
            ),
            (
                "{topic: refund}",
                false,
                r#"topic [refund]: found "Appointment", "Invoice" at assist.summary.topics[*]"#,
            ),
            (
                "{has: assist.callScenarios}",
                false,
                "has assist.callScenarios: absent",
            ),
            (
                "{has: assist.summary}",
                true,
                "has assist.summary: present, {…} at assist.summary",
            ),
            (
                "{field: call.duration, gt: 600000}",
                false,
                "field call.duration gt 600000: found 5 at call.duration",
            ),
            (
                "{answer: {question: Urgency, equals: high}}",
                false,
                r#"answer "urgency" equals "high": no answers at assist.callScenarios[*].smartAnswers[*].setItems[*]"#,
            ),
            ("{source: s}", true, r#"source [s]: came in on "s""#),
        ] {
            let trace = explain(when, body.clone());
            assert_eq!(
                (trace.matched, trace.detail.as_str()),
                (matched, detail),
                "{when}"
            );
        }
        let items = json!([{"question": "Urgency", "answer": "Low"}, {"question": "Name", "answer": "Ada"}]);
        let body = json!({"assist": {"callScenarios": [{"smartAnswers": [{"setItems": items}]}]}});
        for (when, matched, detail) in [
            (
                "{answer: {question: urgency, in: [high, low]}}",
                true,
                r#"answer "urgency" in ["high", "low"]: matched "Low" at assist.callScenarios[0].smartAnswers[0].setItems[0]"#,
            ),
            (
                "{answer: {question: Urgency, equals: high}}",
                false,
                r#"answer "urgency" equals "high": answered "Low""#,
            ),
            (
                "{answer: {question: Category, matches: x}}",
                false,
                r#"answer "category" matches /x/: no such question among "Urgency", "Name""#,
            ),
        ] {
            let trace = explain(when, body.clone());
            assert_eq!(
                (trace.matched, trace.detail.as_str()),
                (matched, detail),
                "{when}"
            );
        }
    }

    #[test]
    fn combinators_say_which_parts_decided() {
        let body = serde_json::json!({"a": 1});
        let trace = explain("{any: [{has: b}, {has: a}, {has: c}]}", body.clone());
        assert_eq!(trace.detail, "any of 3: [1] holds");
        let trace = explain("{any: [{has: b}, {has: c}]}", body.clone());
        assert_eq!(trace.detail, "any of 2: none holds");
        let trace = explain("{has: a, field: a, equals: 2}", body.clone());
        assert!(!trace.matched);
        assert_eq!(trace.detail, "all of 2: [1] does not hold");
        assert_eq!(trace.parts.len(), 2);
        let trace = explain("{all: [{has: a}, {not: {has: b}}]}", body);
        assert!(trace.matched);
        assert_eq!(trace.detail, "all of 2: every one holds");
        assert_eq!(
            trace.parts[1].detail,
            "not: the condition below does not hold"
        );
        assert_eq!(trace.parts[1].parts[0].detail, "has b: absent");
    }
}
