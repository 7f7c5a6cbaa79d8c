//! Checks a [`Node`] tree against the JSON Schema derived from the config
//! types (`Config::schema()`, the one description of the file's shape), finds
//! every unknown key, duplicate key, missing key and wrong type, each with its
//! place, and repairs the tree so that it deserializes: unknown and repeated
//! keys are dropped, a wrong value is replaced by a stand-in (its default or
//! an empty value of the right type). The places replaced
//! are returned too, so that later complaints about the stand-ins are not
//! reported as well.
//!
//! It must not know any config type by name: everything comes from the schema.
//! `alternatives` handles `anyOf`/`oneOf`, `stand_in` the replacements,
//! `words` the messages' guesses.

use serde_json::{Map, Value as Json};

use super::tree::{Node, Position, Scalar, Value};

mod alternatives;
mod stand_in;
mod words;

use words::{closest, found, suggestion};

/// One problem with the file's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The key's path: `targets.crm.heders`.
    pub place: String,
    /// Where in the file.
    pub at: Position,
    /// What is wrong, in plain words, and what would be right.
    pub message: String,
}

/// What [`check`] found and changed.
#[derive(Debug, Default)]
pub struct Report {
    /// Every problem, in file order.
    pub found: Vec<Found>,
    /// Places whose value was replaced by a stand-in.
    pub replaced: Vec<String>,
}

/// Checks `root` against `schema` (a root schema with `$defs`) and repairs it.
pub fn check(root: &mut Node, schema: &Json) -> Report {
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .and_then(Json::as_object)
        .unwrap_or(&empty);
    let mut walker = Walker {
        defs,
        report: Report::default(),
    };
    walker.visit(root, schema, "");
    walker.report
}

static ANYTHING: Json = Json::Bool(true);

struct Walker<'s> {
    defs: &'s Map<String, Json>,
    report: Report,
}

impl<'s> Walker<'s> {
    /// Follows `$ref`s to the schema they name.
    fn resolve(&self, mut schema: &'s Json) -> &'s Json {
        for _ in 0..16 {
            let Some(name) = schema
                .get("$ref")
                .and_then(Json::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            else {
                break;
            };
            match self.defs.get(name) {
                Some(def) => schema = def,
                None => break,
            }
        }
        schema
    }

    fn problem(&mut self, place: &str, at: Position, message: String) {
        self.report.found.push(Found {
            place: place.to_owned(),
            at,
            message,
        });
    }

    /// Reports `node` as not what `schema` wants and puts a stand-in there.
    fn mismatch(&mut self, node: &mut Node, schema: &'s Json, place: &str, extra: &str) {
        let message = format!(
            "expected {}, found {}{extra}",
            self.describe(schema),
            found(node)
        );
        self.replace(node, schema, place, message);
    }

    /// Reports `message` at the node and puts a stand-in there.
    fn replace(&mut self, node: &mut Node, schema: &'s Json, place: &str, message: String) {
        self.problem(place, node.at, message);
        *node = self.placeholder(schema, node.at);
        self.report.replaced.push(place.to_owned());
    }

    /// [`Walker::mismatch`] for a word that is not one of a few choices
    /// (`sha1` for `sha256` or `sha512`): the word is shown, being no secret.
    fn mismatch_choice(&mut self, node: &mut Node, schema: &'s Json, place: &str, extra: &str) {
        match node.scalar() {
            Some(Scalar::Str(text)) => {
                let shown: String = text.chars().take(40).collect();
                let message = format!("expected {}, found `{shown}`{extra}", self.describe(schema));
                self.replace(node, schema, place, message);
            }
            _ => self.mismatch(node, schema, place, extra),
        }
    }

    fn visit(&mut self, node: &mut Node, schema: &'s Json, place: &str) {
        let schema = self.resolve(schema);
        let Some(object) = schema.as_object() else {
            return; // `true`: anything goes.
        };
        if let Some(alternatives) = object
            .get("anyOf")
            .or_else(|| object.get("oneOf"))
            .and_then(Json::as_array)
        {
            return self.alternatives(node, schema, alternatives, place);
        }
        if let Some(choices) = choices(object) {
            let text = node.text().filter(|_| !node.is_null());
            if text.is_some_and(|t| choices.iter().any(|c| c == t)) {
                return;
            }
            let extra = suggestion(text.unwrap_or_default(), &choices);
            return self.mismatch_choice(node, schema, place, &extra);
        }
        let types = types(object);
        if types.is_empty() {
            return;
        }
        if !types.iter().any(|t| fits(node, t)) {
            return self.mismatch(node, schema, place, "");
        }
        match &node.value {
            Value::Map(_) => self.object(node, object, place),
            Value::Seq(_) => {
                if let (Value::Seq(items), Some(item)) = (&mut node.value, object.get("items")) {
                    for (i, item_node) in items.iter_mut().enumerate() {
                        self.visit(item_node, item, &format!("{place}[{i}]"));
                    }
                }
            }
            Value::Scalar { .. } => {
                if let Some(Scalar::Int(i)) = node.scalar()
                    && let Some((low, high)) = range(object)
                    && (i < low || i > high)
                {
                    self.mismatch(node, schema, place, "");
                }
            }
        }
    }

    /// Whether the node is the kind (scalar, list, mapping) `schema` wants,
    /// whatever its details.
    fn kind_fits(&self, node: &Node, schema: &'s Json) -> bool {
        let schema = self.resolve(schema);
        let Some(object) = schema.as_object() else {
            return true;
        };
        if let Some(alternatives) = object
            .get("anyOf")
            .or_else(|| object.get("oneOf"))
            .and_then(Json::as_array)
        {
            return alternatives.iter().any(|a| self.kind_fits(node, a));
        }
        if choices(object).is_some() {
            return matches!(node.value, Value::Scalar { .. });
        }
        let types = types(object);
        types.is_empty()
            || types.iter().any(|t| match (t.as_str(), &node.value) {
                ("object", Value::Map(_)) | ("array", Value::Seq(_)) => true,
                ("object" | "array", _) => false,
                (_, Value::Scalar { .. }) => true,
                _ => false,
            })
    }

    fn object(&mut self, node: &mut Node, object: &'s Map<String, Json>, place: &str) {
        let properties = object.get("properties").and_then(Json::as_object);
        let property = |name: &str| properties.and_then(|p| p.get(name));
        let additional = object.get("additionalProperties");
        let Value::Map(entries) = &mut node.value else {
            return;
        };
        let mut kept: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
        let mut seen: Vec<(String, Position)> = Vec::new();
        for (key, mut value) in std::mem::take(entries) {
            let Some(name) = key.text().filter(|_| !key.is_null()).map(str::to_owned) else {
                let message = "a key must be a name, not a list, a mapping or nothing".to_owned();
                self.problem(place, key.at, message);
                continue;
            };
            let child = join(place, &name);
            if let Some((_, (line, column))) = seen.iter().find(|(seen, _)| *seen == name) {
                let message = format!(
                    "duplicate key `{name}` (first set at line {line} column {column}); write each key once"
                );
                self.problem(&child, key.at, message);
                continue;
            }
            seen.push((name.clone(), key.at));
            match (property(&name), additional) {
                (Some(property), _) => self.visit(&mut value, property, &child),
                (None, Some(Json::Bool(false))) => {
                    self.problem(&child, key.at, unknown_key(&name, properties));
                    continue;
                }
                (None, Some(schema @ Json::Object(_))) => self.visit(&mut value, schema, &child),
                (None, _) => {}
            }
            kept.push((key, value));
        }
        for name in required(object) {
            if seen.iter().any(|(seen, _)| seen == name) {
                continue;
            }
            let child = join(place, name);
            let property = property(name).unwrap_or(&ANYTHING);
            let message = format!(
                "the key `{name}` is missing; it is required here ({})",
                self.describe(property)
            );
            self.problem(&child, node.at, message);
            kept.push((
                Node::string(name, node.at),
                self.placeholder(property, node.at),
            ));
            self.report.replaced.push(child);
        }
        node.value = Value::Map(kept);
    }
}

/// A key the mapping does not have: the closest valid one, and all of them.
fn unknown_key(name: &str, properties: Option<&Map<String, Json>>) -> String {
    let valid: Vec<String> = properties
        .into_iter()
        .flat_map(|p| p.keys().cloned())
        .collect();
    match closest(name, &valid) {
        Some(best) => format!(
            "unknown key `{name}`, did you mean `{best}`? (valid keys here: {})",
            valid.join(", ")
        ),
        None if valid.is_empty() => format!("unknown key `{name}`"),
        None => format!(
            "unknown key `{name}` (valid keys here: {})",
            valid.join(", ")
        ),
    }
}

fn join(place: &str, key: &str) -> String {
    if place.is_empty() {
        key.to_owned()
    } else {
        format!("{place}.{key}")
    }
}

fn is_null_schema(schema: &Json) -> bool {
    schema.get("type").and_then(Json::as_str) == Some("null")
}

/// `"type": "string"` or `"type": ["string", "null"]`.
fn types(object: &Map<String, Json>) -> Vec<String> {
    match object.get("type") {
        Some(Json::String(t)) => vec![t.clone()],
        Some(Json::Array(list)) => list
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// `const` or `enum`: the only texts allowed.
fn choices(object: &Map<String, Json>) -> Option<Vec<String>> {
    let text = |v: &Json| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(value) = object.get("const") {
        return Some(vec![text(value)]);
    }
    object
        .get("enum")
        .and_then(Json::as_array)
        .map(|list| list.iter().map(text).collect())
}

/// The whole numbers an integer schema allows.
fn range(object: &Map<String, Json>) -> Option<(i128, i128)> {
    let (mut low, mut high) = match object.get("format").and_then(Json::as_str) {
        Some("uint8") => (0, i128::from(u8::MAX)),
        Some("uint16") => (0, i128::from(u16::MAX)),
        Some("uint32") => (0, i128::from(u32::MAX)),
        Some("uint" | "uint64") => (0, i128::from(u64::MAX)),
        Some("int8") => (i128::from(i8::MIN), i128::from(i8::MAX)),
        Some("int16") => (i128::from(i16::MIN), i128::from(i16::MAX)),
        Some("int32") => (i128::from(i32::MIN), i128::from(i32::MAX)),
        Some("int" | "int64") => (i128::from(i64::MIN), i128::from(i64::MAX)),
        _ => (i128::MIN, i128::MAX),
    };
    if let Some(min) = object.get("minimum").and_then(Json::as_f64) {
        low = low.max(min.ceil() as i128);
    }
    if let Some(max) = object.get("maximum").and_then(Json::as_f64) {
        high = high.min(max.floor() as i128);
    }
    (low != i128::MIN || high != i128::MAX).then_some((low, high))
}

/// The keys an object schema requires.
fn required(object: &Map<String, Json>) -> Vec<&str> {
    object
        .get("required")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .collect()
}

/// A mapping with exactly one key, which it requires: `{file: ...}`.
fn single_key(object: &Map<String, Json>) -> Option<&str> {
    let properties = object.get("properties")?.as_object()?;
    let required = object.get("required")?.as_array()?;
    match (properties.len(), &required[..]) {
        (1, [Json::String(key)]) => Some(key),
        _ => None,
    }
}

/// Whether the node is of JSON Schema type `t`.
fn fits(node: &Node, t: &str) -> bool {
    match (t, &node.value) {
        ("object", Value::Map(_)) | ("array", Value::Seq(_)) => true,
        (_, Value::Scalar { .. }) => {
            matches!(
                (t, node.scalar()),
                ("null", Some(Scalar::Null))
                    | ("boolean", Some(Scalar::Bool(_)))
                    | ("integer", Some(Scalar::Int(_)))
                    | ("number", Some(Scalar::Int(_) | Scalar::Float(_)))
            ) || (t == "string" && !node.is_null())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
