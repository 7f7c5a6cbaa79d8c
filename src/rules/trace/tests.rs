//! Tests of `rules/trace.rs`.

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
    let items =
        json!([{"question": "Urgency", "answer": "Low"}, {"question": "Name", "answer": "Ada"}]);
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
