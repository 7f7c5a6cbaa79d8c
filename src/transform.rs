//! What a target receives: the original bytes, a `select`ed or `omit`ted
//! subset, or a jq reshaping.
//!
//! Transforms are compiled from config once and rendered once per webhook and
//! target at accept time. `None` forwards the sender's bytes untouched: no
//! re-serialization, so signatures over the body and number formatting
//! survive. No I/O here.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::jq::{JqError, Program};
use crate::path::{Path, Step};

/// A compiled transform.
#[derive(Debug)]
pub enum Transform {
    /// The original bytes.
    None,
    /// Only these paths, with the document's structure and key order.
    Select(Selection),
    /// Everything but these paths.
    Omit(Vec<Path>),
    /// The first output of a jq program.
    Jq(Program),
}

/// Why a body could not be rendered for a target.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Jq(#[from] JqError),
    #[error("the jq program produced no output for this webhook")]
    NoOutput,
}

impl Transform {
    /// Renders the body for one target. `raw` is the request body exactly as
    /// received and `doc` its parse.
    pub fn render(&self, raw: &Bytes, doc: &Value) -> Result<Bytes, RenderError> {
        let value = match self {
            Transform::None => return Ok(raw.clone()),
            Transform::Select(selection) => selection.apply(doc),
            Transform::Omit(paths) => omit(doc, paths),
            Transform::Jq(program) => program.first(doc)?.ok_or(RenderError::NoOutput)?,
        };
        // Serializing a `Value` cannot fail: its keys are strings.
        Ok(Bytes::from(serde_json::to_vec(&value).unwrap_or_default()))
    }
}

/// A set of `select` paths merged into one tree, so the document is walked
/// once however many paths there are.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// The whole value at this point is kept.
    keep: bool,
    children: BTreeMap<Step, Selection>,
}

impl Selection {
    /// Merges the paths into a tree.
    pub fn new(paths: &[Path]) -> Selection {
        let mut root = Selection::default();
        for path in paths {
            let mut node = &mut root;
            for step in path.steps() {
                node = node.children.entry(step.clone()).or_default();
            }
            node.keep = true;
        }
        root
    }

    /// The selected sub-document; `{}` when nothing is selected.
    pub fn apply(&self, doc: &Value) -> Value {
        self.prune(doc).unwrap_or_else(|| Value::Object(Map::new()))
    }

    fn prune(&self, value: &Value) -> Option<Value> {
        if self.keep {
            return Some(value.clone());
        }
        match value {
            Value::Object(map) => {
                let out: Map<String, Value> = map
                    .iter()
                    .filter_map(|(key, v)| {
                        let child = self.children.get(&Step::Key(key.clone()))?;
                        Some((key.clone(), child.prune(v)?))
                    })
                    .collect();
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Value::Array(items) => {
                let each = self.children.get(&Step::Each);
                let out: Vec<Value> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| match (each, self.children.get(&Step::Index(i))) {
                        (Some(a), Some(b)) => a.union(b).prune(v),
                        (Some(node), None) | (None, Some(node)) => node.prune(v),
                        (None, None) => None,
                    })
                    .collect();
                (!out.is_empty()).then_some(Value::Array(out))
            }
            _ => None,
        }
    }

    fn union(&self, other: &Selection) -> Selection {
        let mut merged = self.clone();
        merged.keep |= other.keep;
        for (step, child) in &other.children {
            let entry = merged.children.entry(step.clone()).or_default();
            *entry = entry.union(child);
        }
        merged
    }
}

/// The document without the values at `paths`. Every path is resolved
/// against the original document first (`[*]` to each index), then the
/// places are removed deepest and last-in-array first, so that no removal
/// shifts a position another path named: indexes mean original positions.
fn omit(doc: &Value, paths: &[Path]) -> Value {
    let mut places = Vec::new();
    for path in paths {
        resolve(doc, path.steps(), &mut Vec::new(), &mut places);
    }
    places.sort();
    places.dedup();
    let mut out = doc.clone();
    for place in places.iter().rev() {
        remove(&mut out, place);
    }
    out
}

/// One concrete step: a member or an array position.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum At {
    Key(String),
    Index(usize),
}

/// Collects the concrete places `steps` reaches in `value`.
fn resolve(value: &Value, steps: &[Step], prefix: &mut Vec<At>, out: &mut Vec<Vec<At>>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(prefix.clone());
        return;
    };
    let mut visit = |at: At, next: &Value| {
        prefix.push(at);
        resolve(next, rest, prefix, out);
        prefix.pop();
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => {
            if let Some(next) = map.get(key) {
                visit(At::Key(key.clone()), next);
            }
        }
        (Step::Index(i), Value::Array(items)) => {
            if let Some(next) = items.get(*i) {
                visit(At::Index(*i), next);
            }
        }
        (Step::Each, Value::Array(items)) => {
            for (i, next) in items.iter().enumerate() {
                visit(At::Index(i), next);
            }
        }
        _ => {}
    }
}

/// Removes the value at one concrete place, if it is still there.
fn remove(value: &mut Value, place: &[At]) {
    let Some((last, parents)) = place.split_last() else {
        return;
    };
    let mut node = value;
    for at in parents {
        let next = match (at, node) {
            (At::Key(key), Value::Object(map)) => map.get_mut(key),
            (At::Index(i), Value::Array(items)) => items.get_mut(*i),
            _ => None,
        };
        let Some(next) = next else {
            return;
        };
        node = next;
    }
    match (last, node) {
        (At::Key(key), Value::Object(map)) => {
            map.shift_remove(key);
        }
        (At::Index(i), Value::Array(items)) if *i < items.len() => {
            items.remove(*i);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn paths(list: &[&str]) -> Vec<Path> {
        list.iter().map(|p| Path::parse(p).unwrap()).collect()
    }

    fn render(t: &Transform, doc: &Value) -> String {
        let raw = Bytes::from(serde_json::to_vec(doc).unwrap());
        String::from_utf8(t.render(&raw, doc).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn none_forwards_the_original_bytes() {
        let raw = Bytes::from_static(b"{ \"b\" : 1.50,\n \"a\": 2 }");
        let doc: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(Transform::None.render(&raw, &doc).unwrap(), raw);
    }

    #[test]
    fn select_keeps_structure_and_order() {
        let doc = json!({"z": 1, "call": {"id": "x", "from": "49", "to": "1"},
            "assist": {"s": [{"name": "a", "id": 1, "x": 0}, {"id": 2}, {"x": 9}]}});
        let t = Transform::Select(Selection::new(&paths(&[
            "assist.s[*].name",
            "call.from",
            "call.id",
            "assist.s[*].id",
        ])));
        assert_eq!(
            render(&t, &doc),
            r#"{"call":{"id":"x","from":"49"},"assist":{"s":[{"name":"a","id":1},{"id":2}]}}"#
        );
        let nothing = Transform::Select(Selection::new(&paths(&["nope"])));
        assert_eq!(render(&nothing, &doc), "{}");
    }

    #[test]
    fn select_of_an_index_and_a_wildcard_merges() {
        let doc = json!({"a": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]});
        let t = Transform::Select(Selection::new(&paths(&["a[*].x", "a[1].y"])));
        assert_eq!(render(&t, &doc), r#"{"a":[{"x":1},{"x":3,"y":4}]}"#);
    }

    #[test]
    fn omit_drops_paths_and_keeps_the_rest() {
        let doc = json!({"call": {"id": "x"}, "assist": {"transcription": {"c": "..."}, "s": [{"a": 1, "b": 2}, {"a": 3}]}, "l": [0, 1, 2]});
        let t = Transform::Omit(paths(&[
            "assist.transcription",
            "assist.s[*].a",
            "l[0]",
            "l[2]",
            "missing.x",
        ]));
        assert_eq!(
            render(&t, &doc),
            r#"{"call":{"id":"x"},"assist":{"s":[{"b":2},{}]},"l":[1]}"#
        );
    }

    #[test]
    fn omit_indexes_mean_original_positions() {
        let doc = json!({"a": [[0, 1, 2], [3, 4]], "l": [0, 1, 2, 3]});
        let t = Transform::Omit(paths(&["a[*][0]", "a[0][1]", "l[1]", "l[2]", "l[*]"]));
        assert_eq!(render(&t, &doc), r#"{"a":[[2],[4]],"l":[]}"#);
        let t = Transform::Omit(paths(&["a[0][1]", "a[0]"]));
        assert_eq!(render(&t, &doc), r#"{"a":[[3,4]],"l":[0,1,2,3]}"#);
    }

    #[test]
    fn jq_without_output_is_an_error() {
        let t = Transform::Jq(Program::compile("empty").unwrap());
        assert!(matches!(
            t.render(&Bytes::new(), &json!({})),
            Err(RenderError::NoOutput)
        ));
    }
}
