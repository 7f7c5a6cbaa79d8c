//! Properties over generated input: rule evaluation and rendering never
//! panic on any JSON, `select` keeps only what the document has, `omit`
//! leaves nothing it was told to drop, Standard Webhooks signatures verify
//! for any body and break on any changed byte, and dotted paths parse
//! without panicking and print back as written.
//!
//! The fuzz targets in `fuzz/` push on the same surfaces for longer; these
//! run in the normal `cargo test`, each in a few seconds in a debug build.

use crate::common;

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Number, Value};
use switchboard::config::Config;
use switchboard::config::interpolate::Env;
use switchboard::dispatch::sign::Signer;
use switchboard::ingress::verify::Verdict;
use switchboard::rules::Event;
use switchboard::runtime::Runtime;
use switchboard::transform::path::{Path, Step};
use switchboard::transform::{Selection, Transform};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Shrinking a failure is worth more than its time; a passing run
        // never shrinks.
        max_shrink_iters: 2048,
        // A failure is reported with its minimal input; no regressions file
        // is written into tests/.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Generated JSON
// ---------------------------------------------------------------------------

/// Keys the conditions and transforms below look at, so that generated
/// documents reach them, plus a few that are hard for paths.
const KEYS: &[&str] = &[
    "call",
    "assist",
    "summary",
    "topics",
    "callScenarios",
    "name",
    "id",
    "smartAnswers",
    "setItems",
    "question",
    "answer",
    "users",
    "fullName",
    "firstName",
    "duration",
    "from",
    "startTime",
    "transcription",
    "a",
    "b",
    "x",
    "q",
    "pb",
    "answers",
    "größe",
    "ключ",
    " ",
    "",
    "a.b",
    "[*]",
    "0",
];

/// Strings the conditions compare with, in several cases and scripts.
const WORDS: &[&str] = &[
    "appointment",
    "APPOINTMENT",
    "invoice",
    "Torte",
    "größenANGABE ½ blech?",
    "GRÖSSENangabe ½ BLECH?",
    "reschedule appointment",
    "billing complaint",
    "category",
    "Urgency",
    "high",
    "Preis",
    "12 €",
    "anonymous",
    "Anna Schneider",
    "sales-1",
    "2026-04-21T10:00:00Z",
    "pick-up",
    "İstanbul",
    "ǅ",
    "\u{0}",
    "\u{10FFFF}",
    "a\u{301}",
    "[[[[[[[[1]]]]]]]]",
    "{\"a\":1}",
    "1e400",
    "-0",
    "",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(KEYS).prop_map(str::to_owned),
        1 => any::<String>(),
        1 => "[a-z.\\[\\]*0-9 ]{0,6}",
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(WORDS).prop_map(str::to_owned),
        2 => any::<String>(),
        1 => "\\PC{0,16}",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        select(vec![
            0.0,
            -0.0,
            0.1,
            4120.0,
            1e16,
            9_007_199_254_740_993.0,
            1e308,
            -1e308,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ])
        .prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(i64::MIN)),
        (0i64..100_000).prop_map(Value::from),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        string().prop_map(Value::String),
    ]
}

/// Any JSON document: nested objects and arrays of every leaf kind.
fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// The fixtures small enough to render many times in a debug build.
const FIXTURES: &[&str] = &[
    "full.json",
    "german-unicode.json",
    "legacy-labs-format.json",
    "minimal.json",
    "multiple-playbooks.json",
    "no-call-scenarios.json",
    "no-summary.json",
    "nulls-and-unknown-fields.json",
    "transcription-only.json",
];

static FIXTURE_DOCS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    FIXTURES
        .iter()
        .map(|name| common::fixture_json(name))
        .collect()
});

/// Replaces the `n`-th value (depth first, root = 0) of `doc` with `new`.
fn replace_nth(doc: &mut Value, n: &mut usize, new: &mut Option<Value>) {
    if new.is_none() {
        return;
    }
    if *n == 0 {
        *doc = new.take().unwrap_or(Value::Null);
        return;
    }
    *n -= 1;
    match doc {
        Value::Array(items) => items.iter_mut().for_each(|v| replace_nth(v, n, new)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_nth(v, n, new)),
        _ => {}
    }
}

fn count_nodes(doc: &Value) -> usize {
    1 + match doc {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// A sipgate fixture with one value, anywhere, replaced by generated JSON:
/// realistic documents that reach deep into the configured paths.
fn mutated_fixture() -> impl Strategy<Value = Value> {
    (0..FIXTURES.len(), any::<Index>(), json()).prop_map(|(i, at, new)| {
        let mut doc = FIXTURE_DOCS[i].clone();
        let mut n = at.index(count_nodes(&doc));
        replace_nth(&mut doc, &mut n, &mut Some(new));
        doc
    })
}

fn document() -> impl Strategy<Value = Value> {
    prop_oneof![json(), mutated_fixture()]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    let name = select(&["x-agent", "X-Agent", "content-type", "webhook-id"][..]);
    let value = prop_oneof![
        select(&["reception", "sales-1", "Sales-2", "", " reception "][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..24),
    ];
    prop::collection::vec((name, value), 0..4).prop_map(|pairs| {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                h.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
            }
        }
        h
    })
}

// ---------------------------------------------------------------------------
// 1. Rules and transforms never panic
// ---------------------------------------------------------------------------

/// One route per condition kind and operator, every transform kind, and a
/// second source with its own `fields` layout.
const RULES: &str = r#"
sources:
  s: {}
  t:
    fields:
      topics: "topics[*]"
      playbooks: ["[*].name", "pb"]
      answers: "answers[*]"
      question: q
      answer: a
targets:
  raw: {url: "http://127.0.0.1:9/raw"}
  sel:
    url: "http://127.0.0.1:9/sel"
    transform:
      select: [call.id, "call.users[*].fullName", "assist.summary.topics[*]", "a[0].b", "a[*].x", "a[1]", "[*]", "[0].x", x, größe]
  omit:
    url: "http://127.0.0.1:9/omit"
    transform:
      omit: [assist.transcription, "call.users[*].fullName", "a[1]", "a[*].x", "a[0]", "[*].x", "[0]", x]
  jq_shape:
    url: "http://127.0.0.1:9/jq"
    transform: {jq: '{id: .call.id?, n: ((.assist.callScenarios? // []) | length?), t: [.assist.summary.topics[]?]}'}
  jq_numbers:
    url: "http://127.0.0.1:9/jq"
    transform: {jq: '[.. | numbers | (. + 1), (. * 2), floor, sqrt, (tostring | tonumber)] | add?'}
  jq_strings:
    url: "http://127.0.0.1:9/jq"
    transform: {jq: '[.. | strings | ascii_downcase, explode, (explode | implode), length, utf8bytelength, .[1:3], .[-2:], indices("ß"), test("^[a-z]+$"), (split(" ") | join("-")), @base64, (@base64d? // null), (fromjson? // null), (tonumber? // null)]'}
  jq_paths:
    url: "http://127.0.0.1:9/jq"
    transform: {jq: '[paths] | length as $n | {n: $n, keys: (if type == "object" then keys else [] end), sorted: ([..] | sort | length), types: ([.. | type] | unique)}'}
  jq_dates:
    url: "http://127.0.0.1:9/jq"
    transform: {jq: '[.. | (numbers | todate?), (strings | fromdate?)]'}
  jq_implode:
    url: "http://127.0.0.1:9/jq"
    # Not on every number: jaq-std 3.0.4's `implode` negates the code point
    # and overflows (a panic in debug builds) on -9223372036854775808.
    transform: {jq: '[.. | numbers | select(. > -1000000 and . < 2000000)] | implode'}
  jq_tojson:
    url: "http://127.0.0.1:9/jq"
    transform: {jq: 'tojson | fromjson'}
routes:
  - {name: topic, when: {topic: [appointment, "größenANGABE ½ blech?"]}, to: [raw, sel, omit, jq_shape]}
  - {name: playbook, when: {playbook: reschedule APPOINTMENT}, to: [sel, raw]}
  - {name: answer_equals, when: {answer: {question: category, equals: billing complaint}}, to: [omit]}
  - {name: answer_in, when: {answer: {question: Urgency, in: [high, MEDIUM]}}, to: [jq_numbers]}
  - {name: answer_matches, when: {answer: {question: Preis, matches: "€$"}}, to: [jq_strings]}
  - {name: has, when: {has: assist.summary}, to: [jq_paths]}
  - {name: has_root_array, when: {has: "[*]"}, to: [jq_dates]}
  - {name: field_equals, when: {field: call.from, equals: {a: [1, null]}}, to: [raw]}
  - {name: field_in, when: {field: call.duration, in: [4120, "x", null, 1.5e300]}, to: [sel]}
  - {name: field_contains_text, when: {field: "assist.summary.topics", contains: pick-up}, to: [omit]}
  - {name: field_contains_value, when: {field: "a", contains: 1}, to: [jq_shape]}
  - {name: field_matches, when: {field: "call.users[*].fullName", matches: "^(Anna|Lea) \\p{Lu}"}, to: [jq_numbers]}
  - {name: field_matches_any, when: {field: "[*]", matches: "."}, to: [jq_implode]}
  - {name: field_gt, when: {field: call.duration, gt: 1000000}, to: [jq_strings]}
  - {name: field_gt_huge, when: {field: "a[*]", gt: -1.7976931348623157e308}, to: [jq_tojson]}
  - {name: field_lt_text, when: {field: call.startTime, lt: "2026-04-21"}, to: [jq_paths]}
  - {name: field_lt_big, when: {field: x, lt: 18446744073709551615}, to: [jq_dates]}
  - {name: source, when: {source: [t, other]}, to: [raw, jq_tojson]}
  - {name: header_equals, when: {header: {name: X-Agent, equals: reception}}, to: [jq_implode]}
  - {name: header_matches, when: {header: {name: x-agent, matches: "^sales-"}}, to: [sel]}
  - {name: all, when: {all: [{has: call}, {not: {has: assist.summary}}]}, to: [omit]}
  - {name: any, when: {any: [{topic: torte}, {field: call.from, equals: anonymous}]}, to: [jq_shape]}
  - {name: not, when: {not: {any: [{source: s}, {has: x}]}}, to: [jq_numbers]}
  - {name: jq_length, when: {jq: '(.assist.callScenarios? // []) | length > 2'}, to: [jq_strings]}
  - {name: jq_deep, when: {jq: 'any(.. ; type == "number" and . > 100)'}, to: [jq_paths]}
  - {name: combined, when: {topic: callback, source: s, has: call.id}, to: [jq_dates]}
  - {name: always, to: [raw, sel, omit, jq_shape, jq_numbers, jq_strings, jq_paths, jq_dates, jq_implode, jq_tojson]}
"#;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    let config = Config::parse(RULES).unwrap_or_else(|e| panic!("{e}"));
    Runtime::compile(config, &Env::default(), None).unwrap_or_else(|e| panic!("{e}"))
});

/// Selects, renders every transform of every route (matched or not) and
/// checks that `explain` agrees with `eval` on every route.
fn route_everything(runtime: &Runtime, source: &str, headers: &HeaderMap, doc: &Value) {
    let source = &runtime.sources[source];
    let event = Event {
        source: &source.name,
        fields: &source.fields,
        headers,
        body: doc,
    };
    let raw = Bytes::from(serde_json::to_vec(doc).unwrap());
    let decision = runtime.routes.select(&event);
    // Every transform once: the choices' and those of routes that did not
    // match (targets share one compiled transform across routes).
    let mut rendered: Vec<&Transform> = Vec::new();
    let all = decision.choices.iter().map(|c| c.transform).chain(
        runtime
            .routes
            .0
            .iter()
            .flat_map(|r| r.to.iter().map(|(_, t)| &**t)),
    );
    for transform in all {
        if !rendered.iter().any(|t| std::ptr::eq(*t, transform)) {
            rendered.push(transform);
            let _ = transform.render(&raw, doc);
        }
    }
    for route in &runtime.routes.0 {
        if let Some(when) = &route.when {
            let trace = when.explain(&event);
            assert_eq!(
                trace.matched,
                when.eval(&event),
                "route {}: explain and eval disagree: {trace:?}",
                route.name
            );
        }
    }
}

#[test]
fn the_rules_config_compiles() {
    assert_eq!(RUNTIME.routes.0.len(), 27);
    let doc = common::fixture_json("full.json");
    route_everything(&RUNTIME, "s", &HeaderMap::new(), &doc);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rules_never_panic_on_any_json(
        doc in document(),
        headers in headers(),
        source in select(&["s", "t"][..]),
    ) {
        route_everything(&RUNTIME, source, &headers, &doc);
    }
}

// ---------------------------------------------------------------------------
// 2. select keeps a sub-document; omit drops what it names
// ---------------------------------------------------------------------------

/// Whether `out` is `input` with parts left out: every member of an object
/// in `out` is in the matching object of `input` with a sub-document value;
/// the elements of an array in `out` are, in order, sub-documents of a
/// subsequence of the elements of `input`; other values are equal.
fn is_subdocument(out: &Value, input: &Value) -> bool {
    match (out, input) {
        (Value::Object(o), Value::Object(i)) => o
            .iter()
            .all(|(k, v)| i.get(k).is_some_and(|w| is_subdocument(v, w))),
        (Value::Array(o), Value::Array(i)) => {
            // Greedy earliest match is enough for a subsequence: matching
            // each element as early as possible leaves the most room after.
            let mut rest = i.iter();
            o.iter()
                .all(|v| rest.by_ref().any(|w| is_subdocument(v, w)))
        }
        (o, i) => o == i,
    }
}

/// One concrete step of a location in a document.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every location in `doc` whose keys a path can spell, up to `cap` of them.
fn locations(doc: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>, cap: usize) {
    if out.len() >= cap {
        return;
    }
    if !prefix.is_empty() {
        out.push(prefix.clone());
    }
    match doc {
        Value::Object(map) => {
            for (k, v) in map {
                if k.is_empty() || k.contains(['.', '[', ']']) {
                    continue;
                }
                prefix.push(Seg::Key(k.clone()));
                locations(v, prefix, out, cap);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(Seg::Index(i));
                locations(v, prefix, out, cap);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// The path text of a location; index `i` becomes `[*]` where bit `i` of
/// `wild` is set (and always when `only_wild`).
fn spell(location: &[Seg], wild: u32, only_wild: bool) -> String {
    let mut text = String::new();
    for (i, seg) in location.iter().enumerate() {
        match seg {
            Seg::Key(k) if i == 0 => text.push_str(k),
            Seg::Key(k) => {
                text.push('.');
                text.push_str(k);
            }
            Seg::Index(_) if only_wild || wild & (1 << (i % 32)) != 0 => text.push_str("[*]"),
            Seg::Index(n) => text.push_str(&format!("[{n}]")),
        }
    }
    text
}

/// A document and up to 6 paths spelled from its own locations; with
/// `only_wild`, every index is `[*]`.
fn doc_and_paths(only_wild: bool) -> impl Strategy<Value = (Value, Vec<Path>)> {
    document().prop_flat_map(move |doc| {
        let mut all = Vec::new();
        locations(&doc, &mut Vec::new(), &mut all, 400);
        let picks = if all.is_empty() {
            Just(Vec::new()).boxed()
        } else {
            prop::collection::vec((select(all), any::<u32>()), 0..6).boxed()
        };
        (Just(doc), picks).prop_map(move |(doc, picks)| {
            let paths = picks
                .iter()
                .filter_map(|(location, wild)| Path::parse(&spell(location, *wild, only_wild)).ok())
                .collect();
            (doc, paths)
        })
    })
}

/// Whether any place in `doc` (null included) is reached by `steps`.
fn reaches(doc: &Value, steps: &[Step]) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return true;
    };
    match (step, doc) {
        (Step::Key(k), Value::Object(map)) => map.get(k).is_some_and(|v| reaches(v, rest)),
        (Step::Index(i), Value::Array(items)) => items.get(*i).is_some_and(|v| reaches(v, rest)),
        (Step::Each, Value::Array(items)) => items.iter().any(|v| reaches(v, rest)),
        _ => false,
    }
}

/// The value at a key-only path.
fn get<'v>(doc: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    steps.iter().try_fold(doc, |v, step| match step {
        Step::Key(k) => v.get(k),
        _ => None,
    })
}

/// `omit` as documented: every path names places in the original document
/// (indexes are original positions), and all of them go at once.
fn omit_model(doc: &Value, paths: &[&[Step]]) -> Value {
    match doc {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter_map(|(k, v)| {
                    let below: Vec<&[Step]> = paths
                        .iter()
                        .filter_map(|p| match p.split_first() {
                            Some((Step::Key(key), rest)) if key == k => Some(rest),
                            _ => None,
                        })
                        .collect();
                    if below.iter().any(|rest| rest.is_empty()) {
                        None
                    } else {
                        Some((k.clone(), omit_model(v, &below)))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let below: Vec<&[Step]> = paths
                        .iter()
                        .filter_map(|p| match p.split_first() {
                            Some((Step::Each, rest)) => Some(rest),
                            Some((Step::Index(n), rest)) if *n == i => Some(rest),
                            _ => None,
                        })
                        .collect();
                    if below.iter().any(|rest| rest.is_empty()) {
                        None
                    } else {
                        Some(omit_model(v, &below))
                    }
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn render_omit(doc: &Value, paths: &[Path]) -> Value {
    let t = Transform::Omit(paths.to_vec());
    let raw = Bytes::from(serde_json::to_vec(doc).unwrap());
    serde_json::from_slice(&t.render(&raw, doc).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn select_output_is_a_subdocument_of_the_input((doc, paths) in doc_and_paths(false)) {
        let out = Selection::new(&paths).apply(&doc);
        // An empty selection is `{}` whatever the input is (documented).
        let empty = out == Value::Object(Map::new());
        prop_assert!(empty || is_subdocument(&out, &doc), "select {paths:?}\n in {doc}\nout {out}");
        // A path of keys only keeps exactly the value it names.
        for path in &paths {
            if path.steps().iter().all(|s| matches!(s, Step::Key(_))) {
                prop_assert_eq!(get(&out, path.steps()), get(&doc, path.steps()), "path {}", path);
            }
        }
    }

    #[test]
    fn omit_output_never_contains_an_omitted_path((doc, paths) in doc_and_paths(true)) {
        let out = render_omit(&doc, &paths);
        for path in &paths {
            prop_assert!(!reaches(&out, path.steps()), "omit {path} left it in {out}");
        }
        prop_assert!(is_subdocument(&out, &doc), "omit {paths:?}\n in {doc}\nout {out}");
        let steps: Vec<&[Step]> = paths.iter().map(Path::steps).collect();
        prop_assert_eq!(out, omit_model(&doc, &steps));
    }

    /// With indexes, `omit` acts on original positions (its doc comment).
    #[test]
    fn omit_with_indexes_acts_on_original_positions((doc, paths) in doc_and_paths(false)) {
        let out = render_omit(&doc, &paths);
        let steps: Vec<&[Step]> = paths.iter().map(Path::steps).collect();
        prop_assert_eq!(out, omit_model(&doc, &steps), "omit {:?} in {}", paths, doc);
    }
}

// ---------------------------------------------------------------------------
// 3. Standard Webhooks: signed bodies verify; a changed byte does not
// ---------------------------------------------------------------------------

fn secret() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 24..64)
        .prop_map(|key| format!("whsec_{}", STANDARD.encode(key)))
}

/// A runtime whose source `s` verifies with `secrets` (any of them).
fn verifying(secrets: &[String]) -> Runtime {
    let list: Vec<String> = secrets.iter().map(|s| format!("\"{s}\"")).collect();
    let yaml = format!(
        "sources:\n  s:\n    verify:\n      standard_webhooks: {{secrets: [{}]}}\n",
        list.join(", ")
    );
    Runtime::compile(Config::parse(&yaml).unwrap(), &Env::default(), None)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn signed(id: &str, timestamp: u64, signature: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("webhook-id", HeaderValue::from_str(id).unwrap());
    h.insert("webhook-timestamp", HeaderValue::from(timestamp));
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(signature).unwrap(),
    );
    h
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn signatures_verify_for_any_body_and_fail_on_any_changed_byte(
        body in prop::collection::vec(any::<u8>(), 0..4096),
        id in "[!-~]{1,64}",
        timestamp in 1_000_000u64..4_000_000_000,
        skew in -300i64..=300,
        signing in prop::collection::vec(secret(), 1..3),
        pick in any::<Index>(),
        other in secret(),
        at in any::<Index>(),
        flip in 1u8..=255,
    ) {
        // The receiver knows one of the signer's secrets (rotation), and
        // maybe one the signer does not use.
        let known = vec![other, signing[pick.index(signing.len())].clone()];
        let runtime = verifying(&known);
        let source = &runtime.sources["s"];
        let signature = Signer::from_secrets(&signing).unwrap().sign(&id, timestamp, &body);
        let headers = signed(&id, timestamp, &signature);
        let now = timestamp.saturating_add_signed(skew);

        if !body.is_empty() {
            let mut changed = body.clone();
            changed[at.index(body.len())] ^= flip;
            let verdict = source.verify(&headers, &changed, now);
            prop_assert!(matches!(verdict, Verdict::Reject(_)), "changed body: {verdict:?}");
        }
        let mut longer = body.clone();
        longer.push(b' ');
        prop_assert!(matches!(source.verify(&headers, &longer, now), Verdict::Reject(_)));
        let restamped = signed(&id, timestamp + 1, &signature);
        prop_assert!(matches!(source.verify(&restamped, &body, now), Verdict::Reject(_)));

        let verdict = source.verify(&headers, &body, now);
        prop_assert!(matches!(verdict, Verdict::Accept(_)), "signed body: {verdict:?}");
        // Held while in progress: the same message again is a replay.
        prop_assert!(matches!(source.verify(&headers, &body, now), Verdict::Replay));
    }
}

// ---------------------------------------------------------------------------
// 4. Dotted paths
// ---------------------------------------------------------------------------

fn path_key() -> impl Strategy<Value = String> {
    prop_oneof![
        select(KEYS)
            .prop_filter("spellable", |k| !k.is_empty()
                && !k.contains(['.', '[', ']']))
            .prop_map(str::to_owned),
        "[^.\\[\\]]{1,8}",
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        path_key().prop_map(Step::Key),
        any::<usize>().prop_map(Step::Index),
        (0usize..3).prop_map(Step::Index),
        Just(Step::Each),
    ];
    prop::collection::vec(step, 1..8)
}

/// The canonical text of steps: keys after the first joined by `.`.
fn spell_steps(steps: &[Step]) -> String {
    let mut text = String::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Key(k) if i == 0 => text.push_str(k),
            Step::Key(k) => {
                text.push('.');
                text.push_str(k);
            }
            Step::Index(n) => text.push_str(&format!("[{n}]")),
            Step::Each => text.push_str("[*]"),
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..config() })]

    #[test]
    fn path_parse_never_panics(text in prop_oneof![
        any::<String>(),
        "[a-z0-9.\\[\\]* +-]{0,24}",
        "\\PC{0,24}",
    ]) {
        if let Ok(path) = Path::parse(&text) {
            prop_assert_eq!(path.to_string(), text.clone());
            prop_assert_eq!(Path::parse(&path.to_string()), Ok(path));
        }
    }

    #[test]
    fn valid_paths_round_trip(steps in steps()) {
        let text = spell_steps(&steps);
        // A whitespace-only first key is rejected as an empty path.
        prop_assume!(!text.trim().is_empty());
        let path = Path::parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        prop_assert_eq!(path.steps(), &steps[..]);
        prop_assert_eq!(path.to_string(), text.clone());
        let again = Path::parse(&path.to_string()).unwrap();
        prop_assert_eq!(again.steps(), path.steps());
    }
}
