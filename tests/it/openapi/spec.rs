//! The admin API's OpenAPI document as a checker: every answer a test gets
//! must have a status the document lists for its operation, the headers
//! it names (`WWW-Authenticate`, `Allow`) and a body that validates
//! against the documented JSON Schema (`$ref`s resolved within the
//! document). Remembers which operations answered 2xx, so a test can
//! insist every documented operation was tried for real.

use std::collections::BTreeSet;
use std::sync::Mutex;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestRelay;

pub const OPERATE: &str = "oncall-s3cret";
pub const READ: &str = "read-s3cret";

/// The document, and what was tried of it.
pub struct Spec<'r> {
    pub relay: &'r TestRelay,
    pub doc: Value,
    /// `(path template, method)` of every operation that answered 2xx.
    answered: Mutex<BTreeSet<(String, String)>>,
}

/// A request: which operation, the concrete path (with the query), whose
/// token, and a body with its content type.
pub struct Ask<'a> {
    pub method: Method,
    pub template: &'a str,
    pub path: String,
    pub token: Option<&'a str>,
    pub body: Option<(&'a str, String)>,
    /// A `Host` header other than the listener's address.
    pub host: Option<&'a str>,
    /// An `Origin` header.
    pub origin: Option<&'a str>,
}

impl<'a> Ask<'a> {
    /// GET `path` (the operation `template`) with the read token.
    pub fn get(template: &'a str, path: impl Into<String>) -> Ask<'a> {
        Ask {
            method: Method::GET,
            template,
            path: path.into(),
            token: Some(READ),
            body: None,
            host: None,
            origin: None,
        }
    }

    /// POST `body` as JSON to `path` with the operate token.
    pub fn post(template: &'a str, path: impl Into<String>, body: Value) -> Ask<'a> {
        Ask {
            method: Method::POST,
            body: Some(("application/json", body.to_string())),
            token: Some(OPERATE),
            ..Ask::get(template, path)
        }
    }

    pub fn token(self, token: Option<&'a str>) -> Ask<'a> {
        Ask { token, ..self }
    }
}

/// The document's operations as `(path template, method)`.
pub fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            all.insert((template.clone(), method.clone()));
        }
    }
    all
}

impl<'r> Spec<'r> {
    /// Reads the document from the relay's own `GET /api/openapi.json`.
    pub async fn fetch(relay: &'r TestRelay) -> Spec<'r> {
        let response = relay
            .client
            .get(relay.admin("/api/openapi.json"))
            .bearer_auth(READ)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let doc: Value = response.json().await.unwrap();
        let spec = Spec {
            relay,
            doc,
            answered: Mutex::default(),
        };
        let (status, _) = spec
            .call(Ask::get("/api/openapi.json", "/api/openapi.json"))
            .await;
        assert_eq!(status, 200);
        spec
    }

    /// Operations that answered 2xx so far.
    pub fn answered(&self) -> BTreeSet<(String, String)> {
        self.answered.lock().unwrap().clone()
    }

    /// Sends `ask` and checks the answer against the document; the status
    /// and the body (JSON, or the text as a string).
    pub async fn call(&self, ask: Ask<'_>) -> (u16, Value) {
        let response = self.send(&ask).await;
        let status = response.status().as_u16();
        let documented = self.response(ask.template, &ask.method, status);
        let (_, body) = self.conform(&documented, response, &ask).await;
        if (200..300).contains(&status) {
            self.mark(ask.template, &ask.method);
            self.accepted_body(&ask);
        }
        (status, body)
    }

    /// A JSON body the relay took must be one the document describes.
    fn accepted_body(&self, ask: &Ask<'_>) {
        let Some((_, text)) = ask.body.as_ref().filter(|(_, text)| !text.is_empty()) else {
            return;
        };
        let method = ask.method.as_str().to_ascii_lowercase();
        let request = self.follow(&self.doc["paths"][ask.template][&method]["requestBody"]);
        let schema = &request["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {} took a body the document does not describe",
            ask.template
        );
        let body: Value = serde_json::from_str(text).unwrap();
        self.assert_valid(
            schema,
            &body,
            &format!("the request body of {method} {}", ask.template),
        );
    }

    /// Counts `method template` as answered 2xx (for a stream, checked by
    /// its reader).
    pub fn mark(&self, template: &str, method: &Method) {
        let method = method.as_str().to_ascii_lowercase();
        self.answered
            .lock()
            .unwrap()
            .insert((template.to_owned(), method));
    }

    /// Sends `ask` as it is.
    pub async fn send(&self, ask: &Ask<'_>) -> reqwest::Response {
        let mut request = self
            .relay
            .client
            .request(ask.method.clone(), self.relay.admin(&ask.path));
        if let Some(token) = ask.token {
            request = request.bearer_auth(token);
        }
        if let Some(host) = ask.host {
            request = request.header("host", host);
        }
        if let Some(origin) = ask.origin {
            request = request.header("origin", origin);
        }
        if let Some((content_type, body)) = &ask.body {
            request = request
                .header("content-type", *content_type)
                .body(body.clone());
        }
        request.send().await.unwrap()
    }

    /// The documented response of `method template` for `status`, its
    /// `$ref` followed; panics when the document does not list it.
    pub fn response(&self, template: &str, method: &Method, status: u16) -> Value {
        let method = method.as_str().to_ascii_lowercase();
        let operation = &self.doc["paths"][template][&method];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        let found = &operation["responses"][status.to_string()];
        assert!(
            found.is_object(),
            "{method} {template} answered {status}, which the document does not list"
        );
        self.follow(found).clone()
    }

    /// `value`, or what its `$ref` points at.
    pub fn follow<'v>(&'v self, value: &'v Value) -> &'v Value {
        match value["$ref"].as_str() {
            Some(r) => self.doc.pointer(r.trim_start_matches('#')).unwrap(),
            None => value,
        }
    }

    /// Checks an answer against its documented `response`: headers, media
    /// type, schema.
    pub async fn conform(
        &self,
        response_doc: &Value,
        response: reqwest::Response,
        ask: &Ask<'_>,
    ) -> (u16, Value) {
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        for (name, spec) in response_doc["headers"].as_object().into_iter().flatten() {
            let value = header(name).unwrap_or_else(|| panic!("{status} without {name}"));
            if let Some(expected) = spec["schema"]["const"].as_str() {
                assert_eq!(value, expected, "{name}");
            }
        }
        let content_type = header("content-type").unwrap_or_default();
        let bytes = response.bytes().await.unwrap();
        let what = format!("{} {} -> {status}", ask.method, ask.path);
        let content = &response_doc["content"];
        if let Some(media) = content.get("application/json") {
            assert!(
                content_type.starts_with("application/json"),
                "{what}: {content_type}"
            );
            let body: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {bytes:?}"));
            self.assert_valid(&media["schema"], &body, &what);
            (status, body)
        } else if content.get("text/plain").is_some() {
            assert!(
                content_type.starts_with("text/plain"),
                "{what}: {content_type}"
            );
            (
                status,
                Value::String(String::from_utf8(bytes.to_vec()).unwrap()),
            )
        } else if content.get("*/*").is_some() {
            (
                status,
                Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            )
        } else {
            panic!("{what}: no media type of {content} is checked here");
        }
    }

    /// Panics with every error unless `instance` validates against `schema`.
    pub fn assert_valid(&self, schema: &Value, instance: &Value, what: &str) {
        let errors = self.errors(schema, instance);
        assert!(
            errors.is_empty(),
            "{what}: the answer does not match the document:\n{}\n{instance:#}",
            errors.join("\n")
        );
    }

    /// Why `instance` does not validate against `schema`, a schema of the
    /// document (its `$ref`s point into the document's components).
    pub fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::validator_for(&root).unwrap();
        validator
            .iter_errors(instance)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    /// `GET`s the methods a documented path takes, as `Allow` should list
    /// them (HEAD with GET), sorted.
    pub fn allowed(&self, template: &str) -> Vec<String> {
        let mut methods: Vec<String> = self.doc["paths"][template]
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        if methods.iter().any(|m| m == "GET") {
            methods.push("HEAD".to_owned());
        }
        methods.sort();
        methods
    }
}
