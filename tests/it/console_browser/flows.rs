//! An operator's questions, answered in the browser: did the CRM get call
//! X and if not why (search, journey, replay); replay what the CRM
//! rejected (a dead-letter group, dry-run count first); what would the
//! rules do with this payload (the playground, against
//! `switchboard explain`); what is arriving now (live mode).

use std::time::Duration;

use serde_json::{Value, json};

use super::chromium::Chromium;
use super::ui::{DESKTOP, PHONE, t};
use super::{failing_crm, go, relay, signed_in, state, story};
use crate::bulk::{OPERATE, tokens, wait_count};
use crate::common::{FakeTarget, TestRelay, WAIT, fixture, fixture_json};
use crate::console_api::cli_explain;

/// Each target's body as `switchboard explain --json` shows it.
fn explained_bodies(relay: &TestRelay, payload: &[u8]) -> Vec<(String, String)> {
    let shown = cli_explain(&relay.config, payload, &[]);
    shown["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let target = d["target"].as_str().unwrap().to_owned();
            (target, d["body"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_call_id_finds_the_webhook_whose_journey_shows_why_and_a_replay_delivers_it_again() {
    let test = "a_call_id_finds_the_webhook_whose_journey_shows_why_and_a_replay_delivers_it_again";
    let Some(chromium) = Chromium::start(test).await else {
        return;
    };
    let (crm, archive) = (failing_crm().await, FakeTarget::start().await);
    let relay = relay(&crm, &archive).await;
    let id = relay.accept_id("pbx", fixture("full.json")).await;
    story(&relay, &id, |e| {
        state(e, "crm") == "dead" && state(e, "archive") == "delivered"
    })
    .await;
    let call = fixture_json("full.json")["call"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    relay.wait_indexed("call", &call, &id, Some(OPERATE)).await;
    let ui = signed_in(&chromium, &relay, OPERATE).await;
    go(&ui, "nav-events", "search-form").await;
    ui.fill("search-keys", &format!("call={call}")).await;
    ui.click("search-submit").await;
    let row = format!("{}[data-id=\"{id}\"]", t("event-row"));
    ui.click_css(&format!("{row} {}", t("event-link"))).await;
    ui.text_contains("journey-id", &id).await;
    assert_eq!(
        ui.count("event-row").await,
        0,
        "the journey replaced the list"
    );

    for route in ["summaries", "everything"] {
        let matched = format!(
            "{}[data-route=\"{route}\"][data-matched=\"true\"]",
            t("route")
        );
        ui.content(&matched).await;
    }
    let delivery = |target: &str| format!("{}[data-target=\"{target}\"]", t("delivery"));
    for (target, body) in explained_bodies(&relay, &fixture("full.json")) {
        let shown = ui
            .content(&format!("{} {}", delivery(&target), t("delivery-body")))
            .await;
        assert_eq!(shown, body, "the body sent to {target}");
    }
    let failed = format!(
        "{} {}[data-status=\"500\"] {}",
        delivery("crm"),
        t("attempt"),
        t("attempt-response-body")
    );
    let answer = ui.content(&failed).await;
    assert!(answer.contains("database unavailable"), "{answer}");
    ui.screenshot("journey", DESKTOP, false).await;
    ui.screenshot("journey", PHONE, false).await;
    ui.screen(DESKTOP, false).await;

    // Replay to the CRM alone: a confirmation with its count, then the
    // CRM gets the same body again.
    ui.click_css(&format!("{}[data-target=\"crm\"]", t("replay-target")))
        .await;
    ui.shown("confirm-dialog").await;
    ui.text_contains("confirm-count", "1").await;
    assert_eq!(crm.count(), 1, "nothing is sent before the confirmation");
    ui.click("confirm-ok").await;
    let got = crm.wait_for(2, WAIT).await;
    assert_eq!(got[1].body, got[0].body, "the replay sends the same body");
    story(&relay, &id, |e| state(e, "crm") == "delivered").await;
    assert_eq!(archive.count(), 1, "the archive was not replayed to");
    ui.finish().await;
}

#[tokio::test]
async fn the_events_screen_finds_by_call_id_and_shows_a_new_webhook_live_within_two_seconds() {
    let test = "the_events_screen_finds_by_call_id_and_shows_a_new_webhook_live_within_two_seconds";
    let Some(chromium) = Chromium::start(test).await else {
        return;
    };
    let (crm, archive) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = relay(&crm, &archive).await;
    let first = relay.accept_id("pbx", fixture("full.json")).await;
    relay.accept("pbx", fixture("minimal.json")).await;
    let ui = signed_in(&chromium, &relay, OPERATE).await;
    go(&ui, "nav-events", "search-form").await;
    let call = fixture_json("full.json")["call"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    relay
        .wait_indexed("call", &call, &first, Some(OPERATE))
        .await;
    ui.fill("search-keys", &format!("call={call}")).await;
    ui.click("search-submit").await;
    ui.content(&format!("{}[data-id=\"{first}\"]", t("event-row")))
        .await;
    ui.wait(
        "one row",
        &format!(
            "document.querySelectorAll('{}').length === 1",
            t("event-row")
        ),
    )
    .await;
    ui.screenshot("events", DESKTOP, false).await;
    ui.screenshot("events", PHONE, false).await;
    ui.screen(DESKTOP, false).await;

    ui.click("live-toggle").await;
    // Listening: the relay answered the tail, so nothing is missed from here.
    ui.content(&format!("{}[data-state=\"listening\"]", t("live-status")))
        .await;
    let posted = std::time::Instant::now();
    let id = relay.accept_id("pbx", fixture("minimal.json")).await;
    let live = format!(
        "{}[data-id=\"{id}\"][data-type=\"accepted\"]",
        t("live-row")
    );
    let seen = async {
        loop {
            let css = serde_json::to_string(&live).unwrap();
            if ui.eval(&format!("!!document.querySelector({css})")).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), seen)
        .await
        .unwrap_or_else(|_| panic!("the new webhook was not shown live within 2 s"));
    assert!(posted.elapsed() < Duration::from_secs(2));
    ui.screenshot("live", DESKTOP, false).await;
    ui.finish().await;
}

#[tokio::test]
async fn a_dead_letter_group_replay_shows_its_dry_run_count_then_delivers_exactly_that_many() {
    let test = "a_dead_letter_group_replay_shows_its_dry_run_count_then_delivers_exactly_that_many";
    let Some(chromium) = Chromium::start(test).await else {
        return;
    };
    let crm = FakeTarget::start().await;
    crm.respond(500);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let relay = TestRelay::start(&format!(
        "server:\n{}sources:\n  pbx: {{keys: {{call: call.id}}}}\ntargets:\n  crm: {{url: \"{}\", retry: {{attempts: 1}}}}\n  \
         tickets: {{url: \"http://127.0.0.1:{port}/t\", retry: {{attempts: 1}}}}\nroutes:\n  - name: all\n    to: [crm, tickets]\n",
        tokens(),
        crm.url("/crm"),
    ))
    .await;
    let mut payload: Value = fixture_json("minimal.json");
    for n in 0..3 {
        payload["call"]["id"] = json!(format!("dl-{n}"));
        relay.accept("pbx", payload.to_string()).await;
    }
    wait_count(&relay, "replay", json!({"state": "dead"}), 6).await;

    let ui = signed_in(&chromium, &relay, OPERATE).await;
    go(&ui, "nav-dead", "dl-groups").await;
    let group = format!("{}[data-target=\"crm\"][data-class=\"500\"]", t("dl-group"));
    let count = ui.content(&format!("{group} {}", t("dl-count"))).await;
    assert_eq!(count.trim(), "3");
    ui.content(&format!(
        "{}[data-target=\"tickets\"][data-class=\"connect\"]",
        t("dl-group")
    ))
    .await;
    ui.screenshot("dead-letters", DESKTOP, false).await;
    ui.screenshot("dead-letters", PHONE, false).await;
    ui.screen(DESKTOP, false).await;

    crm.respond(200);
    ui.click_css(&format!("{group} {}", t("dl-replay"))).await;
    ui.shown("confirm-dialog").await;
    let dry_run = ui.text_contains("confirm-count", "3").await;
    assert_eq!(dry_run.trim(), "3");
    assert_eq!(crm.count(), 3, "the dry run sends nothing");
    ui.screenshot("dead-letters-confirm", DESKTOP, false).await;
    ui.click("confirm-ok").await;
    crm.wait_for(6, WAIT).await;
    ui.content(&format!("{}[data-state=\"done\"]", t("job-done")))
        .await;
    crm.assert_quiet(6, Duration::from_millis(300)).await;
    // The other group is untouched.
    wait_count(
        &relay,
        "replay",
        json!({"target": "tickets", "state": "dead"}),
        3,
    )
    .await;
    wait_count(
        &relay,
        "replay",
        json!({"target": "crm", "state": "dead"}),
        0,
    )
    .await;

    go(&ui, "nav-audit", "audit-table").await;
    ui.content(&format!("{}[data-audit-action=\"replay\"]", t("audit-row")))
        .await;
    ui.screenshot("audit", DESKTOP, false).await;
    ui.screenshot("audit", PHONE, false).await;
    ui.finish().await;
}

#[tokio::test]
async fn the_playground_shows_the_targets_and_bodies_switchboard_explain_shows() {
    let test = "the_playground_shows_the_targets_and_bodies_switchboard_explain_shows";
    let Some(chromium) = Chromium::start(test).await else {
        return;
    };
    let (crm, archive) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = relay(&crm, &archive).await;
    let ui = signed_in(&chromium, &relay, OPERATE).await;
    go(&ui, "nav-playground", "playground-form").await;
    for name in ["full.json", "no-summary.json"] {
        let raw = fixture(name);
        ui.fill("playground-source", "pbx").await;
        ui.fill("playground-body", std::str::from_utf8(&raw).unwrap())
            .await;
        ui.click("playground-submit").await;
        let expected = explained_bodies(&relay, &raw);
        let n = expected.len();
        ui.wait(
            &format!("{n} targets for {name}"),
            &format!(
                "document.querySelectorAll('{}').length === {n}",
                t("playground-target")
            ),
        )
        .await;
        for (target, body) in expected {
            let css = format!(
                "{}[data-target=\"{target}\"] {}",
                t("playground-target"),
                t("playground-target-body")
            );
            assert_eq!(
                ui.content(&css).await,
                body,
                "{name}: the body for {target}"
            );
        }
        if name == "full.json" {
            ui.screenshot("playground", DESKTOP, false).await;
            ui.screenshot("playground", PHONE, false).await;
            ui.screen(DESKTOP, false).await;
        }
    }
    let page = crate::bulk::get(&relay, "/api/events").await;
    assert_eq!(page["items"], json!([]), "the playground stored nothing");
    assert_eq!((crm.count(), archive.count()), (0, 0), "and sent nothing");
    ui.finish().await;
}
