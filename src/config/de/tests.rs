//! Tests of `config/de.rs`.

use super::super::tree;
use super::*;
use serde_saphyr::Spanned;

#[derive(Debug, serde::Deserialize)]
struct Sample {
    name: Spanned<String>,
    count: u32,
    maybe: Option<String>,
    any: serde_json::Value,
}

#[test]
fn fills_types_and_spans_from_the_tree() {
    let node = tree::parse("name: 8\ncount: 3\nmaybe: ~\nany: {a: [1, x, \"2\", true]}\n").unwrap();
    let sample: Sample = from_node(&node).unwrap();
    assert_eq!(sample.name.value, "8");
    assert_eq!(
        (
            sample.name.referenced.line(),
            sample.name.referenced.column()
        ),
        (1, 7)
    );
    assert_eq!(sample.count, 3);
    assert_eq!(sample.maybe, None);
    assert_eq!(sample.any, serde_json::json!({"a": [1, "x", "2", true]}));
}
