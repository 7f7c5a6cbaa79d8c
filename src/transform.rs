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
            Transform::Omit(paths) => return Ok(Bytes::from(omit(doc, paths))),
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

/// The document without the values at `paths`, serialized. Every path is
/// resolved against the original document first (`[*]` to each index), so
/// indexes mean original positions; the places are then skipped while
/// writing, without copying the document.
fn omit(doc: &Value, paths: &[Path]) -> Vec<u8> {
    let mut cut = Cut::default();
    let mut place = Vec::new();
    for path in paths {
        resolve(doc, path.steps(), &mut place, &mut |place: &[At<'_>]| {
            cut.add(place)
        });
    }
    let mut out = Vec::with_capacity(256);
    write_without(&mut out, doc, &cut);
    out
}

/// One concrete step: a member or an array position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At<'a> {
    Key(&'a str),
    Index(usize),
}

/// The places to leave out, as a tree over the document.
#[derive(Debug, Default)]
struct Cut<'a> {
    /// This value is left out whole.
    gone: bool,
    /// Places below this value (few: a linear search beats hashing).
    below: Vec<(At<'a>, Cut<'a>)>,
}

impl<'a> Cut<'a> {
    fn add(&mut self, place: &[At<'a>]) {
        let Some((first, rest)) = place.split_first() else {
            self.gone = true;
            return;
        };
        let i = match self.below.iter().position(|(at, _)| at == first) {
            Some(i) => i,
            None => {
                self.below.push((*first, Cut::default()));
                self.below.len() - 1
            }
        };
        self.below[i].1.add(rest);
    }

    fn get(&self, at: At<'_>) -> Option<&Cut<'a>> {
        self.below
            .iter()
            .find(|(here, _)| *here == at)
            .map(|(_, cut)| cut)
    }
}

/// Collects the concrete places `steps` reaches in `value`.
fn resolve<'a>(
    value: &'a Value,
    steps: &[Step],
    prefix: &mut Vec<At<'a>>,
    found: &mut dyn FnMut(&[At<'a>]),
) {
    let Some((step, rest)) = steps.split_first() else {
        found(prefix);
        return;
    };
    let mut visit = |at: At<'a>, next: &'a Value| {
        prefix.push(at);
        resolve(next, rest, prefix, found);
        prefix.pop();
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => {
            if let Some((key, next)) = map.get_key_value(key) {
                visit(At::Key(key), next);
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

/// Writes `value` as compact JSON (exactly as `serde_json::to_vec` would)
/// without the places in `cut`.
fn write_without(out: &mut Vec<u8>, value: &Value, cut: &Cut<'_>) {
    // Serializing a `Value` into a `Vec` cannot fail: its keys are strings.
    if cut.below.is_empty() {
        let _ = serde_json::to_writer(&mut *out, value);
        return;
    }
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let mut first = true;
            for (key, v) in map {
                let below = cut.get(At::Key(key));
                if below.is_some_and(|c| c.gone) {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                let _ = serde_json::to_writer(&mut *out, key);
                out.push(b':');
                match below {
                    Some(below) => write_without(out, v, below),
                    None => {
                        let _ = serde_json::to_writer(&mut *out, v);
                    }
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            let mut first = true;
            for (i, v) in items.iter().enumerate() {
                let below = cut.get(At::Index(i));
                if below.is_some_and(|c| c.gone) {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                match below {
                    Some(below) => write_without(out, v, below),
                    None => {
                        let _ = serde_json::to_writer(&mut *out, v);
                    }
                }
            }
            out.push(b']');
        }
        leaf => {
            let _ = serde_json::to_writer(&mut *out, leaf);
        }
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
    fn omit_writes_what_serde_json_would() {
        let text = r#"{"k\"ey": 1.5e300, "ü": "a\nb\u0000", "n": [-0.0, 18446744073709551615, {"x": null, "y": [true]}], "e": {}, "z": []}"#;
        let doc: Value = serde_json::from_str(text).unwrap();
        let t = Transform::Omit(paths(&["n[2].x", "missing", "e.q"]));
        let mut expected = doc.clone();
        expected["n"][2].as_object_mut().unwrap().shift_remove("x");
        assert_eq!(render(&t, &doc), serde_json::to_string(&expected).unwrap());
        let all = Transform::Omit(paths(&["k\"ey", "ü", "n", "e", "z"]));
        assert_eq!(render(&all, &doc), "{}");
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
