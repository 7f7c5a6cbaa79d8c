//! `routes.yaml` as a tree of nodes, each with its line and column.
//!
//! The tree is what [`shape`](super::shape) checks against the config's
//! schema and repairs, and what [`de`](super::de) then deserializes. Anchors
//! and aliases are expanded and `<<` merge keys applied here, so nothing
//! later knows about them. This module must not know the config's shape.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError};

/// A line and column, both from 1.
pub type Position = (u64, u64);

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// Where it starts.
    pub at: Position,
}

/// A node's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar as written; `plain` when unquoted, so that its type is
    /// resolved by the YAML 1.2 core schema (`8` a number, `~` null).
    Scalar { text: String, plain: bool },
    /// `[a, b]` or `- a`.
    Seq(Vec<Node>),
    /// `{k: v}` or `k: v`, in file order, duplicates kept (the checker
    /// reports them).
    Map(Vec<(Node, Node)>),
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
}

impl Node {
    /// A quoted string, for repairs.
    pub fn string(text: &str, at: Position) -> Node {
        Node {
            value: Value::Scalar {
                text: text.to_owned(),
                plain: false,
            },
            at,
        }
    }

    /// A plain scalar, resolved like one written in the file.
    pub fn plain(text: &str, at: Position) -> Node {
        Node {
            value: Value::Scalar {
                text: text.to_owned(),
                plain: true,
            },
            at,
        }
    }

    /// The scalar's meaning, or `None` for a list or mapping.
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        match &self.value {
            Value::Scalar { text, plain: false } => Some(Scalar::Str(text)),
            Value::Scalar { text, plain: true } => Some(resolve(text)),
            _ => None,
        }
    }

    /// The scalar's text, whatever it means.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether this is a null (`~`, `null` or nothing at all).
    pub fn is_null(&self) -> bool {
        self.scalar() == Some(Scalar::Null)
    }
}

/// The YAML 1.2 core schema's reading of a plain scalar.
fn resolve(text: &str) -> Scalar<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    let int = if let Some(hex) = text.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()
    } else if let Some(octal) = text.strip_prefix("0o") {
        i128::from_str_radix(octal, 8).ok()
    } else if text
        .strip_prefix(['-', '+'])
        .unwrap_or(text)
        .bytes()
        .all(|b| b.is_ascii_digit())
    {
        text.parse().ok()
    } else {
        None
    };
    if let Some(int) = int {
        return Scalar::Int(int);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let float_like = digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    match text.parse::<f64>() {
        Ok(float) if float_like => Scalar::Float(float),
        _ => Scalar::Str(text),
    }
}

/// Why the text is not YAML at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What the YAML parser found.
    pub message: String,
    /// Where.
    pub at: Position,
}

/// Parses one YAML document. An empty file is an empty mapping.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(syntax)?;
        let at = (span.start.line() as u64, span.start.col() as u64 + 1);
        builder.event(event, at)?;
    }
    Ok(builder
        .document
        .unwrap_or_else(|| Node::string_map(Vec::new(), (1, 1))))
}

impl Node {
    fn string_map(entries: Vec<(Node, Node)>, at: Position) -> Node {
        Node {
            value: Value::Map(entries),
            at,
        }
    }
}

fn syntax(error: ScanError) -> SyntaxError {
    let marker = error.marker();
    SyntaxError {
        message: error.info(),
        at: (marker.line() as u64, marker.col() as u64 + 1),
    }
}

/// Deepest nesting read: a routes.yaml needs a dozen levels; the checker
/// and the deserializer recurse, so a hostile file must not go deeper.
const MAX_DEPTH: usize = 128;

/// Most nodes in the tree, aliases counted as what they expand to: a file
/// of nested aliases ("billion laughs") must not fill memory.
const MAX_NODES: usize = 1_000_000;

/// Collections being built, innermost last.
#[derive(Default)]
struct Builder {
    open: Vec<Open>,
    /// Anchored nodes with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    document: Option<Node>,
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
    fn event(&mut self, event: Event<'_>, at: Position) -> Result<(), SyntaxError> {
        let too = |what: &str| SyntaxError {
            message: format!("{what}; is this really routes.yaml?"),
            at,
        };
        match &event {
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
                let node = Node {
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    },
                    at,
                };
                self.finish(node, anchor);
            }
            Event::Alias(id) => {
                let (mut node, _) = self.anchors.get(&id).cloned().ok_or(SyntaxError {
                    message: "an alias (`*name`) names no anchor defined before it".into(),
                    at,
                })?;
                node.at = at;
                self.finish(node, 0);
            }
            Event::SequenceStart(_, anchor, _) => self.open.push(Open {
                node: Node {
                    value: Value::Seq(Vec::new()),
                    at,
                },
                anchor,
                key: None,
            }),
            Event::MappingStart(_, anchor, _) => self.open.push(Open {
                node: Node::string_map(Vec::new(), at),
                anchor,
                key: None,
            }),
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

#[cfg(test)]
mod tests;
