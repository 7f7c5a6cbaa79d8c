//! `GET /api/openapi.json`: the admin API described as an OpenAPI 3.1
//! document, every path, method, parameter, body, status and JSON Schema.
//!
//! The document is `openapi.json` beside this file, embedded in the binary
//! as it is written: a reviewer reads it (and a generator consumes it)
//! without running anything, and a change to the API shows as a diff of
//! the document. Building it with `serde_json` here would have put some
//! two thousand lines of `json!` into Rust for no check the file lacks:
//! the tests below hold it to the router, and `tests/it/openapi.rs` to
//! real answers. Must not describe anything the router does not serve.

use warp::reply::{Reply, Response};

/// The document, as served.
const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /api/openapi.json`.
pub(super) fn document() -> Response {
    let mut response = Response::new(DOCUMENT.into());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response.into_response()
}

#[cfg(test)]
mod tests {
    use http::Method;
    use serde_json::Value;

    use super::DOCUMENT;
    use crate::admin::guard::{Endpoint, Refusal, TargetAction, route};

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).unwrap()
    }

    /// The path template and method that document `endpoint`. Exhaustive:
    /// a new endpoint does not compile until it is placed in the document.
    fn documented(endpoint: &Endpoint) -> (&'static str, Method) {
        let get = Method::GET;
        match endpoint {
            Endpoint::Metrics => ("/metrics", get),
            Endpoint::Healthz => ("/healthz", get),
            Endpoint::Readyz => ("/readyz", get),
            Endpoint::Status => ("/api/status", get),
            Endpoint::Event(_) => ("/api/events/{id}", get),
            Endpoint::Events => ("/api/events", get),
            Endpoint::EventBody(_) => ("/api/events/{id}/body", get),
            Endpoint::EventExplain(_) => ("/api/events/{id}/explain", get),
            Endpoint::DeadLetters => ("/api/dead-letters", get),
            Endpoint::Replay => ("/api/dead-letters/replay", Method::POST),
            Endpoint::Purge => ("/api/dead-letters/purge", Method::POST),
            Endpoint::Reload => ("/api/reload", Method::POST),
            Endpoint::BulkReplay => ("/api/deliveries/replay", Method::POST),
            Endpoint::BulkCancel => ("/api/deliveries/cancel", Method::POST),
            Endpoint::Job(_) => ("/api/jobs/{id}", get),
            Endpoint::StopJob(_) => ("/api/jobs/{id}", Method::DELETE),
            Endpoint::Audit => ("/api/audit", get),
            Endpoint::Targets => ("/api/targets", get),
            Endpoint::TargetSeries(_) => ("/api/targets/{name}/series", get),
            Endpoint::TargetAction(_, TargetAction::Pause) => {
                ("/api/targets/{name}/pause", Method::POST)
            }
            Endpoint::TargetAction(_, TargetAction::Resume) => {
                ("/api/targets/{name}/resume", Method::POST)
            }
            Endpoint::TargetAction(_, TargetAction::Probe) => {
                ("/api/targets/{name}/probe", Method::POST)
            }
            Endpoint::Tail => ("/api/tail", get),
            Endpoint::OpenApi => ("/api/openapi.json", get),
            Endpoint::Explain => ("/api/explain", Method::POST),
            Endpoint::Config => ("/api/config", get),
            Endpoint::DeadGroups => ("/api/dead-letters/groups", get),
            Endpoint::Whoami => ("/api/whoami", get),
        }
    }

    /// `template` with its parameters filled in.
    fn concrete(template: &str) -> String {
        template
            .replace("{id}", "019ae3c4-5b1a-7d2e-8f00-0123456789ab")
            .replace("{name}", "crm")
    }

    #[test]
    fn it_is_openapi_3_1_of_this_version() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn every_documented_operation_is_routed_to_its_endpoint_and_no_other_method_is() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        for (template, item) in paths {
            let path = concrete(template);
            let methods: Vec<Method> = item
                .as_object()
                .unwrap()
                .keys()
                .map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap())
                .collect();
            for method in &methods {
                let endpoint = route(method, &path)
                    .unwrap_or_else(|e| panic!("{method} {template} is documented: {e:?}"));
                assert_eq!(
                    documented(&endpoint),
                    (template.as_str(), method.clone()),
                    "{method} {template}"
                );
            }
            for method in [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
            ] {
                if methods.contains(&method) {
                    continue;
                }
                let Err(Refusal::MethodNotAllowed { allow }) = route(&method, &path) else {
                    panic!("{method} {template} is not documented but not a 405");
                };
                let mut listed: Vec<String> = methods.iter().map(ToString::to_string).collect();
                if methods.contains(&Method::GET) {
                    listed.push("HEAD".to_owned());
                }
                let mut allowed: Vec<&str> = allow.split(", ").collect();
                allowed.sort_unstable();
                listed.sort_unstable();
                assert_eq!(allowed, listed, "Allow of {template}");
            }
        }
    }

    #[test]
    fn every_endpoint_is_in_the_document() {
        let doc = document();
        let action = |a| Endpoint::TargetAction("crm".into(), a);
        let id = || "019a".to_owned();
        for endpoint in [
            Endpoint::Metrics,
            Endpoint::Healthz,
            Endpoint::Readyz,
            Endpoint::Status,
            Endpoint::Event(id()),
            Endpoint::Events,
            Endpoint::EventBody(id()),
            Endpoint::EventExplain(id()),
            Endpoint::DeadLetters,
            Endpoint::Replay,
            Endpoint::Purge,
            Endpoint::Reload,
            Endpoint::BulkReplay,
            Endpoint::BulkCancel,
            Endpoint::Job(id()),
            Endpoint::StopJob(id()),
            Endpoint::Audit,
            Endpoint::Targets,
            Endpoint::TargetSeries("crm".into()),
            action(TargetAction::Pause),
            action(TargetAction::Resume),
            action(TargetAction::Probe),
            Endpoint::Tail,
            Endpoint::OpenApi,
        ] {
            let (template, method) = documented(&endpoint);
            let method = method.as_str().to_ascii_lowercase();
            assert!(
                doc["paths"][template][&method].is_object(),
                "{endpoint:?}: {method} {template} is not in the document"
            );
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external $ref {r}"));
            assert!(doc.pointer(pointer).is_some(), "{r} resolves to nothing");
        }
    }

    fn collect_refs(value: &Value, refs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| collect_refs(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
            _ => {}
        }
    }
}
