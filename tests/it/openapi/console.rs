//! The operator console's endpoints in the document's test: a payload
//! explained (by a read token: it only reads), the config in force, the
//! dead letters by group (whose filter selects exactly the group), who
//! calls, and the status's ingress counts.

use serde_json::json;

use super::spec::{Ask, READ, Spec};
use crate::common::fixture;

/// Asked while the CRM's delivery is a dead letter with its 500.
pub async fn console(api: &Spec<'_>) {
    let full = String::from_utf8(fixture("full.json")).unwrap();
    let explain = "/api/explain";
    let ask = Ask::post(
        explain,
        explain,
        json!({"source": "oa_src", "body": full, "headers": {"X-Agent": "reception"}}),
    )
    .token(Some(READ));
    let (status, body) = api.call(ask).await;
    assert_eq!(status, 200, "a read token may explain: {body}");
    assert_eq!(body["explanation"]["routes"][0]["matched"], true);
    assert_eq!(
        body["explanation"]["deliveries"].as_array().unwrap().len(),
        4
    );
    let (status, body) = api
        .call(Ask::post(
            explain,
            explain,
            json!({"source": "nope", "body": {}}),
        ))
        .await;
    assert_eq!(status, 422, "{body}");

    let (status, config) = api.call(Ask::get("/api/config", "/api/config")).await;
    assert_eq!(status, 200);
    let (_, state) = api.call(Ask::get("/api/status", "/api/status")).await;
    assert_eq!(config["version"], state["config_version"]);
    assert_eq!(config["file_changed"], false);
    assert_eq!(config["config"]["routes"][0]["name"], "all");
    let token = &config["config"]["server"]["admin_tokens"][0]["token"];
    assert_eq!(token, "[redacted]");
    assert!(state["replicas"].is_null(), "SQLite has no replicas");
    let ingress = &state["sources"][0]["ingress"];
    assert!(ingress["accepted"].as_u64().unwrap() >= 1, "{ingress}");

    let (status, who) = api.call(Ask::get("/api/whoami", "/api/whoami")).await;
    assert_eq!(status, 200);
    assert_eq!(who, json!({"name": "dashboards", "role": "read"}));

    let groups = "/api/dead-letters/groups";
    let (status, body) = api.call(Ask::get(groups, groups)).await;
    assert_eq!(status, 200);
    let group = body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["target"] == "oa_crm")
        .unwrap_or_else(|| panic!("no group of oa_crm in {body}"));
    assert_eq!(
        (&group["class"], &group["count"]),
        (&json!("500"), &json!(1))
    );
    let replay = "/api/deliveries/replay";
    let dry = json!({"filter": group["filter"], "dry_run": true});
    let (status, body) = api.call(Ask::post(replay, replay, dry)).await;
    assert_eq!((status, &body["count"]), (200, &json!(1)), "{body}");
    let search = "/api/events?target=oa_crm&state=dead&class=500";
    let (status, page) = api.call(Ask::get("/api/events", search)).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
}
