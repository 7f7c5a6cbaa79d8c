#![allow(clippy::unwrap_used)]
//! Rule selection: `Routes::select` over a realistic 20-route `routes.yaml`
//! (topic, playbook, answer, has, field equals/in/matches/gt/lt/contains,
//! any/all/not, source, one jq condition) on two sipgate fixtures: a typical
//! ~6 KB call (`full.json`) and a ~210 KB call with a long transcription
//! (`large-transcription.json`). This is the per-webhook decision the relay
//! makes at accept time, after the JSON parse (see `transforms` for the parse).
//!
//!   cargo bench --bench rules -- --warm-up-time 1 --measurement-time 3

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::HeaderMap;
use serde_json::Value;
use switchboard::config::Config;
use switchboard::config::interpolate::Env;
use switchboard::rules::Event;
use switchboard::runtime::Runtime;

const FIXTURES: &[&str] = &["full.json", "large-transcription.json"];

/// 20 routes as an operator with a CRM, a ticket system, a chat channel and a
/// few team inboxes might write them; several match each fixture.
const ROUTES_YAML: &str = r#"
sources:
  sipgate: {}
targets:
  crm: { url: "http://127.0.0.1:9/crm", transform: { omit: [assist.transcription] } }
  tickets:
    url: "http://127.0.0.1:9/tickets"
    transform: { select: [call.id, call.from, call.startTime, assist.summary, assist.callScenarios] }
  chat:
    url: "http://127.0.0.1:9/chat"
    transform:
      jq: '{text: "Call from \(.call.from): \(.assist.summary.content // .assist.callHeadline.content // "no summary")"}'
  calendar: { url: "http://127.0.0.1:9/calendar" }
  callbacks: { url: "http://127.0.0.1:9/callbacks" }
  sales: { url: "http://127.0.0.1:9/sales" }
  logistics: { url: "http://127.0.0.1:9/logistics" }
  reception: { url: "http://127.0.0.1:9/reception" }
  qa: { url: "http://127.0.0.1:9/qa" }
  fraud: { url: "http://127.0.0.1:9/fraud" }
  review: { url: "http://127.0.0.1:9/review" }
  analytics: { url: "http://127.0.0.1:9/analytics" }
  archive: { url: "http://127.0.0.1:9/archive" }
routes:
  - name: complaints
    when:
      any:
        - topic: [complaint, Billing complaint, Invoice, Reklamation]
        - answer: { question: Category, matches: "(?i)complaint" }
    to: [tickets, chat]
  - name: service-requests
    when: { playbook: [Service request, Reschedule appointment] }
    to: [tickets]
    transform: { select: [call.id, call.from, assist.callScenarios] }
  - name: urgent
    when: { answer: { question: Urgency, in: [high, urgent] } }
    to: [chat]
  - name: urgent-de
    when: { answer: { question: Dringlichkeit, equals: hoch } }
    to: [chat]
  - name: summaries
    when: { has: assist.summary }
    to: [crm]
  - name: long-inbound-calls
    when:
      field: call.duration
      gt: 600000
      source: sipgate
      not: { field: call.direction, equals: OUT }
    to: [crm]
  - name: offers
    when: { playbook: Angebotsanfrage }
    to: [sales]
  - name: appointments
    when: { topic: [appointment, Termin] }
    to: [calendar]
  - name: callbacks
    when:
      all:
        - topic: [callback, Rückruf]
        - has: call.from
    to: [callbacks]
  - name: anonymous
    when: { field: call.from, equals: anonymous }
    to: [fraud]
  - name: german-callers
    when: { field: call.from, matches: "^49" }
    to: [analytics]
  - name: reception-channel
    when: { field: call.channel.name, in: [Reception, Empfang, Zentrale] }
    to: [reception]
  - name: agents-anna-lea
    when: { field: "call.users[*].fullName", matches: "^(Anna|Lea) " }
    to: [reception]
  - name: short-calls
    when: { field: call.duration, lt: 5000 }
    to: [qa]
  - name: since-2026
    when: { field: call.startTime, gt: "2026-01-01" }
    to: [analytics]
  - name: delivery-problems
    when:
      field: "assist.callScenarios[*].smartAnswers[*].setItems[*].answer"
      matches: "(?i)palette|lieferung|liefertermin"
    to: [logistics]
  - name: delivery-topic
    when: { field: assist.summary.topics, contains: Lieferung }
    to: [logistics]
  - name: no-summary
    when: { not: { has: assist.summary } }
    to: [review]
  - name: several-playbooks
    when: { jq: '(.assist.callScenarios // []) | length > 1' }
    to: [sales]
  - name: archive
    to: [archive]
"#;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn runtime(yaml: &str) -> Runtime {
    let config = Config::parse(yaml).unwrap_or_else(|e| panic!("{e}"));
    Runtime::compile(config, &Env::default(), None).unwrap_or_else(|e| panic!("{e}"))
}

fn select(c: &mut Criterion) {
    let full = runtime(ROUTES_YAML);
    assert_eq!(
        full.routes.0.len(),
        20,
        "the bench config should have 20 routes"
    );
    // The same without its one jq condition: a jq condition hands the whole
    // document to jaq, so it may cost in proportion to the payload's size.
    let jq_route = "  - name: several-playbooks\n    when: { jq: '(.assist.callScenarios // []) | length > 1' }\n    to: [sales]\n";
    assert!(ROUTES_YAML.contains(jq_route));
    let no_jq = runtime(&ROUTES_YAML.replace(jq_route, ""));
    assert_eq!(no_jq.routes.0.len(), 19);
    let catch_all = runtime(
        "sources:\n  sipgate: {}\ntargets:\n  archive: {url: \"http://127.0.0.1:9/a\"}\nroutes:\n  - to: [archive]\n",
    );
    let headers = HeaderMap::new();

    let mut group = c.benchmark_group("select");
    for name in FIXTURES {
        let raw = fixture(name);
        let doc: Value = serde_json::from_slice(&raw).unwrap();
        group.throughput(Throughput::Bytes(raw.len() as u64));
        for (label, rt) in [
            ("20-routes", &full),
            ("19-routes-no-jq", &no_jq),
            ("1-catch-all", &catch_all),
        ] {
            let source = &rt.sources["sipgate"];
            let event = Event {
                source: &source.name,
                fields: &source.fields,
                headers: &headers,
                body: &doc,
            };
            // Sanity: the 20-route config matches several routes on both fixtures.
            let decision = rt.routes.select(&event);
            if label == "20-routes" {
                assert!(
                    decision.matched.len() >= 5,
                    "{name}: only {:?}",
                    decision.matched
                );
                eprintln!(
                    "select/{label}/{name}: {} routes match, {} deliveries: {:?}",
                    decision.matched.len(),
                    decision.choices.len(),
                    decision.matched
                );
            }
            group.bench_function(format!("{label}/{name}"), |b| {
                b.iter(|| black_box(rt.routes.select(black_box(&event))).choices.len())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);
