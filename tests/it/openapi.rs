//! `GET /api/openapi.json` against the real admin API: a relay with a
//! delivered webhook, a dead letter with the CRM's 500, an unrendered
//! delivery (a failing jq), a paused target, a job and audit rows; every
//! operation of the document asked for real (each must answer 2xx at
//! least once, and the document must have no operation the test did not
//! try), every answer's status listed for its operation and its body valid
//! against the documented schema; and the errors: 400, 401, 403, 404, 405
//! with `Allow`, 409, 415, 422.

mod console;
mod refusals;
mod spec;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, FakeTarget, Reply, TestRelay, WAIT, fixture};
use spec::{Ask, OPERATE, READ, Spec, operations};

const UNKNOWN: &str = "019ae3c4-5b1a-7d2e-8f00-0123456789ab";

fn config(ok: &FakeTarget, crm: &FakeTarget, source: &str) -> String {
    format!(
        "server:\n  admin_tokens:\n    - {{name: oncall, token: {OPERATE}, role: operate}}\n    - {{name: dashboards, token: {READ}, role: read}}\n\
         sources:\n  {source}: {{keys: {{call: call.id, caller: call.from}}}}\n\
         targets:\n  oa_ok: {{url: \"{}\"}}\n  oa_crm: {{url: \"{}\", retry: {{attempts: 1}}}}\n  \
         oa_jq: {{url: \"{}\", transform: {{jq: '.call.from + 1'}}}}\n  oa_held: {{url: \"{}\"}}\n\
         routes:\n  - name: all\n    to: [oa_ok, oa_crm, oa_jq, oa_held]\n",
        ok.url("/ok"),
        crm.url("/crm"),
        ok.url("/jq"),
        ok.url("/held"),
    )
}

#[tokio::test]
async fn the_document_describes_every_answer_of_the_admin_api() {
    let ok = FakeTarget::start().await;
    let crm = FakeTarget::start().await;
    crm.script([Reply::Json(500, r#"{"error": "database unavailable"}"#)]);
    crm.respond(500);
    let relay = TestRelay::start(&config(&ok, &crm, "oa_src")).await;
    let api = Spec::fetch(&relay).await;
    assert_eq!(api.doc["openapi"], "3.1.0");
    jsonschema::meta::validate(&json!({"$defs": api.doc["components"]["schemas"]})).unwrap();

    let (status, _) = api
        .call(Ask::post(
            "/api/targets/{name}/pause",
            "/api/targets/oa_held/pause",
            json!({}),
        ))
        .await;
    assert_eq!(status, 200);
    let id = relay.accept_id("oa_src", fixture("full.json")).await;
    ok.wait_for(1, WAIT).await;
    crm.wait_for(1, WAIT).await;
    wait_dead(&api).await;
    let call = common::fixture_json("full.json")["call"]["id"].clone();
    relay
        .wait_indexed("call", call.as_str().unwrap(), &id, Some(OPERATE))
        .await;

    probes(&api).await;
    history(&api, &id).await;
    targets(&api).await;
    bulk(&api).await;
    console::console(&api).await;
    dead_letters(&api, &id).await;
    audit(&api).await;
    tail(&api).await;
    refusals::refusals(&api).await;
    reload(&api, &relay, &ok, &crm, &id).await;

    assert_eq!(
        api.answered(),
        operations(&api.doc),
        "the operations the document lists and those that answered 2xx here differ"
    );
}

/// Waits until the CRM's delivery is a dead letter.
async fn wait_dead(api: &Spec<'_>) {
    tokio::time::timeout(WAIT, async {
        loop {
            let ask = Ask::get("/api/dead-letters", "/api/dead-letters?target=oa_crm");
            let (status, body) = api.call(ask).await;
            assert_eq!(status, 200);
            if !body["dead_letters"].as_array().unwrap().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("no dead letter");
}

/// `/metrics`, `/healthz`, `/readyz`, `/api/status`: no token for the first three.
async fn probes(api: &Spec<'_>) {
    for path in ["/metrics", "/healthz", "/readyz"] {
        let (status, body) = api.call(Ask::get(path, path).token(None)).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, body) = api.call(Ask::get("/api/status", "/api/status")).await;
    assert_eq!(status, 200);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

/// The search, one webhook's story, its bytes and its explanation.
async fn history(api: &Spec<'_>, id: &str) {
    let call = common::fixture_json("full.json")["call"]["id"].clone();
    let call = call.as_str().unwrap();
    let search = format!("/api/events?key.call={call}&state=dead,delivered&since=1h&limit=10");
    let (status, page) = api.call(Ask::get("/api/events", search)).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["id"], id, "{page}");
    let (_, page) = api
        .call(Ask::get(
            "/api/events",
            "/api/events?limit=1&target=oa_held",
        ))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    let (status, event) = api
        .call(Ask::get("/api/events/{id}", format!("/api/events/{id}")))
        .await;
    assert_eq!(status, 200);
    let states: Vec<&str> = event["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    for state in ["delivered", "dead", "unrendered", "pending"] {
        assert!(states.contains(&state), "{state} among {states:?}");
    }
    let crm = event["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["target"] == "oa_crm");
    assert_eq!(
        crm.unwrap()["timeline"][0]["response_body"]["encoding"],
        "utf8"
    );

    let (status, body) = api
        .call(Ask::get(
            "/api/events/{id}/body",
            format!("/api/events/{id}/body"),
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body.as_str().unwrap().as_bytes(), fixture("full.json"));
    let (status, explained) = api
        .call(Ask::get(
            "/api/events/{id}/explain",
            format!("/api/events/{id}/explain"),
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(explained["config_changed"], false);
}

/// The targets' state, a series, a probe refused for a paused target and
/// one with nothing due.
async fn targets(api: &Spec<'_>) {
    let (status, all) = api.call(Ask::get("/api/targets", "/api/targets")).await;
    assert_eq!(status, 200);
    let held = all["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "oa_held");
    assert_eq!(held.unwrap()["paused_by"], "oncall");
    let series = "/api/targets/oa_crm/series?window=24h";
    let (status, _) = api
        .call(Ask::get("/api/targets/{name}/series", series))
        .await;
    assert_eq!(status, 200);
    let probe = |name: &str| {
        Ask::post(
            "/api/targets/{name}/probe",
            format!("/api/targets/{name}/probe"),
            json!({}),
        )
    };
    let (status, body) = api.call(probe("oa_held")).await;
    assert_eq!(status, 409, "a paused target is not probed: {body}");
    let (status, body) = api.call(probe("oa_ok")).await;
    assert_eq!(status, 200);
    assert_eq!(body["probe"], "nothing_due");
}

/// Dry runs, a cancel job, its progress and a stop after its end; then the
/// paused target resumed.
async fn bulk(api: &Spec<'_>) {
    let replay = "/api/deliveries/replay";
    let dry = json!({"filter": {"target": "oa_jq", "states": ["unrendered"]}, "dry_run": true});
    let (status, body) = api.call(Ask::post(replay, replay, dry)).await;
    assert_eq!((status, &body["count"]), (200, &json!(1)), "{body}");
    let cancel = "/api/deliveries/cancel";
    let (status, body) = api
        .call(Ask::post(
            cancel,
            cancel,
            json!({"filter": {"target": "oa_held"}}),
        ))
        .await;
    assert_eq!(status, 202, "{body}");
    let job = format!("/api/jobs/{}", body["job"].as_str().unwrap());
    tokio::time::timeout(WAIT, async {
        while api.call(Ask::get("/api/jobs/{id}", job.clone())).await.1["state"] == "running" {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the job never ended");
    let stop = Ask {
        method: Method::DELETE,
        token: Some(OPERATE),
        ..Ask::get("/api/jobs/{id}", job)
    };
    let (status, body) = api.call(stop).await;
    assert_eq!((status, &body["state"]), (200, &json!("done")), "{body}");
    let resume = "/api/targets/oa_held/resume";
    let (status, body) = api
        .call(Ask::post("/api/targets/{name}/resume", resume, json!({})))
        .await;
    assert_eq!((status, &body["changed"]), (200, &json!(true)), "{body}");
}

/// The dead-letter shorthand: replay, then purge.
async fn dead_letters(api: &Spec<'_>, id: &str) {
    let replay = "/api/dead-letters/replay";
    let (status, body) = api
        .call(Ask::post(replay, replay, json!({"target": "oa_crm"})))
        .await;
    assert_eq!((status, &body["replayed"]), (200, &json!(1)), "{body}");
    let purge = "/api/dead-letters/purge";
    let (status, _) = api
        .call(Ask::post(purge, purge, json!({"ids": [id]})))
        .await;
    assert_eq!(status, 200);
}

/// The audit log, two pages.
async fn audit(api: &Spec<'_>) {
    let (status, page) = api.call(Ask::get("/api/audit", "/api/audit?limit=2")).await;
    assert_eq!(status, 200);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = format!("/api/audit?limit=500&cursor={cursor}");
    let (_, rest) = api.call(Ask::get("/api/audit", rest)).await;
    let actions: Vec<&Value> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["entries"].as_array().unwrap())
        .map(|e| &e["action"])
        .collect();
    for action in ["pause", "probe", "cancel", "resume", "replay", "purge"] {
        assert!(actions.contains(&&json!(action)), "{action} in {actions:?}");
    }
}

/// The live tail: a webhook accepted while watching arrives as an
/// `accepted` event, then its attempts; each event's data is a `TailEvent`.
async fn tail(api: &Spec<'_>) {
    let ask = Ask::get("/api/tail", "/api/tail?source=oa_src");
    let mut response = api.send(&ask).await;
    assert_eq!(response.status(), 200);
    let schema = api.response("/api/tail", &Method::GET, 200)["content"]["text/event-stream"]
        ["x-event-data"]
        .clone();
    assert!(schema.is_object(), "the tail's events are documented");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    let complete = |seen: &str| {
        ["accepted", "attempt", "dead_letter"]
            .iter()
            .all(|kind| seen.contains(&format!("event: {kind}\ndata: ")))
            && seen.ends_with("\n\n")
    };
    tokio::time::timeout(WAIT, async {
        let mut posted = false;
        while !complete(&seen) {
            let chunk = response.chunk().await.unwrap().expect("the stream ended");
            seen.push_str(std::str::from_utf8(&chunk).unwrap());
            if !posted {
                api.relay.accept("oa_src", fixture("minimal.json")).await;
                posted = true;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not every kind of event in {seen:?}"));
    for data in seen.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let event: Value = serde_json::from_str(data).unwrap();
        api.assert_valid(&schema, &event, "a tail event");
    }
    api.mark("/api/tail", &Method::GET);
}

/// A reload the config refuses (422, the old one stays), then one that
/// drops the webhook's source: its explanation is then a 409.
async fn reload(api: &Spec<'_>, relay: &TestRelay, ok: &FakeTarget, crm: &FakeTarget, id: &str) {
    let spool = relay.config.with_file_name("spool.db");
    let write =
        |yaml: &str| std::fs::write(&relay.config, common::with_spool(yaml, &spool)).unwrap();
    write("targets: [");
    let (status, body) = api
        .call(Ask::post("/api/reload", "/api/reload", json!({})))
        .await;
    assert_eq!((status, &body["ok"]), (422, &json!(false)), "{body}");
    write(&config(ok, crm, "oa_renamed"));
    let mut empty = Ask::post("/api/reload", "/api/reload", json!({}));
    empty.body = Some(("application/json", String::new()));
    let (status, body) = api.call(empty).await;
    assert_eq!((status, &body["ok"]), (200, &json!(true)), "{body}");
    let explain = format!("/api/events/{id}/explain");
    let (status, body) = api
        .call(Ask::get("/api/events/{id}/explain", explain))
        .await;
    assert_eq!(status, 409, "{body}");
}
