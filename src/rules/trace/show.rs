//! How a trace writes what it saw on one line: operators, lists, values
//! (quoted, cut, elided), and which parts held.
//!
//! Text only; deciding whether anything matched is `trace.rs`'s job.

use serde_json::Value;

use super::Trace;
use crate::rules::{Op, Text};

/// How many found values a "did not match" line lists before `…`.
const SHOWN: usize = 5;
/// How many characters of one value a line shows before `…`.
const WIDTH: usize = 60;

pub(super) fn describe_op(op: &Op) -> String {
    match op {
        Op::Equals(v) => format!("equals {}", short(v)),
        Op::In(list) => format!("in [{}]", join(list.iter().map(short))),
        Op::Contains(v) => format!("contains {}", short(v)),
        Op::Matches(re) => format!("matches /{}/", re.as_str()),
        Op::Gt(v) => format!("gt {}", short(v)),
        Op::Lt(v) => format!("lt {}", short(v)),
    }
}

pub(super) fn describe_text(test: &Text) -> String {
    match test {
        Text::Equals(v) => format!("equals {}", quote(v)),
        Text::In(list) => format!("in [{}]", join(list.iter().map(|v| quote(v)))),
        Text::Matches(re) => format!("matches /{}/", re.as_str()),
    }
}

/// `[0]`, `[0, 2]`: the positions of the parts that did (`holding`) or did
/// not hold; `None` when there are none.
pub(super) fn indexes(parts: &[Trace], holding: bool) -> Option<String> {
    let positions: Vec<String> = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.matched == holding)
        .map(|(i, _)| i.to_string())
        .collect();
    (!positions.is_empty()).then(|| format!("[{}]", positions.join(", ")))
}

/// A configured list as written: `[complaint, billing complaint]`.
pub(super) fn list(values: &[String]) -> String {
    format!("[{}]", values.join(", "))
}

pub(super) fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// At most [`SHOWN`] items, then how many more.
pub(super) fn shown(items: impl ExactSizeIterator<Item = String>) -> String {
    let total = items.len();
    let mut out = join(items.take(SHOWN));
    if total > SHOWN {
        out.push_str(&format!(" and {} more", total - SHOWN));
    }
    out
}

/// A value on one line: strings quoted, objects and arrays elided.
pub(super) fn short(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Object(map) if !map.is_empty() => "{…}".to_owned(),
        Value::Array(items) if !items.is_empty() => "[…]".to_owned(),
        other => other.to_string(),
    }
}

/// A string in JSON quotes, cut at [`WIDTH`] characters.
pub(super) fn quote(text: &str) -> String {
    let cut: String = text.chars().take(WIDTH).collect();
    let ellipsis = if cut.len() < text.len() { "…" } else { "" };
    format!("{}{ellipsis}", Value::String(cut))
}
