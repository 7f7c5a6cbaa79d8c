//! The admin listener: metrics that count the right things, health,
//! status, one webhook's story, the dead-letter API and reload.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};
use serde_json::Value;

/// Parses Prometheus text exposition into `name{labels}` → value, with the
/// labels sorted so lookups do not depend on their order.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let key = match series.split_once('{') {
            Some((name, labels)) => {
                let mut labels: Vec<&str> = labels
                    .trim_end_matches('}')
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .collect();
                labels.sort();
                format!("{name}{{{}}}", labels.join(","))
            }
            None => series.to_owned(),
        };
        out.insert(key, value.parse().unwrap());
    }
    out
}

/// The admin listener's `/metrics` text.
async fn scrape(relay: &TestRelay) -> String {
    let response = relay
        .client
        .get(relay.admin("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

fn metric(metrics: &HashMap<String, f64>, key: &str) -> f64 {
    *metrics.get(key).unwrap_or_else(|| {
        let mut known: Vec<&String> = metrics
            .keys()
            .filter(|k| k.starts_with("switchboard_"))
            .collect();
        known.sort();
        panic!("no series {key}; have {known:#?}")
    })
}

fn config(ok: &str, bad: &str, extra_server: &str) -> String {
    named(ok, bad, extra_server, "")
}

/// The config with every source and target name prefixed, so that the
/// process-wide metrics of one test are not mixed with another's.
fn named(ok: &str, bad: &str, extra_server: &str, p: &str) -> String {
    format!(
        r#"
server:
  window: 8
{extra_server}
sources:
  {p}sipgate: {{allow: [127.0.0.1]}}
  {p}other: {{allow: [10.9.9.9]}}
targets:
  {p}crm: {{url: "{ok}", rate: 100/s}}
  {p}tickets: {{url: "{bad}", retry: {{attempts: 1}}}}
routes:
  - name: summaries
    when: {{has: assist.summary}}
    to: [{p}crm]
  - name: everything
    to: [{p}tickets]
"#
    )
}

#[tokio::test]
async fn metrics_count_webhooks_deliveries_and_dead_letters() {
    let (crm, tickets) = (FakeTarget::start().await, FakeTarget::start().await);
    tickets.respond(400);
    let relay = TestRelay::start(&named(&crm.url("/crm"), &tickets.url("/t"), "", "m_")).await;
    relay.accept("m_sipgate", fixture("full.json")).await;
    relay.accept("m_sipgate", fixture("no-summary.json")).await;
    assert_eq!(relay.post("m_sipgate", "{not json").await.status(), 400);
    assert_eq!(
        relay.post("m_other", fixture("full.json")).await.status(),
        403
    );
    assert_eq!(
        relay.post("m_nope", fixture("full.json")).await.status(),
        404
    );
    crm.wait_for(1, WAIT).await;
    tickets.wait_for(2, WAIT).await;

    // Outcomes are recorded right after the attempt; scrape until they show.
    let metrics = tokio::time::timeout(WAIT, async {
        loop {
            let m = parse_metrics(&scrape(&relay).await);
            // Every delivery settled: nothing is held in memory any more
            // (the window's byte budget was given back in full).
            let settled = ["m_crm", "m_tickets"].iter().all(|t| {
                m.get(&format!("switchboard_window_bytes{{target=\"{t}\"}}")) == Some(&0.0)
            });
            if settled && m.get("switchboard_dead_letters{target=\"m_tickets\"}") == Some(&2.0) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("dead letters, or windows emptied, never showed in /metrics");
    // Counters are process-wide; this test's names are its own (m_...), but
    // unknown sources are pooled under `_unknown`, so that one is a lower bound.
    let received = |source: &str, outcome: &str| {
        metric(
            &metrics,
            &format!(
                "switchboard_webhooks_received_total{{outcome=\"{outcome}\",source=\"{source}\"}}"
            ),
        )
    };
    assert_eq!(received("m_sipgate", "accepted"), 2.0);
    assert_eq!(received("m_sipgate", "bad_request"), 1.0);
    assert_eq!(received("m_other", "forbidden"), 1.0);
    assert!(received("_unknown", "unknown_source") >= 1.0);
    assert_eq!(
        metric(
            &metrics,
            "switchboard_deliveries_total{outcome=\"delivered\",target=\"m_crm\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "switchboard_deliveries_total{outcome=\"dead\",target=\"m_tickets\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &metrics,
            "switchboard_delivery_attempt_seconds_count{target=\"m_crm\"}"
        ),
        1.0
    );
    // Every accept went through a spool commit, timed in sub-millisecond buckets.
    assert!(metric(&metrics, "switchboard_spool_commit_seconds_count") >= 2.0);
    assert!(metrics.contains_key("switchboard_spool_commit_seconds_bucket{le=\"0.0005\"}"));
    assert!(metric(&metrics, "switchboard_spool_batch_commands_sum") >= 2.0);
    assert_eq!(
        metric(&metrics, "switchboard_queue_depth{target=\"m_crm\"}"),
        0.0
    );
    assert_eq!(
        metric(&metrics, "switchboard_circuit_state{target=\"m_crm\"}"),
        0.0
    );
    assert_eq!(
        metric(
            &metrics,
            &format!(
                "switchboard_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );

    let reloads = |m: &HashMap<String, f64>, outcome: &str| {
        m.get(&format!(
            "switchboard_config_reloads_total{{outcome=\"{outcome}\"}}"
        ))
        .copied()
        .unwrap_or(0.0)
    };
    let (ok_before, rejected_before) = (reloads(&metrics, "ok"), reloads(&metrics, "rejected"));
    relay
        .reload_with(&named(&crm.url("/crm"), &tickets.url("/t"), "", "m_"))
        .await
        .unwrap();
    assert!(relay.reload_with("targets: [").await.is_err());
    let text = scrape(&relay).await;
    let m = parse_metrics(&text);
    assert!(reloads(&m, "ok") > ok_before);
    assert!(reloads(&m, "rejected") > rejected_before);
    assert!(
        metric(
            &m,
            "switchboard_config_last_reload_success_timestamp_seconds"
        ) > 1.7e9
    );
    for line in text.lines() {
        assert!(
            !line.contains("127.0.0.1"),
            "no addresses or URLs in labels: {line}"
        );
    }
}

#[tokio::test]
async fn health_status_and_the_story_of_one_webhook() {
    let (crm, tickets) = (FakeTarget::start().await, FakeTarget::start().await);
    tickets.script([503]);
    tickets.respond(503);
    let relay = TestRelay::start(&config(&crm.url("/crm"), &tickets.url("/t"), "")).await;
    let get = |path: &str| relay.client.get(relay.admin(path)).send();

    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["spool_writable"], true);

    let id = relay.accept_id("sipgate", fixture("full.json")).await;
    crm.wait_for(1, WAIT).await;
    tickets.wait_for(1, WAIT).await;
    let event: Value = tokio::time::timeout(WAIT, async {
        loop {
            let event: Value = get(&format!("/api/events/{id}"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let states: Vec<&str> = event["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["state"].as_str().unwrap())
                .collect();
            if states.contains(&"delivered") && states.contains(&"dead") {
                return event;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(event["source"], "sipgate");
    assert_eq!(
        event["routes"],
        serde_json::json!(["summaries", "everything"])
    );
    let tickets_row = event["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["target"] == "tickets")
        .unwrap();
    assert_eq!(tickets_row["last_status"], 503);
    assert_eq!(tickets_row["attempts"], 1);
    assert!(
        tickets_row["last_error"]
            .as_str()
            .unwrap()
            .contains("gave up after 1 attempts")
    );
    assert_eq!(
        get("/api/events/00000000-0000-7000-8000-000000000000")
            .await
            .unwrap()
            .status(),
        404
    );

    let status: Value = get("/api/status").await.unwrap().json().await.unwrap();
    let crm_row = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "crm")
        .unwrap();
    assert_eq!(crm_row["circuit"], "closed");
    assert!(crm_row["window_bytes"].is_u64(), "{crm_row}");
    assert_eq!(crm_row["url"], crm.url("/crm"));
    let tickets_row = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "tickets")
        .unwrap();
    assert_eq!(tickets_row["dead"], 1);
    assert_eq!(status["routes"][0]["name"], "summaries");
    assert_eq!(status["sources"][1]["name"], "sipgate");
}

#[tokio::test]
async fn dead_letter_api_lists_replays_and_purges() {
    let (crm, tickets) = (FakeTarget::start().await, FakeTarget::start().await);
    tickets.respond(500);
    let relay = TestRelay::start(&config(&crm.url("/crm"), &tickets.url("/t"), "")).await;
    let first = relay.accept_id("sipgate", fixture("minimal.json")).await;
    relay.accept("sipgate", fixture("minimal.json")).await;
    tickets.wait_for(2, WAIT).await;
    let list = |query: &'static str| {
        let url = relay.admin(&format!("/api/dead-letters{query}"));
        let client = relay.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["dead_letters"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    tokio::time::timeout(WAIT, async {
        while list("?target=tickets").await < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(list("?target=crm").await, 0);

    tickets.respond(200);
    let replayed: Value = relay
        .client
        .post(relay.admin("/api/dead-letters/replay"))
        .json(&serde_json::json!({"ids": [first]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replayed["replayed"], 1);
    let got = tickets.wait_for(3, WAIT).await;
    assert_eq!(got[2].header("webhook-id"), Some(first.as_str()));

    let purged: Value = relay
        .client
        .post(relay.admin("/api/dead-letters/purge"))
        .json(&serde_json::json!({"target": "tickets"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(purged["purged"], 1, "{purged}");
    assert_eq!(list("").await, 0);
}

#[tokio::test]
async fn api_needs_the_bearer_token_when_one_is_set() {
    let (crm, tickets) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = TestRelay::start_with_env(
        &config(
            &crm.url("/crm"),
            &tickets.url("/t"),
            "  admin_token: ${ADMIN_TOKEN}",
        ),
        &[("ADMIN_TOKEN", "adm-s3cret")],
    )
    .await;
    let status = |auth: Option<&'static str>| {
        let mut request = relay.client.get(relay.admin("/api/status"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    assert_eq!(status(None).await.unwrap().status(), 401);
    assert_eq!(status(Some("Bearer wrong")).await.unwrap().status(), 401);
    assert_eq!(
        status(Some("Bearer adm-s3cret")).await.unwrap().status(),
        200
    );
    // Health and metrics stay open for probes and scrapers.
    assert_eq!(
        relay
            .client
            .get(relay.admin("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        relay
            .client
            .get(relay.admin("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let response = relay
        .client
        .post(relay.admin("/api/reload"))
        .header("authorization", "Bearer adm-s3cret")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["ok"], true);
}

#[tokio::test]
async fn reload_api_reports_problems() {
    let (crm, tickets) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = TestRelay::start(&config(&crm.url("/crm"), &tickets.url("/t"), "")).await;
    let broken = config(&crm.url("/crm"), "not a url", "");
    std::fs::write(
        &relay.config,
        common::with_spool(&broken, &relay.config.with_file_name("spool.db")),
    )
    .unwrap();
    let response = relay
        .client
        .post(relay.admin("/api/reload"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ok"], false);
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("targets.tickets.url"),
        "{body}"
    );
    let status = relay.admin_json("/api/status").await;
    assert_eq!(status["last_reload"]["ok"], false);
}

#[test]
fn a_public_admin_listener_without_a_token_is_refused() {
    let yaml = "server: {admin_listen: \"0.0.0.0:9090\"}\nsources: {s: {}}\ntargets: {t: {url: \"http://127.0.0.1:9/\"}}\nroutes: [{to: [t]}]\n";
    let config = switchboard::config::Config::parse(yaml).unwrap();
    let problems =
        switchboard::runtime::Runtime::compile(config, &Default::default(), None).unwrap_err();
    assert!(
        problems
            .to_string()
            .contains("server.admin_listen: 0.0.0.0:9090 is reachable from other machines"),
        "{problems}"
    );
}
