//! Bulk replay and cancel by the event filter, over the admin API of a
//! relay in-process: a dry run counts what a real run changes; only the
//! matching deliveries go out again, through their target's rate limit; a
//! job reports progress and can be stopped; an empty filter is refused;
//! a cancel stops retries; a read token cannot act; every action is in the
//! audit log under the token's name; an unrendered delivery is rendered
//! again under the rules in force.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};

pub(crate) const OPERATE: &str = "oncall-s3cret";
pub(crate) const READ: &str = "read-s3cret";

/// A relay config with the test tokens and one target `t` at `target`,
/// `extra` appended to its settings (`, retry: {attempts: 1}`).
pub(crate) fn one_target(target: &FakeTarget, extra: &str) -> String {
    format!(
        "server:\n{}sources: {{s: {{}}}}\ntargets:\n  t: {{url: \"{}\"{extra}}}\nroutes:\n  - to: [t]\n",
        tokens(),
        target.url("/t")
    )
}

pub(crate) fn tokens() -> &'static str {
    "  admin_tokens:\n    - {name: oncall, token: oncall-s3cret, role: operate}\n    - {name: dashboards, token: read-s3cret, role: read}\n"
}

/// `method path` on the admin API with a JSON body (POST) and a token.
pub(crate) async fn call(
    relay: &TestRelay,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> (u16, Value) {
    let mut request = relay
        .client
        .request(method, relay.admin(path))
        .header("authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn post(relay: &TestRelay, path: &str, body: Value) -> (u16, Value) {
    call(relay, reqwest::Method::POST, path, Some(body), OPERATE).await
}

pub(crate) async fn get(relay: &TestRelay, path: &str) -> Value {
    let (status, body) = call(relay, reqwest::Method::GET, path, None, READ).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// What a dry run of `action` with `filter` counts.
pub(crate) async fn count(relay: &TestRelay, action: &str, filter: Value) -> u64 {
    let (status, body) = post(
        relay,
        &format!("/api/deliveries/{action}"),
        json!({"filter": filter, "dry_run": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["count"].as_u64().unwrap()
}

/// Waits until a dry run counts `n` (outcomes are stored just after the
/// target has answered).
pub(crate) async fn wait_count(relay: &TestRelay, action: &str, filter: Value, n: u64) {
    tokio::time::timeout(WAIT, async {
        while count(relay, action, filter.clone()).await != n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{action} {filter} never counted {n}"));
}

/// Waits until job `id` is no longer running; its last report.
pub(crate) async fn wait_job(relay: &TestRelay, id: &str) -> Value {
    tokio::time::timeout(WAIT, async {
        loop {
            let job = get(relay, &format!("/api/jobs/{id}")).await;
            if job["state"] != "running" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("job {id} still running after {WAIT:?}"))
}

/// Starts `action` with `body`; the job id and count.
pub(crate) async fn start(relay: &TestRelay, action: &str, body: Value) -> (String, u64) {
    let (status, answer) = post(relay, &format!("/api/deliveries/{action}"), body).await;
    assert_eq!(status, 202, "{answer}");
    (
        answer["job"].as_str().unwrap().to_owned(),
        answer["count"].as_u64().unwrap(),
    )
}

fn two_targets(slow: &str, other: &str) -> String {
    format!(
        "server:\n{}sources: {{s: {{}}}}\ntargets:\n  slow: {{url: \"{slow}\", rate: 5/s, burst: 1, retry: {{attempts: 1}}}}\n  other: {{url: \"{other}\", retry: {{attempts: 1}}}}\nroutes:\n  - name: all\n    to: [slow, other]\n",
        tokens()
    )
}

#[tokio::test]
async fn a_replay_sends_only_what_the_filter_selects_through_the_rate_limit() {
    let (slow, other) = (FakeTarget::start().await, FakeTarget::start().await);
    slow.respond(400);
    other.respond(400);
    let relay = TestRelay::start(&two_targets(&slow.url("/s"), &other.url("/o"))).await;
    for _ in 0..3 {
        relay.accept("s", fixture("minimal.json")).await;
    }
    slow.wait_for(3, WAIT).await;
    let since = switchboard::time::now_ms();
    let mut late = HashSet::new();
    for _ in 0..3 {
        let id = relay.accept("s", fixture("minimal.json")).await["id"].clone();
        late.insert(id.as_str().unwrap().to_owned());
    }
    let filter = json!({"target": "slow", "state": "dead", "since": since});
    wait_count(&relay, "replay", filter.clone(), 3).await;
    // A lookup key, as accept stores them, selects its webhook.
    let keyed = late.iter().next().unwrap().clone();
    let spool = crate::history::open_spool(&relay.config.with_file_name("spool.db"));
    spool
        .execute(
            "INSERT INTO event_keys (name, value, received_at, event_id) VALUES ('call', 'pbx-1', ?1, ?2)",
            rusqlite::params![since, keyed],
        )
        .unwrap();
    let by_key = json!({"keys": {"call": "pbx-1"}, "target": "slow"});
    assert_eq!(count(&relay, "replay", by_key).await, 1);
    assert_eq!(
        count(&relay, "replay", json!({"keys": {"call": "pbx-2"}})).await,
        0
    );
    wait_count(&relay, "replay", json!({"target": "other"}), 6).await;

    // Refused: nothing said; a bad state; a read token.
    let (status, body) = post(&relay, "/api/deliveries/replay", json!({"filter": {}})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("\"all\": true"),
        "{body}"
    );
    let (status, body) = post(
        &relay,
        "/api/deliveries/replay",
        json!({"filter": {"state": "lost"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("states `lost`"),
        "{body}"
    );
    let (status, _) = call(
        &relay,
        reqwest::Method::POST,
        "/api/deliveries/replay",
        Some(json!({"filter": filter})),
        READ,
    )
    .await;
    assert_eq!(status, 403);

    slow.respond(200);
    other.respond(200);
    let (job, n) = start(&relay, "replay", json!({"filter": filter})).await;
    assert_eq!(n, 3, "a real run replays what the dry run counted");
    let got = slow.wait_for(9, WAIT).await;
    let replayed = &got[6..];
    let ids: HashSet<String> = replayed
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids, late, "only the webhooks received since the mark");
    // 5/s with a burst of 1: spread over at least two intervals.
    let spread = replayed[2].at - replayed[0].at;
    assert!(spread >= Duration::from_millis(300), "{spread:?}");
    other.assert_quiet(6, Duration::from_millis(300)).await;
    let report = wait_job(&relay, &job).await;
    assert_eq!(report["state"], "done", "{report}");
    assert_eq!(
        (report["total"].as_i64(), report["done"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(report["created_by"], "oncall");
    assert_eq!(count(&relay, "replay", filter).await, 0);

    let audit = get(&relay, "/api/audit").await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["who"], "oncall", "{audit}");
    assert_eq!(entry["action"], "replay");
    assert_eq!(entry["count"], 3);
    assert_eq!(entry["filter"]["target"], "slow");
    assert_eq!(entry["filter"]["since_ms"], since);
}

/// A relay with 40 dead letters, and the job replaying them one per batch
/// just started.
async fn a_slow_replay_of_forty() -> (TestRelay, FakeTarget, String) {
    let target = FakeTarget::start().await;
    target.respond(400);
    let relay = TestRelay::start(&one_target(&target, ", retry: {attempts: 1}")).await;
    for _ in 0..40 {
        relay.accept("s", fixture("minimal.json")).await;
    }
    wait_count(&relay, "replay", json!({"state": "dead"}), 40).await;
    let (job, total) = start(
        &relay,
        "replay",
        json!({"filter": {"state": "dead"}, "batch_size": 1}),
    )
    .await;
    assert_eq!(total, 40);
    (relay, target, job)
}

#[tokio::test]
async fn a_job_can_be_stopped_between_batches() {
    let (relay, _target, job) = a_slow_replay_of_forty().await;
    let (status, _) = post(&relay, "/api/deliveries/replay", json!({"all": true})).await;
    assert_eq!(status, 409, "one replay job at a time");
    let (status, stopping) = call(
        &relay,
        reqwest::Method::DELETE,
        &format!("/api/jobs/{job}"),
        None,
        OPERATE,
    )
    .await;
    assert_eq!(status, 202, "{stopping}");
    assert_eq!(stopping["stop_requested"], true);
    let report = wait_job(&relay, &job).await;
    assert_eq!(report["state"], "stopped", "{report}");
    let done = report["done"].as_i64().unwrap();
    assert!(done < 40, "{report}");
    let audit = get(&relay, "/api/audit?limit=1").await;
    assert_eq!(audit["entries"][0]["action"], "stop", "{audit}");
    assert!(audit["next_cursor"].is_string());
    let (status, _) = call(&relay, reqwest::Method::GET, "/api/jobs/nope", None, READ).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_cancel_stops_retries() {
    let target = FakeTarget::start().await;
    target.respond(500);
    let relay = TestRelay::start(&one_target(
        &target,
        ", retry: {schedule: [10ms, 600ms, 600ms, 600ms, 600ms]}, circuit: {failures: 1000}",
    ))
    .await;
    let id = relay.accept_id("s", fixture("minimal.json")).await;
    target.wait_for(2, WAIT).await;
    let (status, body) = post(
        &relay,
        "/api/deliveries/cancel",
        json!({"filter": {"target": "t"}, "include_delivered": true}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (job, n) = start(
        &relay,
        "cancel",
        json!({"filter": {"target": "t", "states": ["retrying"]}}),
    )
    .await;
    assert_eq!(n, 1);
    assert_eq!(wait_job(&relay, &job).await["state"], "done");
    let status = get(&relay, "/api/status").await;
    assert_eq!(
        status["pending"]["deliveries"], 0,
        "the count follows at once"
    );
    let seen = target.count();
    target.assert_quiet(seen, Duration::from_millis(1200)).await;
    let event = get(&relay, &format!("/api/events/{id}")).await;
    let delivery = &event["deliveries"][0];
    assert_eq!(delivery["state"], "cancelled", "{event}");
    assert_eq!(delivery["last_error"], "cancelled by oncall");
    assert_eq!(count(&relay, "cancel", json!({"target": "t"})).await, 0);
}

#[tokio::test]
async fn an_unrendered_delivery_is_rendered_again_under_the_rules_in_force() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&format!(
        "sources: {{s: {{}}}}\ntargets:\n  t: {{url: \"{}\", transform: {{jq: '{{call: .call.id}}'}}}}\nroutes:\n  - name: r\n    to: [t]\n",
        target.url("/t")
    ))
    .await;
    let spool = relay.config.with_file_name("spool.db");
    let conn = rusqlite::Connection::open(&spool).unwrap();
    let now = switchboard::time::now_ms();
    let body = r#"{"call": {"id": "pbx-9"}}"#;
    let mut rows = Vec::new();
    for (target, route) in [("t", "r"), ("t", "gone")] {
        let event = uuid::Uuid::now_v7().to_string();
        conn.execute(
            "INSERT INTO events (id, source, client_ip, received_at, routes, body, headers) VALUES (?1, 's', '127.0.0.1', ?2, '[\"r\"]', ?3, '{\"x-agent\": \"a\"}')",
            rusqlite::params![event, now, body.as_bytes()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO deliveries (event_id, target, route, size, state, due_at, created_at, updated_at, last_error) VALUES (?1, ?2, ?3, 0, 'unrendered', ?4, ?4, ?4, 'jq failed')",
            rusqlite::params![event, target, route, now],
        )
        .unwrap();
        rows.push(event);
    }
    let (job, n) = start(&relay, "replay", json!({"filter": {"state": "unrendered"}})).await;
    assert_eq!(n, 2);
    let report = wait_job(&relay, &job).await;
    assert_eq!(
        (report["state"].as_str(), report["done"].as_i64()),
        (Some("done"), Some(1))
    );
    let got = target.wait_for(1, WAIT).await;
    assert_eq!(got[0].json(), json!({"call": "pbx-9"}));
    assert_eq!(got[0].header("webhook-id"), Some(rows[0].as_str()));
    let left = get(&relay, &format!("/api/events/{}", rows[1])).await;
    let delivery = &left["deliveries"][0];
    assert_eq!(delivery["state"], "unrendered");
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap()
            .contains("no longer send this webhook to `t` by route `gone`"),
        "{left}"
    );
    let audit = get(&relay, "/api/audit").await;
    assert_eq!(audit["entries"][0]["who"], "anonymous", "{audit}");
}

#[tokio::test]
async fn a_cancel_empties_what_the_worker_holds_in_memory() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&one_target(&target, ", rate: 1/s, burst: 1")).await;
    for _ in 0..6 {
        relay.accept("s", fixture("minimal.json")).await;
    }
    // The first goes at once; the others wait in the worker's window for
    // the rate limit.
    target.wait_for(1, WAIT).await;
    let (job, n) = start(&relay, "cancel", json!({"filter": {"target": "t"}})).await;
    assert!(n >= 4, "{n}");
    assert_eq!(wait_job(&relay, &job).await["state"], "done");
    // At most the one popped for sending before the cancel may still go.
    target.assert_quiet(2, Duration::from_millis(2500)).await;
    // (The first may be cancelled too, when the cancel ran before its
    // outcome was stored: it was sent all the same.)
    let cancelled = count(&relay, "replay", json!({"state": "cancelled"})).await;
    assert!(cancelled >= 4 && cancelled == n, "{cancelled} of {n}");
}

#[tokio::test]
async fn a_replay_works_on_a_postgres_relay_unrendered_deliveries_included() {
    let test = "a_replay_works_on_a_postgres_relay_unrendered_deliveries_included";
    let Some(server) = crate::common::pg::shared(test) else {
        return;
    };
    let database = server.database().await;
    let target = FakeTarget::start().await;
    target.respond(400);
    let relay = TestRelay::start(&format!(
        "server:\n  spool: \"{database}\"\n{}sources: {{s: {{}}}}\ntargets:\n  t: {{url: \"{}\", retry: {{attempts: 1}}, transform: {{jq: '{{call: .call.id}}'}}}}\nroutes:\n  - name: r\n    to: [t]\n",
        tokens(),
        target.url("/t")
    ))
    .await;
    for _ in 0..3 {
        relay.accept("s", fixture("minimal.json")).await;
    }
    wait_count(&relay, "replay", json!({"state": "dead"}), 3).await;

    let (client, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let event = uuid::Uuid::now_v7();
    let now = switchboard::time::now_ms();
    client
        .execute(
            "INSERT INTO events (id, source, client_ip, received_at, routes, body) VALUES ($1, 's', '127.0.0.1', $2, '[\"r\"]', $3)",
            &[&event, &now, &br#"{"call": {"id": "pbx-9"}}"#.to_vec()],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO deliveries (event_id, target, route, size, state, due_at, created_at, updated_at, last_error) VALUES ($1, 't', 'r', 0, 'unrendered', $2, $2, $2, 'jq failed')",
            &[&event, &now],
        )
        .await
        .unwrap();

    target.respond(200);
    let filter = json!({"states": ["dead", "unrendered"]});
    assert_eq!(count(&relay, "replay", filter.clone()).await, 4);
    let (job, n) = start(&relay, "replay", json!({"filter": filter, "batch_size": 2})).await;
    assert_eq!(n, 4);
    let got = target.wait_for(7, WAIT).await;
    let report = wait_job(&relay, &job).await;
    assert_eq!(
        (report["state"].as_str(), report["done"].as_i64()),
        (Some("done"), Some(4))
    );
    assert!(
        got[3..]
            .iter()
            .any(|r| r.json() == json!({"call": "pbx-9"})),
        "the unrendered one, rendered under the rules in force"
    );
    let audit = get(&relay, "/api/audit").await;
    assert_eq!(audit["entries"][0]["who"], "oncall");
    assert_eq!(audit["entries"][0]["count"], 4);
}

#[tokio::test]
async fn a_webhook_a_transform_failed_on_goes_out_once_the_transform_is_fixed() {
    let target = FakeTarget::start().await;
    let yaml = |jq: &str| {
        format!(
            "sources:\n  s: {{keys: {{call: call.id}}}}\ntargets:\n  t: {{url: \"{}\", transform: {{jq: '{jq}'}}}}\nroutes:\n  - name: r\n    to: [t]\n",
            target.url("/t")
        )
    };
    let relay = TestRelay::start(&yaml(".call.from + 1")).await;
    let id = relay.accept_id("s", fixture("minimal.json")).await;
    let by_call = json!({"keys": {"call": "pbx-00000000-0000-4000-8000-000000000001"}, "state": "unrendered"});
    // Keys are indexed a moment after the commit, on a thread of their own.
    wait_count(&relay, "replay", by_call.clone(), 1).await;

    // Replayed under the same rules: still unrendered, with why.
    let (job, _) = start(&relay, "replay", json!({"filter": by_call})).await;
    assert_eq!(wait_job(&relay, &job).await["done"], 0);
    let event = get(&relay, &format!("/api/events/{id}")).await;
    assert_eq!(event["deliveries"][0]["state"], "unrendered", "{event}");

    relay
        .reload_with(&yaml("{from: .call.from}"))
        .await
        .unwrap();
    let (job, n) = start(&relay, "replay", json!({"filter": by_call})).await;
    assert_eq!(n, 1);
    let got = target.wait_for(1, WAIT).await;
    assert_eq!(got[0].json(), json!({"from": "4921155509999"}));
    assert_eq!(got[0].header("webhook-id"), Some(id.as_str()));
    assert_eq!(wait_job(&relay, &job).await["done"], 1);
}

#[tokio::test]
async fn a_job_a_shutdown_interrupts_is_recorded_as_stopped() {
    let (relay, _target, job) = a_slow_replay_of_forty().await;
    let relay = relay.restart().await;
    let report = wait_job(&relay, &job).await;
    assert_eq!(report["state"], "stopped", "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("shut down"),
        "{report}"
    );
    assert!(report["done"].as_i64().unwrap() < 40, "{report}");
}

#[tokio::test]
async fn pauses_and_resumes_are_in_the_audit_log_with_the_tokens_name() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&one_target(&target, "")).await;
    for action in ["pause", "resume"] {
        let (status, body) = post(&relay, &format!("/api/targets/t/{action}"), json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let audit = get(&relay, "/api/audit").await;
    let entries: Vec<(&str, &str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["who"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [("resume", "oncall", "t"), ("pause", "oncall", "t")]
    );
}
