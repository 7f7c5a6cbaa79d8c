//! "What happened to call X?" (issue 15): the history's search, one
//! webhook's story with its attempts and bodies, its bytes, and its
//! explanation against the rules in force, over the admin API, on SQLite
//! and PostgreSQL; pages that stay put while webhooks arrive; a 400 naming
//! each bad parameter.

use crate::common;

use std::time::Duration;

use serde_json::Value;

use crate::common::{FakeTarget, Reply, TestRelay, WAIT, fixture, fixture_json};

/// `crm` gets a transformed body and retries; `archive` the original
/// bytes; `broken`'s transform fails on every payload. `server` is the
/// inside of `server: {...}`; `summaries` whether that route is there.
fn config(server: &str, crm: &FakeTarget, archive: &FakeTarget, summaries: bool) -> String {
    let summaries = if summaries {
        "  - name: summaries\n    when: {has: assist.summary}\n    to: [crm, broken]\n"
    } else {
        ""
    };
    format!(
        r#"server: {{window: 8{server}}}
sources:
  sipgate: {{allow: [127.0.0.1]}}
targets:
  crm:
    url: "{crm}"
    retry: {{first: 50ms, attempts: 5}}
    transform: {{select: [call.id, assist.summary.content]}}
  archive: {{url: "{archive}"}}
  broken:
    url: "{archive}"
    transform: {{jq: 'error("no contact in this payload")'}}
routes:
{summaries}  - name: everything
    to: [archive]
"#,
        crm = crm.url("/crm"),
        archive = archive.url("/archive"),
    )
}

async fn get(relay: &TestRelay, path: &str) -> (u16, Value) {
    let response = relay.client.get(relay.admin(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The delivery to `target` in a webhook's story.
fn delivery<'v>(event: &'v Value, target: &str) -> &'v Value {
    event["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["target"] == target)
        .unwrap_or_else(|| panic!("no delivery to {target}: {event}"))
}

/// The story of `id` once `done` holds for it.
async fn story_when(relay: &TestRelay, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, event) = get(relay, &format!("/api/events/{id}")).await;
            if done(&event) {
                return event;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the story of {id} never got there"))
}

/// The whole walk-through on the spool `server` names (none: SQLite);
/// the relay, the webhook's id and its call id, for more questions.
async fn what_happened_to_call_x(server: &str) -> (TestRelay, String, String) {
    let (crm, archive) = (FakeTarget::start().await, FakeTarget::start().await);
    crm.script([
        Reply::Json(500, r#"{"error": "database unavailable"}"#),
        Reply::Json(422, r#"{"error": "contact unknown"}"#),
    ]);
    let relay = TestRelay::start(&config(server, &crm, &archive, true)).await;
    let call = fixture_json("full.json")["call"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    relay.accept("sipgate", fixture("minimal.json")).await;
    let id = relay.accept_id("sipgate", fixture("full.json")).await;
    let sent = crm.wait_for(2, WAIT).await;
    let event = story_when(&relay, &id, |e| {
        e["deliveries"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["state"] == "dead"))
    })
    .await;

    // Found by the call id the CRM knows.
    relay.wait_indexed("call", &call, &id, None).await;
    let (status, page) = get(&relay, &format!("/api/events?key.call={call}")).await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["keys"]["call"], call.as_str());
    assert_eq!(
        items[0]["routes"],
        serde_json::json!(["summaries", "everything"])
    );
    let crm_item = delivery(&items[0], "crm");
    assert_eq!(
        (
            &crm_item["state"],
            &crm_item["attempts"],
            &crm_item["last_status"]
        ),
        (&Value::from("dead"), &Value::from(2), &Value::from(422))
    );

    // Its story: both attempts with what the CRM answered.
    assert_eq!(
        event["routes"],
        serde_json::json!(["summaries", "everything"])
    );
    assert_eq!(
        event["body"]["content"],
        std::str::from_utf8(&fixture("full.json")).unwrap()
    );
    assert_eq!(event["headers"]["content-type"], "application/json");
    assert_eq!(event["config_version"].as_str().unwrap().len(), 12);
    let to_crm = delivery(&event, "crm");
    let timeline = to_crm["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2, "{to_crm}");
    assert_eq!(timeline[0]["status"], 500);
    assert!(
        timeline[0]["response_body"]["content"]
            .as_str()
            .unwrap()
            .contains("database unavailable")
    );
    assert_eq!(timeline[1]["status"], 422);
    assert!(
        timeline[1]["response_body"]["content"]
            .as_str()
            .unwrap()
            .contains("contact unknown")
    );
    assert_eq!(
        timeline[1]["response_headers"]["content-type"],
        "application/json"
    );
    assert!(
        timeline[0]["request_headers"]["webhook-id"] == id.as_str(),
        "{}",
        timeline[0]
    );
    // The bodies sent: the CRM's own, the archive's the original bytes.
    assert_eq!(
        to_crm["body"]["content"].as_str().unwrap().as_bytes(),
        &sent[0].body[..]
    );
    assert_eq!(
        delivery(&event, "archive")["body"],
        serde_json::json!({"original": true})
    );
    let broken = delivery(&event, "broken");
    assert_eq!(broken["state"], "unrendered");
    assert!(
        broken["body"]["unrendered"]
            .as_str()
            .unwrap()
            .contains("no contact"),
        "{broken}"
    );

    // Unrendered deliveries are found by their state, with their error.
    let (_, unrendered) = get(&relay, "/api/events?state=unrendered&source=sipgate").await;
    let found = &unrendered["items"].as_array().unwrap()[0];
    assert_eq!(found["id"], id.as_str());
    assert!(
        delivery(found, "broken")["last_error"]
            .as_str()
            .unwrap()
            .contains("no contact")
    );

    // The raw bytes, with their content type.
    let raw = relay
        .client
        .get(relay.admin(&format!("/api/events/{id}/body")))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.headers()["content-type"], "application/json");
    assert_eq!(&raw.bytes().await.unwrap()[..], &fixture("full.json")[..]);

    // Explained against the rules in force; then against changed ones.
    let (status, explained) = get(&relay, &format!("/api/events/{id}/explain")).await;
    assert_eq!(status, 200, "{explained}");
    assert_eq!(explained["config_changed"], false);
    let targets = |e: &Value| -> Vec<String> {
        e["explanation"]["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["target"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(targets(&explained), ["crm", "broken", "archive"]);
    relay
        .reload_with(&config(server, &crm, &archive, false))
        .await
        .unwrap();
    let (_, explained) = get(&relay, &format!("/api/events/{id}/explain")).await;
    assert_eq!(explained["config_changed"], true, "{explained}");
    assert_ne!(
        explained["config_version"],
        explained["current_config_version"]
    );
    assert_eq!(targets(&explained), ["archive"]);

    let unknown = "00000000-0000-7000-8000-000000000000";
    for path in ["", "/body", "/explain"] {
        assert_eq!(
            get(&relay, &format!("/api/events/{unknown}{path}")).await.0,
            404,
            "{path}"
        );
    }
    (relay, id, call)
}

/// `switchboard events ARGS`: exit status, standard output and error. Not
/// blocking: the relay it asks runs on this test's runtime.
async fn events_cli(args: &[&str]) -> (bool, String, String) {
    events_cli_with(args, None).await
}

/// [`events_cli`] with `SWITCHBOARD_ADMIN_TOKEN` set to `token`.
async fn events_cli_with(args: &[&str], token: Option<&str>) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.env_remove("SWITCHBOARD_ADMIN_TOKEN");
    if let Some(token) = token {
        command.env("SWITCHBOARD_ADMIN_TOKEN", token);
    }
    let output = command.arg("events").args(args).output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_story_of_call_x_on_sqlite_and_through_the_cli() {
    let (relay, id, call) = what_happened_to_call_x("").await;
    let admin = relay.admin("");
    let key = format!("call={call}");
    let (ok, out, err) = events_cli(&["search", "--admin", &admin, "--key", &key, "--json"]).await;
    assert!(ok, "{err}");
    let page: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["items"][0]["id"], id.as_str(), "{out}");

    let (ok, out, err) = events_cli(&["show", "--admin", &admin, &id]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("=== crm (route summaries): dead after 2 attempt(s)"),
        "{out}"
    );
    assert!(
        out.contains("-> 500") && out.contains("database unavailable"),
        "{out}"
    );
    assert!(
        out.contains("sends the webhook's body as received"),
        "{out}"
    );
    assert!(out.contains("not rendered, nothing sent: "), "{out}");

    // Straight from the spool the config names, while the relay runs.
    let config = relay.config.display().to_string();
    let (ok, out, err) =
        events_cli(&["search", "--config", &config, "--state", "unrendered"]).await;
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with(&id) && l.contains("broken unrendered 0x")),
        "{out}"
    );
    let spool = relay
        .config
        .with_file_name("spool.db")
        .display()
        .to_string();
    let (ok, _, err) = events_cli(&[
        "show",
        "--spool",
        &spool,
        "00000000-0000-7000-8000-000000000000",
    ])
    .await;
    assert!(!ok && err.contains("no webhook"), "{err}");
    let (ok, _, err) = events_cli(&["search", "--spool", &spool, "--state", "lost"]).await;
    assert!(!ok && err.contains("--state"), "{err}");
}

#[tokio::test]
async fn the_story_of_call_x_on_postgres() {
    let Some(server) = common::pg::shared("the_story_of_call_x_on_postgres") else {
        return;
    };
    let url = server.database().await;
    what_happened_to_call_x(&format!(", spool: \"{url}\"")).await;
}

#[tokio::test]
async fn the_cli_takes_the_admin_token_from_the_environment() {
    let (crm, archive) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = TestRelay::start_with_env(
        &config(r#", admin_token: "${ADMIN_TOKEN}""#, &crm, &archive, false),
        &[("ADMIN_TOKEN", "adm-s3cret")],
    )
    .await;
    let id = relay.accept_id("sipgate", fixture("minimal.json")).await;
    let admin = relay.admin("");
    let args = ["search", "--admin", admin.as_str(), "--json"];
    let (ok, _, err) = events_cli(&args).await;
    assert!(
        !ok && err.contains("401") && err.contains("SWITCHBOARD_ADMIN_TOKEN"),
        "{err}"
    );
    let (ok, out, err) = events_cli_with(&args, Some("adm-s3cret")).await;
    assert!(ok, "{err}");
    assert!(out.contains(&id), "{out}");
}

#[tokio::test]
async fn pages_stay_put_while_webhooks_arrive() {
    let (crm, archive) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = TestRelay::start(&config("", &crm, &archive, false)).await;
    let mut first = Vec::new();
    for _ in 0..5 {
        first.push(relay.accept_id("sipgate", fixture("minimal.json")).await);
    }
    first.reverse();
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, page) = get(&relay, "/api/events?limit=2").await;
    let mut seen = ids(&page);
    let mut cursor = page["next_cursor"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        relay.accept("sipgate", fixture("minimal.json")).await;
    }
    loop {
        let (status, page) = get(&relay, &format!("/api/events?limit=2&cursor={cursor}")).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, first, "no repeats, no gaps, none of the newer ones");
}

#[tokio::test]
async fn bad_search_parameters_are_named() {
    let (crm, archive) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = TestRelay::start(&config("", &crm, &archive, false)).await;
    for (query, named) in [
        ("state=lost", "`state`"),
        ("since=soon", "`since`"),
        ("until=yesterday", "`until`"),
        ("limit=501", "`limit`"),
        ("cursor=nope", "`cursor`"),
        ("colour=red", "`colour`"),
    ] {
        let (status, body) = get(&relay, &format!("/api/events?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(named),
            "{query}: {body}"
        );
    }
    let (status, _) = get(
        &relay,
        "/api/events?since=2h&until=2026-01-01T00:00:00Z&state=dead,parked",
    )
    .await;
    assert_eq!(status, 400, "since after until");
    let (status, page) = get(&relay, "/api/events?since=2h&state=dead,parked&limit=500").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"], serde_json::json!([]));
}
