//! Every condition kind on the sipgate fixtures: which routes match which
//! payload, decided by the same `select` that `serve` runs.

use crate::common;

use std::collections::BTreeSet;

use crate::common::fixture_json;
use http::HeaderMap;
use switchboard::config::Config;
use switchboard::config::interpolate::Env;
use switchboard::rules::Event;
use switchboard::runtime::Runtime;

const ROUTES: &[(&str, &str)] = &[
    ("topic", "topic: appointment"),
    ("topic_list", "topic: [INVOICE, torte]"),
    ("topic_unicode", "topic: \"größenANGABE ½ blech?\""),
    ("playbook_name", "playbook: reschedule APPOINTMENT"),
    (
        "playbook_id",
        "playbook: b1c2d3e4-0001-4a5b-8c7d-000000000001",
    ),
    (
        "answer_equals",
        "answer: {question: category, equals: billing complaint}",
    ),
    (
        "answer_in",
        "answer: {question: Urgency, in: [high, medium]}",
    ),
    (
        "answer_matches",
        "answer: {question: Preis, matches: \"€$\"}",
    ),
    ("has_summary", "has: assist.summary"),
    ("has_playbooks", "has: assist.callScenarios"),
    ("field_equals", "{field: call.from, equals: anonymous}"),
    ("field_in", "{field: call.duration, in: [4120, 11266]}"),
    (
        "field_contains",
        "{field: assist.summary.topics, contains: pick-up}",
    ),
    (
        "field_matches",
        "{field: \"call.users[*].fullName\", matches: \"^(Anna|Lea) \"}",
    ),
    ("field_gt", "{field: call.duration, gt: 1000000}"),
    ("field_lt", "{field: call.duration, lt: 5000}"),
    (
        "field_string_gt",
        "{field: call.startTime, gt: \"2026-04-21\"}",
    ),
    (
        "nested_wildcards",
        "{field: \"assist.callScenarios[*].smartAnswers[*].setItems[*].answer\", equals: Jonas Becker}",
    ),
    (
        "index",
        "{field: \"call.users[0].firstName\", equals: Anna}",
    ),
    ("source", "source: [other, sipgate]"),
    (
        "header_equals",
        "header: {name: X-Agent, equals: reception}",
    ),
    (
        "header_matches",
        "header: {name: x-agent, matches: \"^sales-\"}",
    ),
    (
        "all",
        "all: [{has: assist.summary}, {has: assist.callScenarios}]",
    ),
    (
        "any",
        "any: [{topic: torte}, {field: call.from, equals: anonymous}]",
    ),
    ("not", "not: {has: assist.summary}"),
    ("jq", "jq: '(.assist.callScenarios // []) | length > 2'"),
    ("combined", "{topic: callback, source: sipgate}"),
];

fn runtime() -> Runtime {
    let mut yaml = String::from("sources:\n  sipgate: {}\ntargets:\n");
    for (name, _) in ROUTES {
        yaml.push_str(&format!("  {name}: {{url: http://127.0.0.1:9/{name}}}\n"));
    }
    yaml.push_str("routes:\n");
    for (name, when) in ROUTES {
        let when = if when.starts_with('{') {
            when.to_string()
        } else {
            format!("{{{when}}}")
        };
        yaml.push_str(&format!(
            "  - name: {name}\n    when: {when}\n    to: [{name}]\n"
        ));
    }
    let config = Config::parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    Runtime::compile(config, &Env::default(), None).unwrap_or_else(|e| panic!("{e}"))
}

fn matched(runtime: &Runtime, fixture: &str, agent: Option<&str>) -> BTreeSet<String> {
    let body = fixture_json(fixture);
    let mut headers = HeaderMap::new();
    if let Some(agent) = agent {
        headers.insert("x-agent", agent.parse().unwrap());
    }
    let source = &runtime.sources["sipgate"];
    let event = Event {
        source: &source.name,
        fields: &source.fields,
        headers: &headers,
        body: &body,
    };
    runtime
        .routes
        .select(&event)
        .matched
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn each_condition_kind_matches_the_right_fixtures() {
    let runtime = runtime();
    let table: &[(&str, Option<&str>, &[&str])] = &[
        (
            "full.json",
            Some("reception"),
            &[
                "topic",
                "playbook_name",
                "playbook_id",
                "has_summary",
                "has_playbooks",
                "field_matches",
                "nested_wildcards",
                "index",
                "source",
                "header_equals",
                "all",
                "combined",
            ],
        ),
        (
            "multiple-playbooks.json",
            Some("sales-1"),
            &[
                "topic_list",
                "answer_equals",
                "answer_in",
                "has_summary",
                "has_playbooks",
                "field_matches",
                "source",
                "header_matches",
                "all",
                "jq",
            ],
        ),
        (
            "german-unicode.json",
            None,
            &[
                "topic_list",
                "topic_unicode",
                "answer_matches",
                "has_summary",
                "has_playbooks",
                "source",
                "all",
                "any",
            ],
        ),
        (
            "no-call-scenarios.json",
            None,
            &[
                "has_summary",
                "field_contains",
                "field_matches",
                "index",
                "source",
            ],
        ),
        ("no-summary.json", None, &["has_playbooks", "source", "not"]),
        (
            "nulls-and-unknown-fields.json",
            None,
            &["field_equals", "field_string_gt", "source", "any", "not"],
        ),
        (
            "transcription-only.json",
            None,
            &["field_in", "source", "not"],
        ),
        (
            "minimal.json",
            None,
            &["field_in", "field_lt", "source", "not"],
        ),
        (
            "large-transcription.json",
            None,
            &[
                "field_gt",
                "field_string_gt",
                "has_summary",
                "has_playbooks",
                "source",
                "all",
            ],
        ),
    ];
    for (fixture, agent, want) in table {
        assert_eq!(matched(&runtime, fixture, *agent), set(want), "{fixture}");
    }
}

#[test]
fn absent_null_and_empty_behave_alike() {
    // summary: absent in no-summary, null in nulls-and-unknown-fields;
    // callScenarios: null in no-call-scenarios, [] in nulls-and-unknown-fields.
    let runtime = runtime();
    for fixture in [
        "no-summary.json",
        "nulls-and-unknown-fields.json",
        "transcription-only.json",
        "minimal.json",
    ] {
        let got = matched(&runtime, fixture, None);
        assert!(
            !got.contains("has_summary") && got.contains("not"),
            "{fixture}: {got:?}"
        );
        assert!(
            !got.contains("topic") && !got.contains("field_contains"),
            "{fixture}: {got:?}"
        );
    }
    for fixture in ["no-call-scenarios.json", "nulls-and-unknown-fields.json"] {
        let got = matched(&runtime, fixture, None);
        assert!(
            !got.contains("has_playbooks") && !got.contains("playbook_name") && !got.contains("jq"),
            "{fixture}: {got:?}"
        );
    }
}

#[test]
fn a_target_gets_the_first_matching_routes_transform_only_once() {
    let yaml = r#"
sources: {s: {}}
targets:
  t: {url: "http://127.0.0.1:9/t", transform: {select: [call.id]}}
  u: {url: "http://127.0.0.1:9/u"}
routes:
  - name: first
    when: {topic: nothing-matches-this}
    to: [t]
    transform: none
  - name: second
    to: [t, u]
    transform: {select: [call.from]}
  - name: third
    to: [t, u]
"#;
    let runtime = Runtime::compile(Config::parse(yaml).unwrap(), &Env::default(), None).unwrap();
    let body = fixture_json("full.json");
    let source = &runtime.sources["s"];
    let headers = HeaderMap::new();
    let event = Event {
        source: "s",
        fields: &source.fields,
        headers: &headers,
        body: &body,
    };
    let decision = runtime.routes.select(&event);
    assert_eq!(decision.matched, ["second", "third"]);
    let choices: Vec<(&str, &str)> = decision
        .choices
        .iter()
        .map(|c| (c.target, c.route))
        .collect();
    assert_eq!(choices, [("t", "second"), ("u", "second")]);
    let raw = bytes::Bytes::from(common::fixture("full.json"));
    let body_t = decision.choices[0].transform.render(&raw, &body).unwrap();
    assert_eq!(body_t.as_ref(), br#"{"call":{"from":"4917612345678"}}"#);
}
