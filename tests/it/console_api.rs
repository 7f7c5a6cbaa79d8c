//! The admin API the operator console reads (issue 16), over real
//! sockets: `POST /api/explain` answers what `switchboard explain --json`
//! prints and stores nothing, a read token may use it but no other POST;
//! dead letters grouped by target and class on SQLite and PostgreSQL, a
//! group's filter replaying exactly that group; the config in force with
//! its secrets redacted; who calls; each source's ingress counts.

use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::bulk::{OPERATE, READ, call, count, get, post, start, tokens, wait_count, wait_job};
use crate::common::{FakeTarget, TestRelay, WAIT, fixture};

/// `switchboard explain --json` on `payload` with `--header`s.
pub(crate) fn cli_explain(config: &std::path::Path, payload: &[u8], headers: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.json");
    std::fs::write(&file, payload).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.args(["explain", "--json", "--source", "pbx", "--config"]);
    command.arg(config).arg(&file);
    for header in headers {
        command.args(["--header", header]);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn the_api_explains_a_payload_as_the_cli_does_and_stores_nothing() {
    let crm = FakeTarget::start().await;
    let chat = FakeTarget::start().await;
    let yaml = format!(
        "server:\n{}sources:\n  pbx: {{}}\n  other: {{}}\ntargets:\n  crm: {{url: \"{}\", transform: {{omit: [assist.transcription]}}}}\n  \
         chat: {{url: \"{}\", headers: {{Authorization: 'Bearer lit3ral'}}, transform: {{jq: '{{text: .call.from}}'}}}}\n\
         routes:\n  - name: reception\n    when: {{header: {{name: X-Agent, equals: reception}}}}\n    to: [chat]\n  - name: summaries\n    when: {{has: assist.summary}}\n    to: [crm]\n",
        tokens(),
        crm.url("/crm"),
        chat.url("/chat"),
    );
    let relay = TestRelay::start(&yaml).await;
    // large-transcription.json (208 KiB) is over the API's usual 64 KiB
    // body: explain takes what ingress would.
    for name in [
        "full.json",
        "minimal.json",
        "no-summary.json",
        "german-unicode.json",
        "large-transcription.json",
    ] {
        let raw = fixture(name);
        let text = String::from_utf8(raw.clone()).unwrap();
        for headers in [&[][..], &["X-Agent: reception"][..]] {
            let cli = cli_explain(&relay.config, &raw, headers);
            let mut asked = json!({"source": "pbx", "body": text});
            if !headers.is_empty() {
                asked["headers"] = json!({"X-Agent": "reception"});
            }
            let (status, api) = call(&relay, Method::POST, "/api/explain", Some(asked), READ).await;
            assert_eq!(status, 200, "{name}: {api}");
            assert_eq!(api["explanation"], cli, "{name} {headers:?}");
        }
    }
    let explained = |body: Value| {
        let relay = &relay;
        async move { post(relay, "/api/explain", body).await }
    };
    // A JSON value is the payload too; the literal header stays redacted.
    let (status, api) = explained(json!({"source": "pbx", "body": {"call": {"from": "+49 1"}}, "headers": {"X-Agent": "reception"}})).await;
    assert_eq!(status, 200, "{api}");
    let chat_body = &api["explanation"]["deliveries"][0];
    assert_eq!(chat_body["body"], r#"{"text":"+49 1"}"#);
    assert!(!api.to_string().contains("lit3ral"), "{api}");
    for (body, code) in [
        (json!({"body": {}}), 422),
        (json!({"source": "pbx", "body": "not json"}), 422),
        (json!({"source": "nope", "body": {}}), 422),
        (json!({"source": "pbx"}), 400),
        (
            json!({"source": "pbx", "body": {}, "headers": {"bad name": "x"}}),
            400,
        ),
    ] {
        let (status, answer) = explained(body.clone()).await;
        assert_eq!(status, code, "{body}: {answer}");
    }
    // Nothing was stored or sent.
    let page = get(&relay, "/api/events").await;
    assert_eq!(page["items"], json!([]), "{page}");
    assert_eq!((crm.count(), chat.count()), (0, 0));
    // A read token may explain but not act.
    let (status, _) = call(&relay, Method::POST, "/api/reload", Some(json!({})), READ).await;
    assert_eq!(status, 403);
}

/// A relay on `spool` (a path or a PostgreSQL URL) with target `a` at
/// `fake` (no retries) and `b` at a closed port.
async fn two_failing(fake: &FakeTarget, spool: Option<&str>) -> TestRelay {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let spool = spool.map_or_else(String::new, |s| format!("  spool: \"{s}\"\n"));
    TestRelay::start(&format!(
        "server:\n{spool}{}sources: {{s: {{}}}}\ntargets:\n  a: {{url: \"{}\", retry: {{attempts: 1}}}}\n  \
         b: {{url: \"http://127.0.0.1:{port}/b\", retry: {{attempts: 1}}}}\nroutes:\n  - to: [a, b]\n",
        tokens(),
        fake.url("/a"),
    ))
    .await
}

/// Groups by target and class, newest and oldest in order; the group's
/// filter counts and replays exactly that group.
async fn groups_replay_exactly_their_deliveries(relay: &TestRelay, fake: &FakeTarget) {
    fake.respond(500);
    for _ in 0..3 {
        relay.accept("s", fixture("minimal.json")).await;
    }
    wait_count(relay, "replay", json!({"state": "dead"}), 6).await;
    let groups = get(relay, "/api/dead-letters/groups").await["groups"].clone();
    let find = |target: &str| {
        groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["target"] == target)
            .unwrap_or_else(|| panic!("no group of {target} in {groups}"))
            .clone()
    };
    let (a, b) = (find("a"), find("b"));
    assert_eq!(
        (&a["class"], &a["count"], &a["state"]),
        (&json!("500"), &json!(3), &json!("dead"))
    );
    assert_eq!((&b["class"], &b["count"]), (&json!("connect"), &json!(3)));
    assert!(a["oldest_ms"].as_i64() <= a["newest_ms"].as_i64());
    assert_eq!(
        a["filter"],
        json!({"target": "a", "states": ["dead"], "class": "500"})
    );
    assert_eq!(count(relay, "replay", a["filter"].clone()).await, 3);
    let search = get(relay, "/api/events?class=connect&state=dead").await;
    assert_eq!(search["items"].as_array().unwrap().len(), 3);
    let none = get(relay, "/api/events?class=503").await;
    assert_eq!(none["items"], json!([]));

    // The command line selects by class too, through the API or on the spool.
    let admin = relay.admin("");
    let config = relay.config.display().to_string();
    for (from, at, class, n) in [
        ("--admin", &admin, "500", 3),
        ("--admin", &admin, "503", 0),
        ("--config", &config, "connect", 3),
    ] {
        let args = [
            "events",
            "replay",
            from,
            at,
            "--state",
            "dead",
            "--class",
            class,
            "--dry-run",
            "--json",
        ];
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_switchboard"))
                .args(&args)
                .env("SWITCHBOARD_ADMIN_TOKEN", OPERATE)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(output.status.success(), "{output:?}");
        let counted: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(counted, json!({"count": n}), "{from} --class {class}");
    }

    fake.respond(200);
    let (job, n) = start(relay, "replay", json!({"filter": a["filter"]})).await;
    assert_eq!(n, 3);
    fake.wait_for(6, WAIT).await;
    assert_eq!(wait_job(relay, &job).await["done"], 3);
    wait_count(relay, "replay", json!({"state": "dead"}), 3).await;
    let left = get(relay, "/api/dead-letters/groups").await;
    assert_eq!(left["groups"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left["groups"][0]["target"], "b");
}

#[tokio::test]
async fn dead_letters_group_by_target_and_class_on_sqlite() {
    let fake = FakeTarget::start().await;
    let relay = two_failing(&fake, None).await;
    groups_replay_exactly_their_deliveries(&relay, &fake).await;
    assert_eq!(get(&relay, "/api/status").await["replicas"], Value::Null);
}

#[tokio::test]
async fn dead_letters_group_by_target_and_class_on_postgres_which_lists_its_replicas() {
    let test = "dead_letters_group_by_target_and_class_on_postgres_which_lists_its_replicas";
    let Some(server) = crate::common::pg::shared(test) else {
        return;
    };
    let database = server.database().await;
    let fake = FakeTarget::start().await;
    let relay = two_failing(&fake, Some(&database)).await;
    groups_replay_exactly_their_deliveries(&relay, &fake).await;
    let replicas = get(&relay, "/api/status").await["replicas"].clone();
    assert_eq!(replicas.as_array().map(Vec::len), Some(1), "{replicas}");
}

#[tokio::test]
async fn the_config_is_shown_without_its_secrets_and_says_when_the_file_changed() {
    let fake = FakeTarget::start().await;
    let yaml = format!(
        "server:\n{}sources: {{ca_src: {{token: {{header: X-Token, value: '${{PBX_TOKEN}}'}}}}}}\n\
         targets:\n  t: {{url: \"{}\", headers: {{Authorization: 'Bearer ${{CRM_TOKEN}}', X-Key: pl41n}}}}\nroutes:\n  - to: [t]\n",
        tokens(),
        fake.url("/hook/s3gment?key=q"),
    );
    let relay =
        TestRelay::start_with_env(&yaml, &[("PBX_TOKEN", "env-pbx"), ("CRM_TOKEN", "env-crm")])
            .await;
    let shown = get(&relay, "/api/config").await;
    let text = shown.to_string();
    for secret in [
        "env-pbx", "env-crm", "pl41n", "s3gment", "key=q", OPERATE, READ,
    ] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    let target = &shown["config"]["targets"]["t"];
    assert_eq!(target["headers"]["Authorization"], "Bearer ${CRM_TOKEN}");
    assert_eq!(
        shown["config"]["sources"]["ca_src"]["token"]["value"],
        "${PBX_TOKEN}"
    );
    assert_eq!(shown["path"], relay.config.display().to_string());
    assert_eq!(shown["file_changed"], false);
    assert_eq!(shown["last_reload"], Value::Null);

    let written = std::fs::read_to_string(&relay.config).unwrap();
    std::fs::write(&relay.config, format!("{written}\n# edited\n")).unwrap();
    let changed = get(&relay, "/api/config").await;
    assert_eq!(changed["file_changed"], true);
    let (status, _) = post(&relay, "/api/reload", json!({})).await;
    assert_eq!(status, 200);
    let reloaded = get(&relay, "/api/config").await;
    assert_eq!(reloaded["file_changed"], false);
    assert_eq!(reloaded["last_reload"]["ok"], true);
    assert_ne!(reloaded["version"], shown["version"]);
}

#[tokio::test]
async fn whoami_names_the_token_and_its_role() {
    let fake = FakeTarget::start().await;
    let relay = TestRelay::start(&crate::bulk::one_target(&fake, "")).await;
    let read = get(&relay, "/api/whoami").await;
    assert_eq!(read, json!({"name": "dashboards", "role": "read"}));
    let (status, operate) = call(&relay, Method::GET, "/api/whoami", None, OPERATE).await;
    assert_eq!(
        (status, operate),
        (200, json!({"name": "oncall", "role": "operate"}))
    );
    let (status, _) = call(&relay, Method::GET, "/api/whoami", None, "wrong").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_status_counts_each_sources_answers() {
    let fake = FakeTarget::start().await;
    let yaml = format!(
        "server:\n{}sources: {{ca_in: {{}}, ca_quiet: {{}}}}\ntargets:\n  t: {{url: \"{}\"}}\nroutes:\n  - to: [t]\n",
        tokens(),
        fake.url("/t"),
    );
    let relay = TestRelay::start(&yaml).await;
    relay.accept("ca_in", fixture("minimal.json")).await;
    relay.accept("ca_in", fixture("full.json")).await;
    let refused = relay.post("ca_in", "not json").await;
    assert_eq!(refused.status(), 400);
    let status = get(&relay, "/api/status").await;
    let by_name = |name: &str| {
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["ingress"]
            .clone()
    };
    let busy = by_name("ca_in");
    assert_eq!(
        (&busy["accepted"], &busy["refused"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(busy["accepted_last_minute"], 2);
    let per_minute = busy["accepted_per_minute"].as_array().unwrap();
    assert_eq!(per_minute.len(), 60);
    assert_eq!(
        per_minute.iter().map(|n| n.as_u64().unwrap()).sum::<u64>(),
        2
    );
    assert_eq!(by_name("ca_quiet")["accepted"], 0);
}
