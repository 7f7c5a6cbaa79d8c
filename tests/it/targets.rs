//! Target controls: a pause holds deliveries across a restart and a resume
//! sends them (SQLite and PostgreSQL), a probe skips the circuit's
//! cooldown, and `/api/targets` and its series count what happened.

use crate::common;

use std::time::Duration;

use serde_json::Value;

use crate::common::{FakeTarget, TestRelay, WAIT};

fn config(prefix: &str, url: &str, target_extra: &str, spool: Option<&str>) -> String {
    let server = spool.map_or_else(String::new, |s| {
        format!("server: {{spool: \"{s}\", lease: 2s}}\n")
    });
    format!(
        r#"{server}sources:
  {prefix}src: {{allow: [127.0.0.1]}}
targets:
  {prefix}crm: {{url: "{url}"{target_extra}}}
routes:
  - name: all
    to: [{prefix}crm]
"#
    )
}

/// `POST` on the admin API; the status and the JSON answer.
async fn act(relay: &TestRelay, path: &str) -> (u16, Value) {
    let response = relay
        .client
        .post(relay.admin(path))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn get(relay: &TestRelay, path: &str) -> (u16, Value) {
    let response = relay.client.get(relay.admin(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Target `name` in `GET /api/targets`.
async fn target(relay: &TestRelay, name: &str) -> Value {
    let (status, all) = get(relay, "/api/targets").await;
    assert_eq!(status, 200, "{all}");
    all["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no target {name} in {all}"))
        .clone()
}

/// Waits until target `name` satisfies `ok`; returns it.
async fn target_until(relay: &TestRelay, name: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            let t = target(relay, name).await;
            if ok(&t) {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    match waited {
        Ok(t) => t,
        Err(_) => panic!(
            "target {name} never got there: {}",
            target(relay, name).await
        ),
    }
}

async fn paused_metric(relay: &TestRelay, name: &str) -> Option<String> {
    relay
        .metric(&format!("switchboard_target_paused{{target=\"{name}\"}}"))
        .await
}

#[tokio::test]
async fn a_pause_holds_deliveries_across_a_restart_and_resume_sends_them() {
    let crm = FakeTarget::start().await;
    let relay = TestRelay::start(&config("pz_", &crm.url("/crm"), "", None)).await;
    assert_eq!(paused_metric(&relay, "pz_crm").await.as_deref(), Some("0"));
    let (status, answer) = act(&relay, "/api/targets/pz_crm/pause").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["paused"].clone(), answer["changed"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    for n in 0..3 {
        relay.accept("pz_src", format!("{{\"n\": {n}}}")).await;
    }
    crm.assert_quiet(0, Duration::from_millis(500)).await;
    let t = target(&relay, "pz_crm").await;
    assert_eq!(
        (t["state"].as_str(), t["pending"].as_u64()),
        (Some("paused"), Some(3)),
        "{t}"
    );
    let (_, status) = get(&relay, "/api/status").await;
    let shown = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "pz_crm")
        .unwrap()
        .clone();
    assert_eq!(shown["paused"], true, "{shown}");
    assert_eq!(paused_metric(&relay, "pz_crm").await.as_deref(), Some("1"));

    // The pause is kept in the spool: after a restart nothing goes out.
    let relay = relay.restart().await;
    crm.assert_quiet(0, Duration::from_secs(1)).await;
    assert_eq!(target(&relay, "pz_crm").await["state"], "paused");
    assert_eq!(paused_metric(&relay, "pz_crm").await.as_deref(), Some("1"));
    // A probe of a paused target is refused: resume it first.
    assert_eq!(act(&relay, "/api/targets/pz_crm/probe").await.0, 409);

    let (status, answer) = act(&relay, "/api/targets/pz_crm/resume").await;
    assert_eq!(
        (status, answer["paused"].clone()),
        (200, Value::Bool(false)),
        "{answer}"
    );
    crm.wait_for(3, WAIT).await;
    target_until(&relay, "pz_crm", |t| {
        t["state"] == "active" && t["pending"] == 0
    })
    .await;
    assert_eq!(paused_metric(&relay, "pz_crm").await.as_deref(), Some("0"));
}

#[tokio::test]
async fn actions_on_an_unknown_target_are_404() {
    let crm = FakeTarget::start().await;
    let relay = TestRelay::start(&config("nx_", &crm.url("/crm"), "", None)).await;
    for action in ["pause", "resume", "probe"] {
        let (status, answer) = act(&relay, &format!("/api/targets/nope/{action}")).await;
        assert_eq!(status, 404, "{action}: {answer}");
    }
    assert_eq!(get(&relay, "/api/targets/nope/series").await.0, 404);
}

#[tokio::test]
async fn a_probe_skips_the_circuit_cooldown_and_the_retry_wait() {
    let crm = FakeTarget::start().await;
    crm.script([500, 500]);
    let extra = ", concurrency: 1, retry: {first: 30m}, circuit: {failures: 2, cooldown: 10m}";
    let relay = TestRelay::start(&config("pr_", &crm.url("/crm"), extra, None)).await;
    relay.accept("pr_src", r#"{"n": 0}"#).await;
    relay.accept("pr_src", r#"{"n": 1}"#).await;
    crm.wait_for(2, WAIT).await;
    let t = target_until(&relay, "pr_crm", |t| {
        t["state"] == "circuit_open" && t["retrying"] == 2
    })
    .await;
    assert_eq!(t["pending"], 0, "{t}");
    crm.assert_quiet(2, Duration::from_millis(300)).await;

    // The target answers again; the probe goes now, not in ten minutes
    // (the circuit) nor in thirty (the retry).
    let (status, answer) = act(&relay, "/api/targets/pr_crm/probe").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["probe"], "sent", "{answer}");
    assert_eq!(answer["attempt"]["outcome"], "delivered", "{answer}");
    assert_eq!(answer["attempt"]["attempt"], 2, "{answer}");
    assert_eq!(answer["attempt"]["probe"], true, "{answer}");
    assert_eq!(crm.count(), 3);
    // The circuit closed; the other delivery still waits for its retry.
    target_until(&relay, "pr_crm", |t| {
        t["state"] == "active" && t["retrying"] == 1
    })
    .await;
    crm.assert_quiet(3, Duration::from_millis(300)).await;
    let (status, answer) = act(&relay, "/api/targets/pr_crm/probe").await;
    assert_eq!(
        (status, answer["probe"].as_str()),
        (200, Some("sent")),
        "{answer}"
    );
    target_until(&relay, "pr_crm", |t| t["retrying"] == 0).await;

    // Nothing left to send: a probe says so.
    let (status, answer) = act(&relay, "/api/targets/pr_crm/probe").await;
    assert_eq!(
        (status, answer["probe"].as_str()),
        (200, Some("nothing_due")),
        "{answer}"
    );
}

#[tokio::test]
async fn targets_count_what_happened_and_series_per_minute() {
    let (ok, bad) = (FakeTarget::start().await, FakeTarget::start().await);
    bad.respond(500);
    let yaml = format!(
        r#"sources:
  tc_src: {{allow: [127.0.0.1]}}
targets:
  tc_ok: {{url: "{}"}}
  tc_bad: {{url: "{}", retry: {{first: 1h}}}}
routes:
  - name: all
    to: [tc_ok]
  - name: bad
    when: {{has: bad}}
    to: [tc_bad]
"#,
        ok.url("/ok"),
        bad.url("/bad")
    );
    let relay = TestRelay::start(&yaml).await;
    relay.accept("tc_src", r#"{"n": 1}"#).await;
    relay.accept("tc_src", r#"{"n": 2}"#).await;
    relay.accept("tc_src", r#"{"n": 3, "bad": true}"#).await;
    ok.wait_for(3, WAIT).await;
    bad.wait_for(1, WAIT).await;
    let t = target_until(&relay, "tc_ok", |t| {
        t["last_5m"]["delivered"] == 3 && t["pending"] == 0
    })
    .await;
    assert_eq!(t["state"], "active", "{t}");
    assert_eq!(
        (
            t["pending"].as_u64(),
            t["retrying"].as_u64(),
            t["dead"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{t}"
    );
    assert_eq!(
        (
            t["last_1h"]["delivered"].as_u64(),
            t["last_1h"]["failed"].as_u64()
        ),
        (Some(3), Some(0)),
        "{t}"
    );
    assert!(
        t["last_5m"]["p50_ms"].as_f64().is_some_and(|p| p >= 0.0),
        "{t}"
    );
    assert!(t["last_5m"]["p99_ms"].as_f64().is_some(), "{t}");
    assert_eq!(t["oldest_pending_ms"], Value::Null, "{t}");

    let b = target_until(&relay, "tc_bad", |t| t["retrying"] == 1).await;
    assert_eq!(
        (b["pending"].as_u64(), b["last_5m"]["failed"].as_u64()),
        (Some(0), Some(1)),
        "{b}"
    );
    assert_eq!(b["last_5m"]["delivered"], 0, "{b}");
    assert!(
        b["oldest_pending_ms"].as_i64().is_some() && b["oldest_pending_at"].is_string(),
        "{b}"
    );

    let (status, series) = get(&relay, "/api/targets/tc_ok/series?window=1h").await;
    assert_eq!(status, 200, "{series}");
    let minutes = series["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    let delivered: u64 = minutes
        .iter()
        .map(|m| m["delivered"].as_u64().unwrap())
        .sum();
    assert_eq!(delivered, 3, "{series}");
    let last = minutes.iter().rev().find(|m| m["delivered"] != 0).unwrap();
    assert!(
        last["p50_ms"].is_number() && last["p99_ms"].is_number(),
        "{last}"
    );
    let (_, day) = get(&relay, "/api/targets/tc_bad/series?window=24h").await;
    let minutes = day["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 1440);
    assert_eq!(
        minutes
            .iter()
            .map(|m| m["retry"].as_u64().unwrap())
            .sum::<u64>(),
        1
    );
    let (status, answer) = get(&relay, "/api/targets/tc_ok/series?window=2h").await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("window"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_is_kept_in_postgres_for_every_replica() {
    let test = "a_pause_is_kept_in_postgres_for_every_replica";
    let Some(server) = common::pg::shared(test) else {
        return;
    };
    let database = server.database().await;
    let crm = FakeTarget::start().await;
    let yaml = config("pg_pz_", &crm.url("/crm"), "", Some(&database));
    let one = TestRelay::start(&yaml).await;
    let two = TestRelay::start(&yaml).await;
    let (status, answer) = act(&one, "/api/targets/pg_pz_crm/pause").await;
    assert_eq!(status, 200, "{answer}");
    // The other replica reads the pause from the database on its next tick.
    target_until(&two, "pg_pz_crm", |t| t["state"] == "paused").await;
    for n in 0..4 {
        let relay = if n % 2 == 0 { &one } else { &two };
        relay.accept("pg_pz_src", format!("{{\"n\": {n}}}")).await;
    }
    crm.assert_quiet(0, Duration::from_secs(1)).await;
    // A replica started later starts paused.
    two.relay.shutdown().await;
    let three = TestRelay::start(&yaml).await;
    assert_eq!(target(&three, "pg_pz_crm").await["state"], "paused");
    crm.assert_quiet(0, Duration::from_millis(500)).await;

    let (status, _) = act(&three, "/api/targets/pg_pz_crm/resume").await;
    assert_eq!(status, 200);
    crm.wait_for(4, WAIT).await;
    target_until(&one, "pg_pz_crm", |t| t["state"] == "active").await;
    three.relay.shutdown().await;
    one.relay.shutdown().await;
}

#[tokio::test]
async fn a_read_token_cannot_pause_and_a_pause_names_who_made_it() {
    let crm = FakeTarget::start().await;
    let yaml = format!(
        "server:\n  admin_tokens:\n    - {{name: dashboards, token: read-s3cret, role: read}}\n    - {{name: oncall, token: oncall-s3cret, role: operate}}\n{}",
        config("rl_", &crm.url("/crm"), "", None)
    );
    let relay = TestRelay::start(&yaml).await;
    let post = |path: &str, token: &str| {
        relay
            .client
            .post(relay.admin(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .send()
    };
    for action in ["pause", "resume", "probe"] {
        let response = post(&format!("/api/targets/rl_crm/{action}"), "read-s3cret")
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{action}");
    }
    let tail = relay
        .client
        .get(relay.admin("/api/tail"))
        .bearer_auth("read-s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 200, "a read token may watch");
    drop(tail);
    let response = post("/api/targets/rl_crm/pause", "oncall-s3cret")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let all: Value = relay
        .client
        .get(relay.admin("/api/targets"))
        .bearer_auth("read-s3cret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = &all["targets"][0];
    assert_eq!(
        (t["state"].as_str(), t["paused_by"].as_str()),
        (Some("paused"), Some("oncall")),
        "{t}"
    );
    assert!(t["paused_at"].is_string(), "{t}");
}
