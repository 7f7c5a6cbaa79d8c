//! `anyOf` / `oneOf` in the schema: which alternative a node is meant to
//! be, and what to say when it is none of them.

use serde_json::Value as Json;

use super::words::{closest, suggestion};
use super::{Report, Walker, choices, is_null_schema, join};
use crate::config::tree::{Node, Value};

impl<'s> Walker<'s> {
    /// `anyOf` / `oneOf`: fine if any alternative takes the node whole;
    /// otherwise the alternative of the node's kind says what is wrong.
    pub(super) fn alternatives(
        &mut self,
        node: &mut Node,
        schema: &'s Json,
        alternatives: &'s [Json],
        place: &str,
    ) {
        let real: Vec<&'s Json> = alternatives
            .iter()
            .map(|a| self.resolve(a))
            .filter(|a| !is_null_schema(a))
            .collect();
        if node.is_null() && real.len() < alternatives.len() {
            return;
        }
        // `Option<T>`: no trial runs, which nested conditions (`not: {not:
        // ..}`) would make exponential.
        if let [only] = real[..] {
            return self.visit(node, only, place);
        }
        if real.iter().any(|a| self.takes(node, a, place)) {
            return;
        }
        let same_kind: Vec<&'s Json> = real
            .iter()
            .copied()
            .filter(|a| self.kind_fits(node, a))
            .collect();
        if let Value::Scalar { text, .. } = &node.value
            && same_kind
                .iter()
                .any(|a| a.as_object().and_then(choices).is_some())
        {
            let all: Vec<String> = real
                .iter()
                .filter_map(|a| a.as_object().and_then(choices))
                .flatten()
                .collect();
            let extra = suggestion(text, &all);
            return self.mismatch_choice(node, schema, place, &extra);
        }
        if let [only] = same_kind[..] {
            return self.visit(node, only, place);
        }
        if let Value::Map(entries) = &node.value
            && same_kind.len() > 1
        {
            let key = entries.first().map(|(key, _)| key.clone());
            return self.keyed(node, schema, &same_kind, key.as_ref(), place);
        }
        self.mismatch(node, schema, place, "");
    }

    /// Whether `alternative` takes the node whole: a trial walk on a copy
    /// finds nothing.
    fn takes(&self, node: &Node, alternative: &'s Json, place: &str) -> bool {
        let mut trial = Walker {
            defs: self.defs,
            report: Report::default(),
        };
        trial.visit(&mut node.clone(), alternative, place);
        trial.report.found.is_empty()
    }

    /// Single-key alternatives (`{select: ..}`, `{hmac: ..}`): the mapping's
    /// first `key` chooses; an unknown one is reported with a guess.
    fn keyed(
        &mut self,
        node: &mut Node,
        schema: &'s Json,
        same_kind: &[&'s Json],
        key: Option<&Node>,
        place: &str,
    ) {
        let first = key.and_then(Node::text).unwrap_or("");
        if let Some(chosen) = same_kind.iter().find(|a| {
            a.get("properties")
                .and_then(Json::as_object)
                .is_some_and(|p| p.contains_key(first))
        }) {
            return self.visit(node, chosen, place);
        }
        let keys: Vec<String> = same_kind
            .iter()
            .filter_map(|a| a.get("properties").and_then(Json::as_object))
            .flat_map(|p| p.keys().cloned())
            .collect();
        if let Some(key) = key.filter(|_| !first.is_empty()) {
            let guess = match closest(first, &keys) {
                Some(best) => format!(", did you mean `{best}`?"),
                None => String::new(),
            };
            let message = format!(
                "unknown key `{first}`{guess} (expected {})",
                self.describe(schema)
            );
            self.problem(&join(place, first), key.at, message);
            *node = self.placeholder(schema, node.at);
            self.report.replaced.push(place.to_owned());
            return;
        }
        let extra = suggestion(first, &keys);
        self.mismatch(node, schema, place, &extra);
    }
}
