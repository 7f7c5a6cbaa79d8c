//! What the fuzz targets share: the rules config with every condition and
//! transform kind, one call that routes and renders everything, and the
//! checks that hold for every input (`explain` agrees with `eval`,
//! `select` keeps a sub-document, `omit` leaves nothing it names).

pub mod connection;

use std::sync::LazyLock;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;
use switchboard::config::Config;
use switchboard::config::interpolate::Env;
use switchboard::transform::path::Step;
use switchboard::runtime::Runtime;
use switchboard::transform::Transform;

/// One route per condition kind and operator, every transform kind, and a
/// second source `t` with its own `fields` layout. The jq programs run on
/// payload data with the builtins an operator is likely to reach for; none
/// of them loops or allocates in proportion to a number in the payload.
pub const RULES: &str = include_str!("../rules.yaml");

/// [`RULES`], compiled once.
pub static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    let config = Config::parse(RULES).unwrap_or_else(|e| panic!("rules.yaml: {e}"));
    Runtime::compile(config, &Env::default(), None).unwrap_or_else(|e| panic!("rules.yaml: {e}"))
});

/// Runs `select` for the webhook, renders every choice, renders every
/// transform of every route (matched or not), and checks that
/// `Condition::explain` agrees with `Condition::eval` on every route.
pub fn route_everything(
    runtime: &Runtime,
    source: &str,
    headers: &HeaderMap,
    raw: &Bytes,
    doc: &Value,
) {
    let Some(source) = runtime.sources.get(source) else {
        return;
    };
    let event = source.event(headers, doc);
    let decision = runtime.routes.select(&event);
    // Every transform once: the choices' and those of routes that did not
    // match (targets share one compiled transform across routes).
    let mut rendered: Vec<&Transform> = Vec::new();
    let all = decision.choices.iter().map(|c| c.transform).chain(
        runtime
            .routes
            .0
            .iter()
            .flat_map(|r| r.to.iter().map(|(_, t)| &**t)),
    );
    for transform in all {
        if !rendered.iter().any(|t| std::ptr::eq(*t, transform)) {
            rendered.push(transform);
            let _ = transform.render(raw, doc);
        }
    }
    for route in &runtime.routes.0 {
        if let Some(when) = &route.when {
            let trace = when.explain(&event);
            assert_eq!(
                trace.matched,
                when.eval(&event),
                "route {}: explain and eval disagree: {trace:?}",
                route.name
            );
        }
    }
}

/// Whether `out` is `input` with parts left out: object members of `out`
/// are in `input` with sub-document values; the elements of an array in
/// `out` are, in order, sub-documents of a subsequence of `input`'s.
pub fn is_subdocument(out: &Value, input: &Value) -> bool {
    match (out, input) {
        (Value::Object(o), Value::Object(i)) => o
            .iter()
            .all(|(k, v)| i.get(k).is_some_and(|w| is_subdocument(v, w))),
        (Value::Array(o), Value::Array(i)) => {
            // Earliest match first leaves the most room for the rest.
            let mut rest = i.iter();
            o.iter()
                .all(|v| rest.by_ref().any(|w| is_subdocument(v, w)))
        }
        (o, i) => o == i,
    }
}

/// Whether any place in `doc` (a `null` included) is reached by `steps`.
pub fn reaches(doc: &Value, steps: &[Step]) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return true;
    };
    match (step, doc) {
        (Step::Key(k), Value::Object(map)) => map.get(k).is_some_and(|v| reaches(v, rest)),
        (Step::Index(i), Value::Array(items)) => items.get(*i).is_some_and(|v| reaches(v, rest)),
        (Step::Each, Value::Array(items)) => items.iter().any(|v| reaches(v, rest)),
        _ => false,
    }
}

/// Path texts for locations in `doc` that a path can spell, depth first,
/// at most `cap`: `a.b[3].c`, and the same with every index as `[*]`.
pub fn locations(doc: &Value, cap: usize) -> Vec<(String, String)> {
    fn walk(doc: &Value, exact: String, wild: String, out: &mut Vec<(String, String)>, cap: usize) {
        if out.len() >= cap {
            return;
        }
        if !exact.is_empty() {
            out.push((exact.clone(), wild.clone()));
        }
        match doc {
            Value::Object(map) => {
                for (k, v) in map {
                    if k.is_empty() || k.contains(['.', '[', ']']) {
                        continue;
                    }
                    let dot = if exact.is_empty() { "" } else { "." };
                    walk(
                        v,
                        format!("{exact}{dot}{k}"),
                        format!("{wild}{dot}{k}"),
                        out,
                        cap,
                    );
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, format!("{exact}[{i}]"), format!("{wild}[*]"), out, cap);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, String::new(), String::new(), &mut out, cap);
    out
}
