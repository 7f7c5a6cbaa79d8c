//! What a target receives: the original bytes, a `select`ed or `omit`ted
//! subset, or a jq reshaping.
//!
//! Transforms are compiled from config once and rendered once per webhook and
//! target at accept time. `None` forwards the sender's bytes untouched: no
//! re-serialization, so signatures over the body and number formatting
//! survive. No I/O here.

pub mod jq;
pub mod path;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::transform::jq::{JqError, Program};
use crate::transform::path::{At, Cursor, Level, Path, Tree};

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
pub struct Selection(Tree);

impl Selection {
    /// Merges the paths into a tree.
    pub fn new(paths: &[Path]) -> Selection {
        Selection(Tree::new(paths))
    }

    /// The selected sub-document; `{}` when nothing is selected.
    pub fn apply(&self, doc: &Value) -> Value {
        let (mut cursor, root) = Cursor::new(&self.0);
        prune(&mut cursor, root, doc).unwrap_or_else(|| Value::Object(Map::new()))
    }
}

/// The parts of `value` the paths at `level` reach; `None` when none.
fn prune(cursor: &mut Cursor<'_>, level: Level, value: &Value) -> Option<Value> {
    if level.is_empty() {
        return None;
    }
    if cursor.ends(level) {
        return Some(value.clone());
    }
    match value {
        Value::Object(map) => {
            let out: Map<String, Value> = map
                .iter()
                .filter_map(|(key, v)| {
                    let kept = cursor.descend(level, At::Key(key), |c, l| prune(c, l, v))?;
                    Some((key.clone(), kept))
                })
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let out: Vec<Value> = items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| cursor.descend(level, At::Index(i), |c, l| prune(c, l, v)))
                .collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        _ => None,
    }
}

/// The document without the values at `paths`, serialized. Indexes mean
/// original positions: the document is written as it is walked, skipping
/// what a path ends at, without copying it. The paths are merged here, per
/// render: a handful of steps, next to a walk of the whole body.
fn omit(doc: &Value, paths: &[Path]) -> Vec<u8> {
    let tree = Tree::new(paths);
    let (mut cursor, root) = Cursor::new(&tree);
    let mut out = Vec::with_capacity(256);
    write_without(&mut out, &mut cursor, root, doc);
    out
}

/// Writes `value` as compact JSON (exactly as `serde_json::to_vec` would)
/// without the values a path at `level` ends at below it.
fn write_without(out: &mut Vec<u8>, cursor: &mut Cursor<'_>, level: Level, value: &Value) {
    // Serializing a `Value` into a `Vec` cannot fail: its keys are strings.
    if level.is_empty() {
        let _ = serde_json::to_writer(&mut *out, value);
        return;
    }
    match value {
        Value::Object(map) => {
            let members = map.iter().map(|(key, v)| (At::Key(key), Some(key), v));
            write_members(out, cursor, level, [b'{', b'}'], members);
        }
        Value::Array(items) => {
            let members = items
                .iter()
                .enumerate()
                .map(|(i, v)| (At::Index(i), None, v));
            write_members(out, cursor, level, [b'[', b']'], members);
        }
        leaf => {
            let _ = serde_json::to_writer(&mut *out, leaf);
        }
    }
}

/// Writes an object's members (with their keys) or an array's elements
/// between `brackets`, leaving out those a path ends at.
fn write_members<'v>(
    out: &mut Vec<u8>,
    cursor: &mut Cursor<'_>,
    level: Level,
    brackets: [u8; 2],
    members: impl Iterator<Item = (At<'v>, Option<&'v String>, &'v Value)>,
) {
    out.push(brackets[0]);
    let mut first = true;
    for (at, key, v) in members {
        cursor.descend(level, at, |cursor, below| {
            if cursor.ends(below) {
                return;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            if let Some(key) = key {
                let _ = serde_json::to_writer(&mut *out, key);
                out.push(b':');
            }
            write_without(out, cursor, below, v);
        });
    }
    out.push(brackets[1]);
}

#[cfg(test)]
mod tests;
