//! The read role in the browser: on every screen it sees no button that
//! changes something (`[data-action]`, which an operator does see), the
//! API refuses its POSTs from the page, and it may still try payloads in
//! the playground (explaining changes nothing). The config screen is
//! shown here, secrets redacted.

use serde_json::json;

use super::chromium::Chromium;
use super::ui::{DESKTOP, PHONE, Ui, t};
use super::{failing_crm, go, relay, signed_in, state, story};
use crate::bulk::{OPERATE, READ};
use crate::common::{FakeTarget, fixture};

/// How many action buttons the screen shows.
async fn actions(ui: &Ui) -> u64 {
    ui.eval("document.querySelectorAll('[data-action]').length")
        .await
        .as_u64()
        .unwrap_or(0)
}

/// `POST path` from the page with the read token; the status.
async fn post_from_page(ui: &Ui, path: &str, body: serde_json::Value) -> u64 {
    let js = format!(
        "fetch({path}, {{method: 'POST', headers: {{'authorization': 'Bearer {READ}', 'content-type': 'application/json'}}, body: {body}}}).then(r => r.status)",
        path = serde_json::to_string(path).unwrap(),
        body = serde_json::to_string(&body.to_string()).unwrap(),
    );
    ui.eval(&js).await.as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_read_token_sees_no_action_buttons_and_the_api_refuses_its_posts() {
    let test = "a_read_token_sees_no_action_buttons_and_the_api_refuses_its_posts";
    let Some(chromium) = Chromium::start(test).await else {
        return;
    };
    let (crm, archive) = (failing_crm().await, FakeTarget::start().await);
    let relay = relay(&crm, &archive).await;
    let id = relay.accept_id("pbx", fixture("full.json")).await;
    story(&relay, &id, |e| state(e, "crm") == "dead").await;
    let journey = format!("#/event/{id}");

    // The operator's journey has action buttons: what the read role must not see.
    let operator = signed_in(&chromium, &relay, OPERATE).await;
    operator.visit(&journey).await;
    operator
        .content(&format!("{}[data-target=\"crm\"]", t("replay-target")))
        .await;
    assert!(actions(&operator).await > 0);
    operator.finish().await;

    let ui = signed_in(&chromium, &relay, READ).await;
    ui.text_contains("role", "read").await;
    let screens = [
        ("nav-overview", "target-row"),
        ("nav-events", "search-form"),
        ("nav-dead", "dl-group"),
        ("nav-playground", "playground-form"),
        ("nav-config", "config-text"),
        ("nav-audit", "audit"),
    ];
    for (nav, ready) in screens {
        if ready == "audit" {
            ui.click(nav).await;
            ui.wait(
                "the audit screen",
                &format!(
                    "!!document.querySelector('{}, {}')",
                    t("audit-table"),
                    t("audit-empty")
                ),
            )
            .await;
        } else {
            go(&ui, nav, ready).await;
        }
        assert_eq!(
            actions(&ui).await,
            0,
            "{nav} shows an action to a read token"
        );
    }
    assert_eq!(ui.count("dl-bulk").await, 0);
    ui.visit(&journey).await;
    ui.content(&format!(
        "{}[data-target=\"crm\"] {}",
        t("delivery"),
        t("attempt")
    ))
    .await;
    assert_eq!(
        actions(&ui).await,
        0,
        "the journey shows an action to a read token"
    );

    go(&ui, "nav-config", "config-text").await;
    let config = ui.content(&t("config-text")).await;
    assert!(config.contains("crm"), "{config}");
    assert!(
        !config.contains(OPERATE) && !config.contains(READ),
        "a token is shown: {config}"
    );
    ui.screenshot("config", DESKTOP, false).await;
    ui.screenshot("config", PHONE, false).await;

    for (path, body) in [
        (
            "/api/deliveries/replay",
            json!({"filter": {"target": "crm"}, "dry_run": true}),
        ),
        ("/api/dead-letters/replay", json!({"target": "crm"})),
        ("/api/targets/crm/pause", json!({})),
        ("/api/reload", json!({})),
    ] {
        assert_eq!(
            post_from_page(&ui, path, body).await,
            403,
            "POST {path} with the read token"
        );
    }
    let explained = post_from_page(&ui, "/api/explain", json!({"source": "pbx", "body": {}})).await;
    assert_eq!(explained, 200, "a read token may explain");
    assert_eq!(crm.count(), 1, "nothing was replayed");
    ui.finish().await;
}
