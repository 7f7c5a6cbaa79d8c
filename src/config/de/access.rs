//! The serde access types [`super`]'s deserializer hands out: a sequence's
//! items, a mapping's entries, an enum's variant, and a `Located` value's
//! fields with its position.
//!
//! Walks the checked tree only; no type-directed decisions here.

use serde::de::value::{MapDeserializer, StrDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::{Error, NodeDe, SPANNED_MARKER};
use crate::config::tree::Node;

pub(super) struct Items<'a>(pub(super) std::slice::Iter<'a, Node>);

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|node| seed.deserialize(NodeDe(node)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

pub(super) struct Entries<'a> {
    pub(super) entries: std::slice::Iter<'a, (Node, Node)>,
    pub(super) value: Option<&'a Node>,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(NodeDe(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(NodeDe(value)),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// `{key: value}` read as an externally tagged enum.
pub(super) struct Variant<'a> {
    pub(super) key: &'a Node,
    pub(super) value: &'a Node,
}

impl<'de, 'a> EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = NodeDe<'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, NodeDe<'a>), Error> {
        Ok((seed.deserialize(NodeDe(self.key))?, NodeDe(self.value)))
    }
}

impl<'de> VariantAccess<'de> for NodeDe<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        serde::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
}

/// A node offered the way serde-saphyr offers a `Spanned<T>`.
pub(super) struct SpannedDe<'a>(pub(super) &'a Node);

impl<'de> Deserializer<'de> for SpannedDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(SpannedFields {
            node: self.0,
            next: 0,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

pub(super) struct SpannedFields<'a> {
    node: &'a Node,
    next: usize,
}

const SPANNED_FIELDS: [&str; 4] = [SPANNED_MARKER, "value", "referenced", "defined"];

impl<'de> MapAccess<'de> for SpannedFields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(name) = SPANNED_FIELDS.get(self.next) else {
            return Ok(None);
        };
        let key: StrDeserializer<'_, Error> = name.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let field = self.next;
        self.next += 1;
        let (line, column) = self.node.at;
        match field {
            0 => seed.deserialize(().into_deserializer()),
            1 => seed.deserialize(NodeDe(self.node)),
            _ => seed.deserialize(MapDeserializer::new(
                [
                    ("line", u32::try_from(line).unwrap_or(u32::MAX)),
                    ("column", u32::try_from(column).unwrap_or(u32::MAX)),
                ]
                .into_iter(),
            )),
        }
    }
}
