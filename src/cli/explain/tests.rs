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
