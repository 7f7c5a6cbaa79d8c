//! Builds the tree from the YAML parser's events: collections opened and
//! closed, anchors remembered and aliases expanded, `<<` merge keys
//! applied, and the caps on depth and size that keep a hostile file small.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, ScalarStyle};

use super::{Node, Position, SyntaxError, Value};

/// Deepest nesting read: a routes.yaml needs a dozen levels; the checker
/// and the deserializer recurse, so a hostile file must not go deeper.
const MAX_DEPTH: usize = 128;

/// Most nodes in the tree, aliases counted as what they expand to: a file
/// of nested aliases ("billion laughs") must not fill memory.
const MAX_NODES: usize = 1_000_000;

/// Collections being built, innermost last.
#[derive(Default)]
pub(super) struct Builder {
    open: Vec<Open>,
    /// Anchored nodes with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    pub(super) document: Option<Node>,
    documents: usize,
    nodes: usize,
}

struct Open {
    node: Node,
    anchor: usize,
    /// A mapping's key, waiting for its value.
    key: Option<Node>,
}

impl Builder {
    pub(super) fn event(&mut self, event: Event<'_>, at: Position) -> Result<(), SyntaxError> {
        self.count(&event, at)?;
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(SyntaxError {
                        message: "a second YAML document (`---`); routes.yaml holds one".into(),
                        at,
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                // `!!str 8` is the string "8"; other tags leave the value
                // to the core schema.
                let tagged_str = tag.is_some_and(|t| t.is_yaml_core_schema_tag("str"));
                let plain = style == ScalarStyle::Plain && !tagged_str;
                let text = text.into_owned();
                self.finish(
                    Node {
                        value: Value::Scalar { text, plain },
                        at,
                    },
                    anchor,
                );
            }
            Event::Alias(id) => {
                let (mut node, _) = self.anchors.get(&id).cloned().ok_or(SyntaxError {
                    message: "an alias (`*name`) names no anchor defined before it".into(),
                    at,
                })?;
                node.at = at;
                self.finish(node, 0);
            }
            Event::SequenceStart(_, anchor, _) => self.start(Value::Seq(Vec::new()), at, anchor),
            Event::MappingStart(_, anchor, _) => self.start(Value::Map(Vec::new()), at, anchor),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(Open {
                    mut node, anchor, ..
                }) = self.open.pop()
                {
                    if let Value::Map(entries) = &mut node.value {
                        merge(entries);
                    }
                    self.finish(node, anchor);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Counts the nodes `event` adds (an alias as what it repeats) and
    /// refuses a file past [`MAX_DEPTH`] or [`MAX_NODES`].
    fn count(&mut self, event: &Event<'_>, at: Position) -> Result<(), SyntaxError> {
        let too = |what: &str| SyntaxError {
            message: format!("{what}; is this really routes.yaml?"),
            at,
        };
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) if self.open.len() >= MAX_DEPTH => {
                return Err(too(&format!("nested more than {MAX_DEPTH} levels deep")));
            }
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) => {
                self.nodes += 1;
            }
            Event::Alias(id) => {
                self.nodes += self.anchors.get(id).map_or(1, |(_, size)| *size);
            }
            _ => {}
        }
        if self.nodes > MAX_NODES {
            return Err(too(&format!(
                "more than {MAX_NODES} values (aliases counted as what they repeat)"
            )));
        }
        Ok(())
    }

    /// A collection opens; its items follow.
    fn start(&mut self, value: Value, at: Position, anchor: usize) {
        self.open.push(Open {
            node: Node { value, at },
            anchor,
            key: None,
        });
    }

    /// A complete node: into its parent, or the document.
    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size(&node)));
        }
        let Some(parent) = self.open.last_mut() else {
            self.document = Some(node);
            return;
        };
        match &mut parent.node.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => match parent.key.take() {
                None => parent.key = Some(node),
                Some(key) => entries.push((key, node)),
            },
            Value::Scalar { .. } => {}
        }
    }
}

/// Nodes in a tree, itself included.
fn size(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { .. } => 1,
        Value::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size(k) + size(v))
                .sum::<usize>()
        }
    }
}

/// Applies `<<: *defaults` (or a list of them): their keys join the mapping
/// unless it sets them itself.
fn merge(entries: &mut Vec<(Node, Node)>) {
    let is_merge =
        |key: &Node| matches!(&key.value, Value::Scalar { text, plain: true } if text == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = entries.drain(..).partition(|(k, _)| is_merge(k));
    for (key, value) in merges {
        let sources = match value.value {
            Value::Map(_) => vec![value],
            Value::Seq(items) => items,
            Value::Scalar { .. } => {
                // Not something to merge: leave it for the checker to name.
                own.push((key, value));
                continue;
            }
        };
        for source in sources {
            let Value::Map(inherited) = source.value else {
                continue;
            };
            for (k, v) in inherited {
                if !own
                    .iter()
                    .any(|(o, _)| o.text().is_some() && o.text() == k.text())
                {
                    own.push((k, v));
                }
            }
        }
    }
    *entries = own;
}
