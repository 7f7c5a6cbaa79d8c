//! `explain` and `serve` agree (issue 13): for every payload, the targets
//! `switchboard explain` names and the bodies it shows are exactly what fake
//! targets receive from a running relay on the same config, byte for byte;
//! a payload `serve` refuses is refused by `explain` too.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};

/// Payloads beyond the fixtures: odd formatting (the archive must get these
/// very bytes, the transformed bodies compact JSON), a jq failure, numbers
/// serde_json would print differently, and wide `[*]` omits.
const EXTRA: &[&str] = &[
    "{ \"call\" : {\"id\": \"x1\", \"from\": \"+49 30 1\", \"direction\": \"IN\",\n  \"users\": [{\"fullName\": \"A\", \"id\": 1}, {\"fullName\": \"B\"}]},\n \"assist\": {\"summary\": {\"content\": \"Hallo \\u00fc\", \"topics\": [\"complaint\"]}, \"transcription\": [1, 2]}, \"n\": 1.50 }\n",
    r#"{"call": {"id": "x2", "direction": "OUT", "users": []}, "assist": {"summary": {"content": "out"}}}"#,
    r#"{"call": {"id": "x3", "duration": 1e2, "big": 18446744073709551615, "users": [{"fullName": "C", "tags": ["a"]}, "s", null]}}"#,
];

/// `switchboard explain --json` on `payload`: `Ok(explanation)` or
/// `Err(stderr)` when it refuses the payload.
fn explain(config: &Path, payload: &[u8]) -> Result<Value, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.json");
    std::fs::write(&file, payload).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["explain", "--json", "--config"])
        .arg(config)
        .arg(&file)
        .output()
        .unwrap();
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[tokio::test]
async fn explain_shows_the_decision_and_the_bytes_each_target_receives() {
    let names = ["crm", "tickets", "chat", "archive", "outbound"];
    let mut fakes = BTreeMap::new();
    for name in names {
        fakes.insert(name, FakeTarget::start().await);
    }
    let yaml = format!(
        r#"
sources:
  sipgate: {{allow: [127.0.0.1]}}
targets:
  crm:
    url: {crm}
    transform: {{omit: [assist.transcription, "call.users[*].fullName", "call.users[*].tags[0]"]}}
  tickets:
    url: {tickets}
    transform: {{select: [call.id, call.from, "assist.callScenarios[*].name", assist.summary.topics, n]}}
  chat:
    url: {chat}
    transform:
      jq: '{{text: "Call from \(.call.from): \(.assist.summary.content // "no summary")"}}'
  archive:
    url: {archive}
  outbound:
    url: {outbound}
    transform:
      jq: 'if .call.direction == "OUT" then error("outbound calls are not sent") else {{id: .call.id}} end'
routes:
  - name: summaries
    when: {{has: assist.summary}}
    to: [crm, chat]
  - name: complaints
    when: {{topic: [complaint, Appointment]}}
    to: [tickets]
  - name: everything
    to: [archive, outbound]
"#,
        crm = fakes["crm"].url("/crm"),
        tickets = fakes["tickets"].url("/tickets"),
        chat = fakes["chat"].url("/chat"),
        archive = fakes["archive"].url("/archive"),
        outbound = fakes["outbound"].url("/outbound"),
    );
    let relay = TestRelay::start(&yaml).await;

    let mut payloads: Vec<(String, Vec<u8>)> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json"))
            .map(|name| (name.clone(), fixture(&name)))
            .collect();
    payloads.sort();
    assert!(payloads.len() >= 10, "the fixtures are missing");
    for (i, extra) in EXTRA.iter().enumerate() {
        payloads.push((format!("extra[{i}]"), extra.as_bytes().to_vec()));
    }

    // What explain says each target gets: target -> [(webhook id, body)].
    let mut expected: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut failures = 0;
    for (name, raw) in &payloads {
        let shown = explain(&relay.config, raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let deliveries = shown["deliveries"].as_array().unwrap();
        let sent: Vec<&Value> = deliveries
            .iter()
            .filter(|d| d.get("body").is_some())
            .collect();
        failures += deliveries.len() - sent.len();

        let answer = relay.accept("sipgate", raw.clone()).await;
        assert_eq!(
            answer["deliveries"].as_u64().unwrap() as usize,
            sent.len(),
            "{name}: explain and serve chose different targets: {shown:#}"
        );
        let id = answer["id"].as_str().unwrap().to_owned();
        for d in sent {
            let target = names
                .into_iter()
                .find(|n| d["target"] == *n)
                .unwrap_or_else(|| panic!("{name}: unknown target in {d}"));
            let body = d["body"].as_str().unwrap().as_bytes().to_vec();
            expected.entry(target).or_default().push((id.clone(), body));
        }
    }
    assert!(failures > 0, "no payload exercised a render failure");

    for (target, mut want) in expected {
        let fake = &fakes[target];
        let mut got: Vec<(String, Vec<u8>)> = fake
            .wait_for(want.len(), WAIT)
            .await
            .iter()
            .map(|r| (r.header("webhook-id").unwrap().to_owned(), r.body.to_vec()))
            .collect();
        got.sort();
        want.sort();
        for ((got_id, got_body), (want_id, want_body)) in got.iter().zip(&want) {
            assert_eq!(got_id, want_id, "{target}");
            assert_eq!(
                String::from_utf8_lossy(got_body),
                String::from_utf8_lossy(want_body),
                "{target}: explain showed a body other than the one sent (webhook {got_id})"
            );
        }
        assert_eq!(got.len(), want.len(), "{target}");
    }
}

#[tokio::test]
async fn explain_refuses_what_serve_refuses() {
    let target = FakeTarget::start().await;
    let yaml = format!(
        "sources:\n  s: {{allow: [127.0.0.1]}}\ntargets:\n  t: {{url: \"{}\"}}\nroutes:\n  - to: [t]\n",
        target.url("/t")
    );
    let relay = TestRelay::start(&yaml).await;
    for bad in [
        r#"{"call": {"id": "a", "id": "b"}}"#,
        r#"{"a": 1, "a": 1}"#,
        r#"{"a": 1} {"b": 2}"#,
        r#"{"a": 1e999}"#,
    ] {
        let response = relay.post("s", bad).await;
        assert_eq!(response.status(), 400, "serve: {bad}");
        let error = explain(&relay.config, bad.as_bytes()).expect_err(bad);
        assert!(error.contains("would answer 400"), "{bad}: {error}");
    }
    // Probes: routed nowhere by both.
    for probe in ["", " {} ", "null"] {
        let response = relay.post("s", probe).await;
        assert_eq!(response.status(), 200, "serve: {probe:?}");
        let shown = explain(&relay.config, probe.as_bytes()).unwrap();
        assert_eq!(shown["deliveries"], serde_json::json!([]), "{probe:?}");
    }
}
