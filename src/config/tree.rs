//! `routes.yaml` as a tree of nodes, each with its line and column.
//!
//! The tree is what [`shape`](super::shape) checks against the config's
//! schema and repairs, and what [`de`](super::de) then deserializes. Anchors
//! and aliases are expanded and `<<` merge keys applied here, so nothing
//! later knows about them (`tree/build.rs`, with the depth and size caps).
//! This module must not know the config's shape.

use serde_saphyr::granit_parser::{Parser, ScanError};

mod build;

use build::Builder;

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

#[cfg(test)]
mod tests;
