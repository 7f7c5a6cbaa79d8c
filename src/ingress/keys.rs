//! A source's lookup keys: named paths whose values are taken from each
//! webhook at accept time and stored, indexed, so that an operator finds
//! the webhook by the ids its sender and its targets know (a call id, a
//! phone number) rather than by the relay's own.
//!
//! Compiling `sources.NAME.keys` and reading values off a parsed body;
//! storing them is the spool's.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::Located;
use crate::config::problems::Problems;
use crate::transform::path::Path;

/// Values kept per key at most (a path with `[*]` may find many).
const MAX_VALUES: usize = 8;

/// Characters of one value kept at most.
const MAX_CHARS: usize = 256;

/// A source's compiled lookup keys.
#[derive(Debug, Default)]
pub struct Keys(Vec<(String, Path)>);

impl Keys {
    /// Compiles `keys` (name → path) at `place`, recording each bad name or
    /// path.
    pub fn compile(
        keys: BTreeMap<String, Located<String>>,
        place: &str,
        problems: &mut Problems,
    ) -> Keys {
        let mut compiled = Vec::with_capacity(keys.len());
        for (name, path) in keys {
            let at = format!("{place}.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                problems.push(
                    at,
                    Some(&path.referenced),
                    format!("`{name}` is not a key name: use letters, digits, `_` and `-`"),
                );
                continue;
            }
            match Path::parse(&path.value) {
                Ok(parsed) => compiled.push((name, parsed)),
                Err(e) => problems.push(at, Some(&path.referenced), e),
            }
        }
        Keys(compiled)
    }

    /// The keys' values in `doc`: strings as they are, numbers and booleans
    /// as written; objects, arrays of arrays and `null` are not values.
    pub fn of(&self, doc: &Value) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (name, path) in &self.0 {
            let mut n = 0;
            path.any(doc, |value| {
                let text = match value {
                    Value::String(s) => capped(s),
                    Value::Number(x) => x.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return false,
                };
                if !found.iter().any(|(k, v)| k == name && *v == text) {
                    found.push((name.clone(), text));
                    n += 1;
                }
                n >= MAX_VALUES
            });
        }
        found
    }

    /// The keys' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }
}

/// `s` up to its [`MAX_CHARS`]th character: copied whole when it is that
/// short, as nearly every key is (no walk through its characters).
fn capped(s: &str) -> String {
    if s.len() <= MAX_CHARS {
        return s.to_owned();
    }
    match s.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_keys;

    #[test]
    fn the_default_keys_find_a_sipgate_call_by_its_id_and_numbers() {
        let mut problems = Problems::default();
        let keys = Keys::compile(default_keys(), "sources.s.keys", &mut problems);
        assert!(problems.is_empty());
        let doc = serde_json::json!({"call": {"id": "pbx-1", "from": "4921", "to": 4930}});
        assert_eq!(
            keys.of(&doc),
            vec![
                ("call".to_owned(), "pbx-1".to_owned()),
                ("callee".to_owned(), "4930".to_owned()),
                ("caller".to_owned(), "4921".to_owned()),
            ]
        );
        assert!(keys.of(&serde_json::json!({"other": 1})).is_empty());
    }

    #[test]
    fn many_values_are_capped_and_a_bad_name_or_path_is_a_problem() {
        let mut problems = Problems::default();
        let mut cfg = BTreeMap::new();
        cfg.insert("tag".to_owned(), crate::config::located("tags[*]"));
        cfg.insert("bad name".to_owned(), crate::config::located("a"));
        cfg.insert("broken".to_owned(), crate::config::located("a[[]"));
        let keys = Keys::compile(cfg, "sources.s.keys", &mut problems);
        assert_eq!(problems.to_string().lines().count(), 2, "{problems}");
        let tags: Vec<u32> = (0..20).collect();
        let found = keys.of(&serde_json::json!({"tags": tags}));
        assert_eq!(found.len(), MAX_VALUES);
        let long = "ä".repeat(MAX_CHARS + 5);
        assert_eq!(capped(&long).chars().count(), MAX_CHARS);
        assert_eq!(capped("pbx-1"), "pbx-1");
    }
}
