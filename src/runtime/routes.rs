//! `routes:` and the transforms targets and routes name, compiled.
//!
//! Checks that every route names known targets and picks, per target, the
//! route's transform or the target's default. Conditions compile in
//! `rules::compile`; nothing here evaluates a route.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::config::problems::Problems;
use crate::config::{Located, RouteConfig, TargetConfig, TransformConfig};
use crate::rules::{self, Route, Routes};
use crate::transform::jq::Program;
use crate::transform::path::Path;
use crate::transform::{Selection, Transform};

/// Compiles `routes:` against the targets defined and their `defaults`.
pub fn compile(
    routes: Vec<RouteConfig>,
    targets: &IndexMap<String, TargetConfig>,
    defaults: &HashMap<String, Arc<Transform>>,
    problems: &mut Problems,
) -> Routes {
    let mut compiled = Vec::new();
    for (i, cfg) in routes.into_iter().enumerate() {
        let place = format!("routes[{i}]");
        let name = cfg.name.unwrap_or_else(|| place.clone());
        let when = cfg
            .when
            .and_then(|c| rules::compile(c, &format!("{place}.when"), problems));
        let transform = cfg
            .transform
            .as_ref()
            .and_then(|t| transform(t, &format!("{place}.transform"), problems))
            .map(Arc::new);
        if cfg.to.is_empty() {
            problems.push(format!("{place}.to"), None, "names no target");
        }
        let mut to = Vec::new();
        for (j, target) in cfg.to.iter().enumerate() {
            if !targets.contains_key(&target.value) {
                unknown_target(target, targets, &format!("{place}.to[{j}]"), problems);
            } else if let Some(chosen) = transform
                .clone()
                .or_else(|| defaults.get(&target.value).cloned())
            {
                to.push((target.value.clone(), chosen));
            }
        }
        compiled.push(Route { name, when, to });
    }
    Routes(compiled)
}

/// A route names a target that is not defined: say which are.
fn unknown_target(
    target: &Located<String>,
    targets: &IndexMap<String, TargetConfig>,
    place: &str,
    problems: &mut Problems,
) {
    let known: Vec<&str> = targets.keys().map(String::as_str).collect();
    let known = if known.is_empty() {
        "no target is defined".to_owned()
    } else {
        format!("targets: {}", known.join(", "))
    };
    problems.push(
        place,
        Some(&target.referenced),
        format!("unknown target \"{}\" ({known})", target.value),
    );
}

/// Compiles a transform at `place`.
pub fn transform(cfg: &TransformConfig, place: &str, problems: &mut Problems) -> Option<Transform> {
    let paths =
        |list: &[Located<String>], kind: &str, problems: &mut Problems| -> Option<Vec<Path>> {
            let parsed: Vec<Option<Path>> = list
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    Path::parse(&p.value)
                        .map_err(|e| {
                            problems.push(
                                format!("{place}.{kind}[{i}]"),
                                Some(&p.referenced),
                                e.to_string(),
                            )
                        })
                        .ok()
                })
                .collect();
            parsed.into_iter().collect()
        };
    match cfg {
        TransformConfig::None => Some(Transform::None),
        TransformConfig::Select(list) => {
            paths(list, "select", problems).map(|p| Transform::Select(Selection::new(&p)))
        }
        TransformConfig::Omit(list) => paths(list, "omit", problems).map(Transform::Omit),
        TransformConfig::Jq(code) => Program::compile(&code.value)
            .map(Transform::Jq)
            .map_err(|e| {
                problems.push(format!("{place}.jq"), Some(&code.referenced), e.to_string())
            })
            .ok(),
    }
}
