//! Tests of `config/shape/mod.rs`.

use super::*;
use crate::config::tree;

fn schema() -> Json {
    serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "default": "x"},
            "count": {"type": ["integer", "null"], "format": "uint32", "minimum": 0},
            "mode": {"oneOf": [{"const": "fast"}, {"const": "slow"}]},
            "parts": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Part"}}
        },
        "required": ["name"],
        "$defs": {
            "Part": {
                "type": "object",
                "additionalProperties": false,
                "properties": {"url": {"type": "string"}},
                "required": ["url"]
            }
        }
    })
}

#[test]
fn finds_every_problem_with_its_place_and_repairs_the_tree() {
    let mut root = tree::parse(
        "count: -1\nmode: slw\nparts:\n  a: {url: [x], extra: 1}\n  b: {}\n  a: {url: y}\n",
    )
    .unwrap();
    let report = check(&mut root, &schema());
    let found: Vec<(&str, Position, &str)> = report
        .found
        .iter()
        .map(|f| (f.place.as_str(), f.at, f.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "count",
                (1, 8),
                "expected a whole number from 0 to 4294967295, found the number `-1`"
            ),
            (
                "mode",
                (2, 7),
                "expected `fast` or `slow`, found `slw`; did you mean `slow`?"
            ),
            ("parts.a.url", (4, 12), "expected a string, found a list"),
            (
                "parts.a.extra",
                (4, 17),
                "unknown key `extra` (valid keys here: url)"
            ),
            (
                "parts.b.url",
                (5, 6),
                "the key `url` is missing; it is required here (a string)"
            ),
            (
                "parts.a",
                (6, 3),
                "duplicate key `a` (first set at line 4 column 3); write each key once"
            ),
            (
                "name",
                (1, 1),
                "the key `name` is missing; it is required here (a string such as `x`)"
            ),
        ]
    );
    assert_eq!(
        report.replaced,
        ["count", "mode", "parts.a.url", "parts.b.url", "name"]
    );
    // Checked again, the repaired tree has nothing left to report.
    assert!(check(&mut root, &schema()).found.is_empty(), "{root:#?}");
}
