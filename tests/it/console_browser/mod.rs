//! The operator console (issue 16) in a real browser: headless Chromium
//! driven over the DevTools protocol against a relay in-process on port 0
//! with fake targets. Each test signs in, works a screen as an operator
//! would (by the `data-test` hooks of docs/console/TESTING.md only) and
//! ends with [`Ui::finish`]: a JavaScript error, a `console.error`, a CSP
//! violation, a request to another origin or a failed asset fails it.
//! Screenshots of every screen (desktop and phone; the overview light and
//! dark) go to `target/console-screenshots/`, or to
//! `$SWITCHBOARD_SCREENSHOTS`.
//!
//! Without Chromium outside CI the tests skip, saying so; in CI
//! `scripts/test` installs it.

mod chromium;
mod flows;
mod roles;
mod screen;
mod ui;
mod watch;

use std::path::PathBuf;

use serde_json::Value;

use crate::bulk::{OPERATE, tokens};
use crate::common::{FakeTarget, Reply, TestRelay};
use chromium::Chromium;
use ui::{DESKTOP, PHONE, Ui, t};

/// Where screenshots go.
pub fn screenshots() -> PathBuf {
    if let Some(dir) = std::env::var_os("SWITCHBOARD_SCREENSHOTS") {
        return dir.into();
    }
    // The test binary is target/<profile>/deps/it-…: its target directory
    // is three levels up, wherever CARGO_TARGET_DIR put it.
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_owned();
    target.join("console-screenshots")
}

/// The relay the console tests watch: source `pbx` (lookup keys `call`
/// and `caller`), target `crm` (a transform, no retries) and `archive`
/// (the original bytes), every webhook routed to both; the test tokens.
async fn relay(crm: &FakeTarget, archive: &FakeTarget) -> TestRelay {
    TestRelay::start(&format!(
        "server:\n{}sources:\n  pbx: {{keys: {{call: call.id, caller: call.from}}}}\n\
         targets:\n  crm: {{url: \"{}\", retry: {{attempts: 1}}, transform: {{omit: [assist.transcription]}}}}\n  \
         archive: {{url: \"{}\"}}\n\
         routes:\n  - name: summaries\n    when: {{has: assist.summary}}\n    to: [crm]\n  - name: everything\n    to: [archive]\n",
        tokens(),
        crm.url("/crm"),
        archive.url("/archive"),
    ))
    .await
}

/// A CRM that answers its first delivery 500 with a JSON body.
async fn failing_crm() -> FakeTarget {
    let crm = FakeTarget::start().await;
    crm.script([Reply::Json(500, r#"{"error": "database unavailable"}"#)]);
    crm
}

/// A tab signed in with `token`, the nav shown.
async fn signed_in(chromium: &Chromium, relay: &TestRelay, token: &str) -> Ui {
    let ui = Ui::open(chromium, &relay.admin("")).await;
    ui.fill("signin-token", token).await;
    ui.click("signin-submit").await;
    ui.shown("nav").await;
    ui
}

/// Opens the screen `nav` links to and waits for `ready` to show.
async fn go(ui: &Ui, nav: &str, ready: &str) {
    ui.click(nav).await;
    ui.shown(ready).await;
}

/// The webhook's story by the API, polled until `done` holds.
async fn story(relay: &TestRelay, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(crate::common::WAIT, async {
        loop {
            let event = crate::bulk::get(relay, &format!("/api/events/{id}")).await;
            if done(&event) {
                return event;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("webhook {id} never got there"))
}

/// The state of the webhook's delivery to `target`.
fn state(event: &Value, target: &str) -> String {
    event["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["target"] == target)
        .map(|d| d["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn signing_in_refuses_a_wrong_token_with_a_message_and_the_overview_shows() {
    let test = "signing_in_refuses_a_wrong_token_with_a_message_and_the_overview_shows";
    let Some(chromium) = Chromium::start(test).await else {
        return;
    };
    let (crm, archive) = (failing_crm().await, FakeTarget::start().await);
    let relay = relay(&crm, &archive).await;
    relay
        .accept("pbx", crate::common::fixture("full.json"))
        .await;
    let ui = Ui::open(&chromium, &relay.admin("")).await;
    ui.shown("signin-form").await;
    ui.screenshot("signin", DESKTOP, false).await;
    ui.screenshot("signin", PHONE, false).await;
    ui.screen(DESKTOP, false).await;
    ui.fill("signin-token", "not-the-token").await;
    ui.click("signin-submit").await;
    let error = t("signin-error");
    let message = ui
        .wait(
            "the refusal's message",
            &format!("document.querySelector('{error}').innerText.trim()"),
        )
        .await;
    assert!(
        message.as_str().unwrap().contains("token"),
        "the refusal says why: {message}"
    );
    let hidden = format!(
        "getComputedStyle(document.querySelector('{}')).display === 'none' || !document.querySelector('{}').getClientRects().length",
        t("nav"),
        t("nav")
    );
    assert_eq!(ui.eval(&hidden).await, true, "no nav before signing in");

    ui.fill("signin-token", OPERATE).await;
    ui.click("signin-submit").await;
    ui.shown("nav").await;
    ui.text_contains("role", "operate").await;
    ui.click("nav-overview").await;
    ui.shown("overview").await;
    ui.shown("target-row").await;
    ui.text_contains("source-accepted", "1").await;
    for (screen, dark) in [
        (DESKTOP, false),
        (DESKTOP, true),
        (PHONE, false),
        (PHONE, true),
    ] {
        ui.screenshot("overview", screen, dark).await;
    }
    ui.finish().await;
}

#[tokio::test]
async fn the_watchers_catch_an_error_a_csp_violation_and_a_request_elsewhere() {
    let test = "the_watchers_catch_an_error_a_csp_violation_and_a_request_elsewhere";
    let Some(chromium) = Chromium::start(test).await else {
        return;
    };
    let (crm, archive) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = relay(&crm, &archive).await;
    let ui = signed_in(&chromium, &relay, OPERATE).await;
    assert!(ui.problems().is_empty(), "{:?}", ui.problems());
    // What a broken console would do: throw, log an error, run an inline
    // script (the CSP forbids it) and ask another origin.
    ui.eval(
        "setTimeout(() => { throw new Error('thrown on purpose'); }, 0); \
         console.error('logged on purpose'); \
         const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; document.body.append(s); \
         fetch('http://127.0.0.2:9/elsewhere').catch(() => {}); true",
    )
    .await;
    for needle in ["thrown on purpose", "logged on purpose", "127.0.0.2"] {
        ui.caught(needle).await;
    }
    assert_eq!(
        ui.eval("window.inlineRan === true").await,
        false,
        "the CSP let an inline script run"
    );
    ui.wait(
        "the CSP violation event",
        "(window.__cspViolations || []).length > 0",
    )
    .await;
    let finished = tokio::spawn(async move { ui.finish().await });
    assert!(
        finished.await.unwrap_err().is_panic(),
        "finish() must fail such a page"
    );
}
