//! The admin API's refusals against the document: a bad parameter or body
//! (400, naming it), an unknown id or target (404), and for every
//! operation of the document a missing token (401), a read token acting
//! (403), a POST that is not JSON (415), and for every path another method
//! (405 with the `Allow` the document implies).

use reqwest::Method;
use serde_json::{Value, json};

use super::UNKNOWN;
use super::spec::{Ask, OPERATE, READ, Spec, operations};

/// `template` with its parameters filled in.
fn concrete(template: &str) -> String {
    template.replace("{id}", UNKNOWN).replace("{name}", "oa_ok")
}

/// Every refusal.
pub async fn refusals(api: &Spec<'_>) {
    bad_requests(api).await;
    not_found(api).await;
    guarded(api).await;
    other_methods(api).await;
}

/// 400s that name what is wrong.
async fn bad_requests(api: &Spec<'_>) {
    for (template, path, named) in [
        ("/api/events", "/api/events?state=lost", "state"),
        ("/api/events", "/api/events?sorce=x", "sorce"),
        ("/api/audit", "/api/audit?limit=0", "limit"),
        (
            "/api/dead-letters",
            "/api/dead-letters?before_ms=soon",
            "before_ms",
        ),
        (
            "/api/targets/{name}/series",
            "/api/targets/oa_crm/series?window=7d",
            "window",
        ),
        ("/api/tail", "/api/tail?outcome=nope", "outcome"),
    ] {
        let (status, body) = api.call(Ask::get(template, path)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(named),
            "{path}: {body}"
        );
    }
    for (template, path, body, named) in [
        (
            "/api/deliveries/replay",
            "/api/deliveries/replay",
            json!({"filter": {}}),
            "all",
        ),
        (
            "/api/deliveries/cancel",
            "/api/deliveries/cancel",
            json!({"filter": {"state": "lost"}}),
            "lost",
        ),
        (
            "/api/dead-letters/replay",
            "/api/dead-letters/replay",
            json!({}),
            "all",
        ),
        (
            "/api/dead-letters/purge",
            "/api/dead-letters/purge",
            json!({"all": true, "target": "oa_crm"}),
            "all",
        ),
        ("/api/reload", "/api/reload", json!({"x": 1}), "x"),
        (
            "/api/targets/{name}/pause",
            "/api/targets/oa_ok/pause",
            json!({"x": 1}),
            "x",
        ),
    ] {
        let (status, answer) = api.call(Ask::post(template, path, body)).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(named),
            "{path}: {answer}"
        );
    }
    let mut unparsable = Ask::get("/api/status", "/api/status");
    unparsable.host = Some("exa mple");
    let (status, body) = api.call(unparsable).await;
    assert_eq!(status, 400, "a Host that is not one: {body}");
}

/// 404s for what does not exist.
async fn not_found(api: &Spec<'_>) {
    for template in [
        "/api/events/{id}",
        "/api/events/{id}/body",
        "/api/events/{id}/explain",
        "/api/jobs/{id}",
    ] {
        let (status, _) = api.call(Ask::get(template, concrete(template))).await;
        assert_eq!(status, 404, "{template}");
    }
    let series = "/api/targets/{name}/series";
    let (status, _) = api.call(Ask::get(series, "/api/targets/nope/series")).await;
    assert_eq!(status, 404);
    for action in ["pause", "resume", "probe"] {
        let template = format!("/api/targets/{{name}}/{action}");
        let path = format!("/api/targets/nope/{action}");
        let (status, _) = api.call(Ask::post(&template, path, json!({}))).await;
        assert_eq!(status, 404, "{action}");
    }
    let stop = Ask {
        method: Method::DELETE,
        token: Some(OPERATE),
        ..Ask::get("/api/jobs/{id}", concrete("/api/jobs/{id}"))
    };
    assert_eq!(api.call(stop).await.0, 404);
    let unknown = api.send(&Ask::get("/api/nope", "/api/nope")).await;
    assert_eq!(unknown.status(), 404);
    let documented = api
        .follow(&json!({"$ref": "#/components/responses/NotFound"}))
        .clone();
    api.conform(&documented, unknown, &Ask::get("/api/nope", "/api/nope"))
        .await;
}

/// For every `/api/` operation: 401 without a token; 403 with a read token
/// unless it only reads, and from another web page; 415 for a POST that is
/// not JSON.
async fn guarded(api: &Spec<'_>) {
    for (template, method) in operations(&api.doc) {
        if !template.starts_with("/api/") {
            continue;
        }
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let ask = |token: Option<&'static str>, content_type: &'static str| Ask {
            method: method.clone(),
            token,
            body: (method == Method::POST).then(|| (content_type, "{}".to_owned())),
            ..Ask::get(&template, concrete(&template))
        };
        let what = format!("{method} {template}");
        assert_eq!(
            api.call(ask(None, "application/json")).await.0,
            401,
            "{what}"
        );
        // The document says which operations a read token may call (a
        // POST that only reads, such as `/api/explain`, among them).
        let scope = &api.doc["paths"][&template][&method.as_str().to_ascii_lowercase()]["security"]
            [0]["bearer"][0];
        if method != Method::GET {
            let by_read = api.call(ask(Some(READ), "application/json")).await;
            if scope == "read" {
                assert_ne!(by_read.0, 403, "{what} reads: {}", by_read.1);
            } else {
                assert_eq!(by_read.0, 403, "{what}");
            }
        }
        if method == Method::POST {
            assert_eq!(
                api.call(ask(Some(OPERATE), "text/plain")).await.0,
                415,
                "{what}"
            );
        }
        let mut cross = ask(Some(OPERATE), "application/json");
        cross.origin = Some("http://evil.example");
        assert_eq!(api.call(cross).await.0, 403, "{what} from another page");
    }
}

/// Every documented path with a method it does not take: 405, `Allow`
/// listing what the document lists (and HEAD with GET).
async fn other_methods(api: &Spec<'_>) {
    let documented: Value = api
        .follow(&json!({"$ref": "#/components/responses/MethodNotAllowed"}))
        .clone();
    for template in api.doc["paths"].as_object().unwrap().keys() {
        let ask = Ask {
            method: Method::PUT,
            token: Some(OPERATE),
            ..Ask::get(template, concrete(template))
        };
        let response = api.send(&ask).await;
        assert_eq!(response.status(), 405, "PUT {template}");
        let mut allow: Vec<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        allow.sort();
        assert_eq!(allow, api.allowed(template), "Allow of {template}");
        api.conform(&documented, response, &ask).await;
    }
    let head = Ask {
        method: Method::HEAD,
        ..Ask::get("/api/status", "/api/status")
    };
    assert_eq!(api.send(&head).await.status(), 200);
}
