//! The checker's words: what a schema wants and what a node is, in plain
//! language (`a whole number from 0 to 4294967295`, `a list`), and the
//! did-you-mean suggestion.

use serde_json::Value as Json;

use super::{Walker, choices, is_null_schema, range, required, single_key, types};
use crate::config::tree::{Node, Scalar, Value};

impl<'s> Walker<'s> {
    /// What `schema` wants, in plain words.
    pub(super) fn describe(&self, schema: &'s Json) -> String {
        let schema = self.resolve(schema);
        let Some(object) = schema.as_object() else {
            return "any value".to_owned();
        };
        let mut parts: Vec<String> = Vec::new();
        if let Some(alternatives) = object
            .get("anyOf")
            .or_else(|| object.get("oneOf"))
            .and_then(Json::as_array)
        {
            for alternative in alternatives {
                if !is_null_schema(self.resolve(alternative)) {
                    parts.push(self.describe(alternative));
                }
            }
        } else if let Some(choices) = choices(object) {
            parts.extend(choices.iter().map(|c| format!("`{c}`")));
        } else {
            for t in types(object) {
                let part = match t.as_str() {
                    "string" => match object.get("default").and_then(Json::as_str) {
                        Some(example) if !example.is_empty() => {
                            format!("a string such as `{example}`")
                        }
                        _ => "a string".to_owned(),
                    },
                    "integer" => match range(object) {
                        Some((0, high)) if high == i128::from(u32::MAX) => {
                            format!("a whole number from 0 to {high}")
                        }
                        Some((0, _)) => "a whole number, 0 or more".to_owned(),
                        _ => "a whole number".to_owned(),
                    },
                    "number" => "a number".to_owned(),
                    "boolean" => "`true` or `false`".to_owned(),
                    "array" => "a list".to_owned(),
                    "object" => match (single_key(object), required(object)) {
                        (Some(key), _) => format!("`{{{key}: ...}}`"),
                        (None, keys) if keys.is_empty() => "a mapping".to_owned(),
                        (None, keys) => {
                            let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                            format!("a mapping with {}", join_and(&keys))
                        }
                    },
                    _ => continue,
                };
                parts.push(part);
            }
        }
        parts.dedup();
        join_or(&parts)
    }
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What the node is, in plain words. Text is not quoted: it may be a secret
/// written under the wrong key.
pub(super) fn found(node: &Node) -> String {
    match node.scalar() {
        None if matches!(node.value, Value::Seq(_)) => "a list".to_owned(),
        None => "a mapping".to_owned(),
        Some(Scalar::Null) => "nothing".to_owned(),
        Some(Scalar::Bool(b)) => format!("`{b}`"),
        Some(Scalar::Int(_) | Scalar::Float(_)) => {
            format!("the number `{}`", node.text().unwrap_or_default())
        }
        Some(Scalar::Str(_)) => "a string".to_owned(),
    }
}

/// `, did you mean `none`?` when `typo` is a small edit from a choice.
pub(super) fn suggestion(typo: &str, choices: &[String]) -> String {
    match closest(typo, choices) {
        Some(best) if best != typo => format!("; did you mean `{best}`?"),
        _ => String::new(),
    }
}

/// The candidate fewest edits away from `typo` (case aside), if it is close
/// enough to be a typo rather than another word: at most a third of the
/// letters, and at least one edit allowed for short keys.
pub(super) fn closest<'c>(typo: &str, candidates: &'c [String]) -> Option<&'c str> {
    let typo = typo.to_lowercase();
    let allowed = (typo.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&typo, &c.to_lowercase()), c.as_str()))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

pub(super) fn join_or(parts: &[String]) -> String {
    match parts {
        [] => "nothing".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
