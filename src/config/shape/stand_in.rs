//! Stand-ins: the value put in place of a wrong one, so that the repaired
//! tree deserializes and compiling it finds the problems with its meaning.

use serde_json::{Map, Value as Json};

use super::{Walker, choices, is_null_schema, range, required, types};
use crate::config::tree::{Node, Position, Value};

impl<'s> Walker<'s> {
    /// A value that deserializes as `schema` wants: the default, else an
    /// empty value of the type (with the required keys), not null even where
    /// null is allowed: a missing value could make its parent wrong too
    /// (`answer` without a test), while a complaint about the stand-in
    /// itself is at the replaced place, which is not reported twice.
    pub(super) fn placeholder(&self, schema: &'s Json, at: Position) -> Node {
        let schema = self.resolve(schema);
        let Some(object) = schema.as_object() else {
            return Node::plain("~", at);
        };
        if let Some(alternatives) = object
            .get("anyOf")
            .or_else(|| object.get("oneOf"))
            .and_then(Json::as_array)
        {
            return match alternatives
                .iter()
                .find(|a| !is_null_schema(self.resolve(a)))
            {
                Some(first) => self.placeholder(first, at),
                None => Node::plain("~", at),
            };
        }
        if let Some(default) = object.get("default") {
            return from_json(default, at);
        }
        if let Some(first) = choices(object).and_then(|c| c.into_iter().next()) {
            return Node::string(&first, at);
        }
        let types = types(object);
        match types.iter().map(String::as_str).find(|t| *t != "null") {
            Some("string") => Node::string("", at),
            Some("integer" | "number") => {
                let low = range(object).map_or(0, |(low, _)| low.max(0));
                Node::plain(&low.to_string(), at)
            }
            Some("boolean") => Node::plain("false", at),
            Some("array") => Node {
                value: Value::Seq(Vec::new()),
                at,
            },
            Some("object") => {
                let empty = Map::new();
                let properties = object
                    .get("properties")
                    .and_then(Json::as_object)
                    .unwrap_or(&empty);
                let entries = required(object)
                    .into_iter()
                    .map(|name| {
                        let property = properties.get(name).unwrap_or(&Json::Bool(true));
                        (Node::string(name, at), self.placeholder(property, at))
                    })
                    .collect();
                Node {
                    value: Value::Map(entries),
                    at,
                }
            }
            _ => Node::plain("~", at),
        }
    }
}

fn from_json(value: &Json, at: Position) -> Node {
    let value = match value {
        Json::Null => return Node::plain("~", at),
        Json::Bool(b) => return Node::plain(&b.to_string(), at),
        Json::Number(n) => return Node::plain(&n.to_string(), at),
        Json::String(s) => return Node::string(s, at),
        Json::Array(items) => Value::Seq(items.iter().map(|i| from_json(i, at)).collect()),
        Json::Object(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Node::string(k, at), from_json(v, at)))
                .collect(),
        ),
    };
    Node { value, at }
}
