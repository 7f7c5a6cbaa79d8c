//! Fan-out over real sockets: per-target headers and bodies, rate limits,
//! and targets that cannot slow each other down.

use std::time::Duration;

use crate::common::{FakeTarget, Reply, TestRelay, WAIT, fixture, fixture_json};

#[tokio::test]
async fn fans_out_to_three_targets_with_their_own_headers_and_bodies() {
    let (crm, tickets, chat) = (
        FakeTarget::start().await,
        FakeTarget::start().await,
        FakeTarget::start().await,
    );
    let yaml = format!(
        r#"
sources:
  sipgate: {{allow: [127.0.0.1]}}
targets:
  crm:
    url: {crm}
    headers: {{Authorization: "Bearer ${{CRM_TOKEN}}", X-Tenant: acme}}
  tickets:
    url: {tickets}
    headers: {{X-Api-Key: k-123}}
    transform: {{select: [call.id, call.from, "assist.callScenarios[*].name", assist.summary.topics]}}
  chat:
    url: {chat}
    method: PUT
    headers: {{Content-Type: application/vnd.chat+json}}
    transform:
      jq: '{{text: "Call from \(.call.from): \(.assist.summary.content // "no summary")"}}'
routes:
  - name: everything
    to: [crm, tickets, chat]
"#,
        crm = crm.url("/crm"),
        tickets = tickets.url("/tickets"),
        chat = chat.url("/chat"),
    );
    let relay = TestRelay::start_with_env(&yaml, &[("CRM_TOKEN", "c-secret")]).await;
    let raw = fixture("full.json");
    let answer = relay.accept("sipgate", raw.clone()).await;
    assert_eq!(answer["deliveries"], 3);
    let id = answer["id"].as_str().unwrap().to_owned();

    let got = crm.wait_for(1, WAIT).await;
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/crm");
    assert_eq!(got[0].header("authorization"), Some("Bearer c-secret"));
    assert_eq!(got[0].header("x-tenant"), Some("acme"));
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(got[0].header("webhook-id"), Some(id.as_str()));
    assert!(
        got[0]
            .header("user-agent")
            .unwrap()
            .starts_with("switchboard/")
    );
    assert_eq!(
        got[0].body.as_ref(),
        raw.as_slice(),
        "no transform forwards the original bytes"
    );

    let got = tickets.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("x-api-key"), Some("k-123"));
    assert_eq!(
        got[0].header("authorization"),
        None,
        "headers stay with their target"
    );
    assert_eq!(
        got[0].body_str(),
        r#"{"call":{"id":"pbx-3f9c2b7e-8d41-4a6e-9b0f-2c5d7e1a4b93","from":"4917612345678"},"assist":{"callScenarios":[{"name":"Reschedule appointment"}],"summary":{"topics":["Appointment","Rescheduling","Callback"]}}}"#
    );

    let got = chat.wait_for(1, WAIT).await;
    assert_eq!(got[0].method, "PUT");
    assert_eq!(
        got[0].header("content-type"),
        Some("application/vnd.chat+json")
    );
    let summary = fixture_json("full.json")["assist"]["summary"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        got[0].json(),
        serde_json::json!({"text": format!("Call from 4917612345678: {summary}")})
    );
}

#[tokio::test]
async fn routes_pick_targets_and_route_transforms_win() {
    let (tickets, crm, archive) = (
        FakeTarget::start().await,
        FakeTarget::start().await,
        FakeTarget::start().await,
    );
    let yaml = format!(
        r#"
sources:
  sipgate: {{allow: [127.0.0.1]}}
targets:
  tickets: {{url: "{tickets}", transform: {{select: [call.id]}}}}
  crm: {{url: "{crm}", transform: {{omit: [assist.transcription, call.users]}}}}
  archive: {{url: "{archive}"}}
routes:
  - name: complaints
    when: {{answer: {{question: Category, equals: billing complaint}}}}
    to: [tickets]
    transform: {{select: [call.from, "assist.callScenarios[*].smartAnswers[*].setItems[*].answer"]}}
  - name: summaries
    when: {{has: assist.summary}}
    to: [crm]
  - name: archive
    to: [archive]
"#,
        tickets = tickets.url("/t"),
        crm = crm.url("/c"),
        archive = archive.url("/a"),
    );
    let relay = TestRelay::start(&yaml).await;
    assert_eq!(
        relay
            .accept("sipgate", fixture("multiple-playbooks.json"))
            .await["deliveries"],
        3
    );
    assert_eq!(
        relay.accept("sipgate", fixture("no-summary.json")).await["deliveries"],
        1
    );

    let got = tickets.wait_for(1, WAIT).await;
    let body = got[0].json();
    assert_eq!(body["call"], serde_json::json!({"from": "4917198765432"}));
    let answers = &body["assist"]["callScenarios"][0]["smartAnswers"][0]["setItems"][0];
    assert_eq!(answers, &serde_json::json!({"answer": "RE-2026-0412"}));

    let got = crm.wait_for(1, WAIT).await;
    let mut want = fixture_json("multiple-playbooks.json");
    want["assist"]
        .as_object_mut()
        .unwrap()
        .shift_remove("transcription");
    want["call"].as_object_mut().unwrap().shift_remove("users");
    assert_eq!(
        got[0].body_str(),
        serde_json::to_string(&want).unwrap(),
        "omit keeps everything else, in order"
    );

    let got = archive.wait_for(2, WAIT).await;
    assert_eq!(got[1].body.as_ref(), fixture("no-summary.json").as_slice());
    crm.assert_quiet(1, Duration::from_millis(200)).await;
    tickets.assert_quiet(1, Duration::from_millis(1)).await;
}

#[tokio::test]
async fn rate_limit_is_observed_at_the_target() {
    let target = FakeTarget::start().await;
    let yaml = format!(
        "sources: {{s: {{}}}}\ntargets:\n  slow: {{url: \"{}\", rate: 5/s, burst: 1}}\nroutes:\n  - to: [slow]\n",
        target.url("/slow")
    );
    let relay = TestRelay::start(&yaml).await;
    for _ in 0..6 {
        relay.accept("s", fixture("minimal.json")).await;
    }
    let got = target.wait_for(6, WAIT).await;
    // 5/s with a burst of 1: one request every 200 ms, so the sixth comes at
    // least a second after the first (minus scheduling slack).
    let span = got[5].at - got[0].at;
    assert!(
        span >= Duration::from_millis(950),
        "6 requests at 5/s arrived within {span:?}"
    );
    for pair in got.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(150),
            "two requests {gap:?} apart at 5/s"
        );
    }
}

#[tokio::test]
async fn a_hanging_target_does_not_delay_another() {
    let (stuck, fast) = (FakeTarget::start().await, FakeTarget::start().await);
    stuck.script([Reply::Hang, Reply::Hang, Reply::Hang]);
    let yaml = format!(
        "sources: {{s: {{}}}}\ntargets:\n  stuck: {{url: \"{}\", timeout: 60s, concurrency: 1}}\n  fast: {{url: \"{}\"}}\nroutes:\n  - to: [stuck, fast]\n",
        stuck.url("/stuck"),
        fast.url("/fast")
    );
    let relay = TestRelay::start(&yaml).await;
    let started = tokio::time::Instant::now();
    for _ in 0..3 {
        relay.accept("s", fixture("full.json")).await;
    }
    // The stuck target holds its only slot for 60 s; the other target gets all
    // three at once, and the sender got its three 202s.
    let got = fast.wait_for(3, Duration::from_secs(5)).await;
    assert!(got[2].at - started < Duration::from_secs(5));
    assert_eq!(stuck.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn a_target_that_times_out_or_refuses_leaves_others_unharmed() {
    let (slow, ok) = (FakeTarget::start().await, FakeTarget::start().await);
    slow.script([Reply::Hang]);
    let refused = {
        // A port with nothing listening: bind, note the port, close.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let yaml = format!(
        "sources: {{s: {{}}}}\ntargets:\n  slow: {{url: \"{}\", timeout: 300ms}}\n  refused: {{url: \"http://{refused}/x\"}}\n  ok: {{url: \"{}\"}}\nroutes:\n  - to: [slow, refused, ok]\n",
        slow.url("/slow"),
        ok.url("/ok")
    );
    let relay = TestRelay::start(&yaml).await;
    relay.accept("s", fixture("full.json")).await;
    relay.accept("s", fixture("minimal.json")).await;
    assert_eq!(ok.wait_for(2, WAIT).await.len(), 2);
    assert_eq!(
        slow.wait_for(2, WAIT).await.len(),
        2,
        "after a timeout the next delivery still goes out"
    );
}
