//! Tests of `spool/history.rs` and its rows.

use super::*;

#[test]
fn bodies_are_text_when_utf8_else_base64_and_left_out_when_large() {
    let text = Inline::of(b"{\"a\":1}");
    assert_eq!((text.encoding.as_str(), text.size), ("utf8", 7));
    assert_eq!(text.content.as_deref(), Some("{\"a\":1}"));
    let binary = Inline::of(&[0xff, 0x00, 0x10]);
    assert_eq!(binary.encoding, "base64");
    assert_eq!(binary.bytes(), Some(vec![0xff, 0x00, 0x10]));
    let large = Inline::of(&vec![b'a'; INLINE_BYTES + 1]);
    assert!(large.truncated && large.content.is_none());
    let shown = serde_json::to_value(&large).unwrap();
    assert_eq!(shown["size"], INLINE_BYTES + 1);
}

#[test]
fn a_sent_body_is_marked_original_or_unrendered() {
    let row = |state: &str, body: Option<Vec<u8>>| DeliveryRow {
        id: 1,
        event: "e".into(),
        target: "crm".into(),
        route: "r".into(),
        state: state.into(),
        attempts: 0,
        last_status: None,
        last_class: None,
        last_error: Some("jq: boom".into()),
        due_ms: 0,
        updated_ms: 0,
        body,
    };
    let original = serde_json::to_value(row("pending", None).view(&[]).body).unwrap();
    assert_eq!(original, serde_json::json!({"original": true}));
    let own = serde_json::to_value(row("dead", Some(b"{}".to_vec())).view(&[]).body).unwrap();
    assert_eq!(
        own,
        serde_json::json!({"size": 2, "encoding": "utf8", "content": "{}"})
    );
    let none = serde_json::to_value(row("unrendered", None).view(&[]).body).unwrap();
    assert_eq!(none, serde_json::json!({"unrendered": "jq: boom"}));
}
