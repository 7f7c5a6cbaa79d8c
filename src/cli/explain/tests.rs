//! Tests of `cli/explain.rs`.

use super::*;

#[test]
fn parses_header_arguments() {
    let (name, value) = parse_header("X-Agent:  reception ").unwrap();
    assert_eq!(
        (name.as_str(), value.to_str().unwrap()),
        ("x-agent", "reception")
    );
    for bad in ["no colon", ": value", "bad name: x"] {
        assert!(parse_header(bad).is_err(), "{bad}");
    }
}

#[test]
fn configured_header_values_never_show() {
    let mut configured = HeaderMap::new();
    configured.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
    configured.insert("content-type", HeaderValue::from_static("text/plain"));
    let shown = request_headers(&configured, true);
    let names: Vec<&str> = shown.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "authorization",
            "content-type",
            "webhook-signature",
            "webhook-id",
            "webhook-timestamp",
            "user-agent"
        ]
    );
    assert!(shown.iter().all(|h| !h.value.contains("s3cret")));
}

#[test]
fn an_accepted_webhook_is_not_told_its_token_is_missing() {
    let yaml = "sources:\n  s: {token: {header: x-token, value: t0ken}}\ntargets:\n  t: {url: http://127.0.0.1:9/}\nroutes:\n  - to: [t]\n";
    let config = crate::config::Config::parse(yaml).unwrap();
    let runtime =
        Runtime::compile(config, &crate::config::interpolate::Env::default(), None).unwrap();
    let raw = Bytes::from_static(b"{\"call\": {\"id\": \"x\"}}");
    let fresh = explain(&runtime, Some("s"), &HeaderMap::new(), &raw).unwrap();
    assert_eq!(fresh.notes.len(), 1, "{:?}", fresh.notes);
    let stored = explain_accepted(&runtime, "s", &HeaderMap::new(), &raw).unwrap();
    assert!(stored.notes.is_empty(), "{:?}", stored.notes);
    assert_eq!(stored.deliveries.len(), 1);
}
