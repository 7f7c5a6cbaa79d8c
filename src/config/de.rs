//! A serde deserializer over a checked [`Node`] tree, so that the config
//! types are filled from the tree [`shape`](super::shape) repaired, with every
//! `Located` value keeping its line and column.
//!
//! Requests are type-directed, like serde-saphyr's: a string field takes any
//! scalar as written (`8`, `yes`), a number field a plain number; only
//! `deserialize_any` (untagged enums, `serde_json::Value`) resolves plain
//! scalars by the YAML 1.2 core schema. The access types it hands out
//! (items, entries, variants, a `Located` value's fields) are `de/access.rs`.

use std::fmt;

use serde::de::{self, Deserializer, IntoDeserializer, Visitor};

use super::tree::{Node, Position, Scalar, Value};

mod access;

use access::{Entries, Items, SpannedDe, Variant};

/// A config type that could not be filled from the tree: a place where the
/// schema and serde disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// serde's message.
    pub message: String,
    /// The innermost node it arose at.
    pub at: Option<Position>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error {
            message: message.to_string(),
            at: None,
        }
    }
}

/// Deserializes `T` from `node`.
pub fn from_node<'de, T: serde::Deserialize<'de>>(node: &Node) -> Result<T, Error> {
    T::deserialize(NodeDe(node))
}

// serde-saphyr's protocol for `Spanned<T>`: it asks for a newtype struct of
// this name, then for a map whose first key is the marker, followed by
// `value`, `referenced` and `defined`. Pinned by Cargo.lock; the position
// tests in tests/it/config.rs fail if a new version changes it.
const SPANNED: &str = "__yaml_spanned";
const SPANNED_MARKER: &str = "__serde_saphyr_private_spanned";

struct NodeDe<'a>(&'a Node);

impl NodeDe<'_> {
    fn at<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|mut e| {
            e.at.get_or_insert(self.0.at);
            e
        })
    }

    fn number<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.scalar() {
            Some(Scalar::Int(i)) => self.at(int(i, visitor)),
            Some(Scalar::Float(f)) => self.at(visitor.visit_f64(f)),
            _ => self.deserialize_any(visitor),
        }
    }
}

fn int<'de, V: Visitor<'de>>(i: i128, visitor: V) -> Result<V::Value, Error> {
    if let Ok(u) = u64::try_from(i) {
        visitor.visit_u64(u)
    } else if let Ok(s) = i64::try_from(i) {
        visitor.visit_i64(s)
    } else {
        visitor.visit_i128(i)
    }
}

macro_rules! numbers {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.number(visitor)
        })*
    };
}

impl<'de> Deserializer<'de> for NodeDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.0.value {
            Value::Seq(items) => visitor.visit_seq(Items(items.iter())),
            Value::Map(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
                value: None,
            }),
            Value::Scalar { .. } => match self.0.scalar() {
                Some(Scalar::Null) => visitor.visit_unit(),
                Some(Scalar::Bool(b)) => visitor.visit_bool(b),
                Some(Scalar::Int(i)) => int(i, visitor),
                Some(Scalar::Float(f)) => visitor.visit_f64(f),
                Some(Scalar::Str(s)) => visitor.visit_str(s),
                None => visitor.visit_unit(),
            },
        };
        self.at(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.scalar() {
            Some(Scalar::Bool(b)) => self.at(visitor.visit_bool(b)),
            _ => self.deserialize_any(visitor),
        }
    }

    numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.text() {
            Some(text) => self.at(visitor.visit_str(text)),
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.0.is_null() {
            self.at(visitor.visit_none())
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.0.is_null() {
            self.at(visitor.visit_unit())
        } else {
            self.deserialize_any(visitor)
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == SPANNED {
            self.at(visitor.visit_newtype_struct(SpannedDe(self.0)))
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let result = match &self.0.value {
            // A scalar is a unit variant named by its text, as written.
            Value::Scalar { text, .. } => {
                visitor.visit_enum(IntoDeserializer::<Error>::into_deserializer(text.as_str()))
            }
            Value::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(Variant { key, value })
            }
            _ => return self.deserialize_any(visitor),
        };
        self.at(result)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

#[cfg(test)]
mod tests;
