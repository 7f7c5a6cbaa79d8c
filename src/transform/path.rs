//! Dotted paths into a JSON document: `assist.summary.topics[*]`,
//! `call.users[0].fullName`.
//!
//! A path is parsed once, at config compile time, into steps. Conditions ask
//! whether any value at a path satisfies a predicate ([`Path::any`]), without
//! allocating; `select` and `omit` transforms merge their paths into a
//! [`Tree`] and walk it alongside the document with a [`Cursor`], once, in
//! time linear in the document. Absent keys, `null` and empty arrays yield no
//! value at all, so every condition treats them alike. An array at the end of
//! a path yields its elements.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// An object member.
    Key(String),
    /// An array element by position.
    Index(usize),
    /// Every element of an array: `[*]`.
    Each,
}

/// Most steps in a path.
const MAX_STEPS: usize = 128;

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    text: String,
    steps: Vec<Step>,
}

/// Why a path does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid path `{path}`: {reason} (write it like `assist.summary.topics[*]` or `call.users[0].fullName`)"
)]
pub struct PathError {
    path: String,
    reason: &'static str,
}

impl Path {
    /// Parses `a.b[*].c[0]`. Keys may hold any character but `.`, `[` and `]`.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let fail = |reason| PathError {
            path: text.to_owned(),
            reason,
        };
        if text.trim().is_empty() {
            return Err(fail("it is empty"));
        }
        let mut steps = Vec::new();
        for (i, segment) in text.split('.').enumerate() {
            let (key, mut rest) = match segment.find('[') {
                Some(at) => segment.split_at(at),
                None => (segment, ""),
            };
            if key.contains(']') {
                return Err(fail("a `]` without `[`"));
            }
            // Only the first segment may start with `[`: `[*].name` on an array.
            if key.is_empty() && (i != 0 || rest.is_empty()) {
                return Err(fail("an empty key (two dots, or a dot at an end)"));
            }
            if !key.is_empty() {
                steps.push(Step::Key(key.to_owned()));
            }
            while !rest.is_empty() {
                let Some(close) = rest.find(']') else {
                    return Err(fail("a `[` without `]`"));
                };
                let inside = &rest[1..close];
                steps.push(match inside {
                    "*" => Step::Each,
                    n => Step::Index(
                        n.parse()
                            .map_err(|_| fail("an index that is not `*` or a number"))?,
                    ),
                });
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(fail("text after `]` that is not another `[...]` or `.`"));
                }
            }
        }
        // A payload nests at most 128 levels (serde_json's limit), so a
        // longer path never matches; and `select` merges paths into a tree
        // that is built and dropped recursively, one frame per step.
        if steps.len() > MAX_STEPS {
            return Err(fail("more steps than a payload has levels (at most 128)"));
        }
        Ok(Path {
            text: text.to_owned(),
            steps,
        })
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Whether any value at this path satisfies `pred`. Arrays reached at the
    /// end are visited element by element; `null` is never visited.
    pub fn any(&self, root: &Value, mut pred: impl FnMut(&Value) -> bool) -> bool {
        any_at(root, &self.steps, &mut pred)
    }

    /// Whether the path yields at least one value: present, not `null`, not `[]`.
    pub fn exists(&self, root: &Value) -> bool {
        self.any(root, |_| true)
    }
}

fn any_at(value: &Value, steps: &[Step], pred: &mut dyn FnMut(&Value) -> bool) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return match value {
            Value::Null => false,
            Value::Array(items) => items.iter().any(|item| !item.is_null() && pred(item)),
            leaf => pred(leaf),
        };
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => map.get(key).is_some_and(|v| any_at(v, rest, pred)),
        (Step::Index(i), Value::Array(items)) => {
            items.get(*i).is_some_and(|v| any_at(v, rest, pred))
        }
        (Step::Each, Value::Array(items)) => items.iter().any(|v| any_at(v, rest, pred)),
        _ => false,
    }
}

/// Several paths merged into one tree of steps, so that a document is walked
/// once however many paths there are.
#[derive(Debug, Default, Clone)]
pub struct Tree {
    /// A path ends here.
    end: bool,
    keys: BTreeMap<String, Tree>,
    indexes: BTreeMap<usize, Tree>,
    each: Option<Box<Tree>>,
}

impl Tree {
    /// Merges the paths.
    pub fn new(paths: &[Path]) -> Tree {
        let mut root = Tree::default();
        for path in paths {
            let mut node = &mut root;
            for step in path.steps() {
                node = match step {
                    Step::Key(key) => node.keys.entry(key.clone()).or_default(),
                    Step::Index(i) => node.indexes.entry(*i).or_default(),
                    Step::Each => node.each.get_or_insert_default(),
                };
            }
            node.end = true;
        }
        root
    }
}

/// One concrete step into a document: a member or an array position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At<'a> {
    Key(&'a str),
    Index(usize),
}

/// The tree nodes that apply to one value of a document: a range of its
/// [`Cursor`]'s stack.
#[derive(Debug, Clone, Copy)]
pub struct Level {
    start: usize,
    end: usize,
}

impl Level {
    /// No path goes through this value.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// Walks a [`Tree`] alongside a document. A value can be reached by several
/// paths at once (`a[*].x` and `a[1].y` both reach `a[1]`), so each value
/// has a set of nodes, not one: kept on one stack, so that stepping costs
/// a map lookup per node and allocates nothing once the stack has grown.
/// (Resolving every path to concrete places first and looking each value
/// up among them made `[*]` quadratic in the array's length: issue 13.)
#[derive(Debug)]
pub struct Cursor<'t> {
    stack: Vec<&'t Tree>,
}

impl<'t> Cursor<'t> {
    /// A cursor at a document's root.
    pub fn new(tree: &'t Tree) -> (Cursor<'t>, Level) {
        (Cursor { stack: vec![tree] }, Level { start: 0, end: 1 })
    }

    /// Whether a path ends at this value: it is selected, or omitted, whole.
    pub fn ends(&self, level: Level) -> bool {
        self.nodes(level).iter().any(|n| n.end)
    }

    /// The nodes at `level`; none for a level this cursor did not make.
    fn nodes(&self, level: Level) -> &[&'t Tree] {
        self.stack.get(level.start..level.end).unwrap_or_default()
    }

    /// Runs `f` with the nodes that apply to the child `at` of a value at
    /// `level`.
    pub fn descend<R>(
        &mut self,
        level: Level,
        at: At<'_>,
        f: impl FnOnce(&mut Cursor<'t>, Level) -> R,
    ) -> R {
        let start = self.stack.len();
        for n in level.start..level.end.min(start) {
            let Some(&node) = self.stack.get(n) else {
                break;
            };
            match at {
                At::Key(key) => self.stack.extend(node.keys.get(key)),
                At::Index(i) => {
                    self.stack.extend(node.each.as_deref());
                    self.stack.extend(node.indexes.get(&i));
                }
            }
        }
        let end = self.stack.len();
        let out = f(self, Level { start, end });
        self.stack.truncate(start);
        out
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(path: &str, doc: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        Path::parse(path).unwrap().any(doc, |v| {
            out.push(v.clone());
            false
        });
        out
    }

    #[test]
    fn parses_keys_indexes_and_wildcards() {
        let p = Path::parse("a.b[*].c[0][*]").unwrap();
        assert_eq!(
            p.steps(),
            [
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Each,
                Step::Key("c".into()),
                Step::Index(0),
                Step::Each
            ]
        );
        assert_eq!(
            Path::parse("[*].x").unwrap().steps(),
            [Step::Each, Step::Key("x".into())]
        );
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in ["", "a..b", "a.", ".a", "a[", "a[x]", "a]b", "a[0]b"] {
            assert!(Path::parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(Path::parse("a.".repeat(128).trim_end_matches('.')).is_ok());
        assert!(Path::parse(&format!("{}b", "a.".repeat(128))).is_err());
    }

    #[test]
    fn absent_null_and_empty_yield_nothing() {
        let doc = json!({"a": null, "b": [], "c": {"d": [null]}});
        for path in ["a", "b", "c.d", "c.d[*]", "x.y", "b[0]", "a[*].z"] {
            assert!(values(path, &doc).is_empty(), "{path} yielded something");
            assert!(!Path::parse(path).unwrap().exists(&doc));
        }
    }

    #[test]
    fn walks_nested_arrays_of_objects() {
        let doc = json!({"s": [{"a": [{"q": 1}, {"q": 2}]}, {"a": [{"q": 3}]}, {"b": 1}]});
        assert_eq!(values("s[*].a[*].q", &doc), [json!(1), json!(2), json!(3)]);
        assert_eq!(values("s[1].a[0].q", &doc), [json!(3)]);
        assert_eq!(values("s[0].a", &doc), [json!({"q": 1}), json!({"q": 2})]);
    }
}
