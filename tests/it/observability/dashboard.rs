//! `deploy/grafana/switchboard.json` imports cleanly: its data source is a
//! variable of type prometheus that every panel and query uses, panel ids
//! are unique, panels sit on the 24-column grid without overlapping, and the
//! `target`, `source`, `job` and `instance` variables are defined by
//! `label_values` over series that carry those labels and filter every
//! query that shows such a series.

use serde_json::{Value, json};

use super::exposition::Scrape;
use super::{TARGET_LABELS, dashboard, panels, promql};

/// The variables and the label each one selects on.
const VARIABLES: &[(&str, &str)] = &[
    ("job", "job"),
    ("instance", "instance"),
    ("source", "source"),
    ("target", "target"),
];

/// The dashboard's variable `name`.
fn variable(d: &Value, name: &str) -> Value {
    d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no variable {name}"))
        .clone()
}

/// `label_values(metric{...}, label)` → (metric selector, label).
fn label_values(query: &str) -> Option<(&str, &str)> {
    let inner = query.strip_prefix("label_values(")?.strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim(), label.trim()))
}

#[test]
fn the_dashboard_uses_its_datasource_variable_unique_ids_and_a_sane_grid() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().unwrap() >= 36, "current schema");
    assert_eq!(d["uid"], "switchboard");
    let ds = variable(&d, "datasource");
    assert_eq!(
        (&ds["type"], &ds["query"]),
        (&json!("datasource"), &json!("prometheus"))
    );
    let source = json!({"type": "prometheus", "uid": "${datasource}"});
    let all = panels(&d);
    let mut ids = std::collections::BTreeSet::new();
    let mut boxes: Vec<(i64, i64, i64, i64, String)> = Vec::new();
    for p in &all {
        let title = p["title"].as_str().unwrap().to_owned();
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel id of {title:?} repeats"
        );
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_i64().unwrap());
        assert!(
            x >= 0 && y >= 0 && w >= 1 && h >= 1 && x + w <= 24,
            "{title:?}: gridPos {g}"
        );
        for (bx, by, bw, bh, other) in &boxes {
            let overlap = x < bx + bw && *bx < x + w && y < by + bh && *by < y + h;
            assert!(!overlap, "{title:?} overlaps {other:?}");
        }
        boxes.push((x, y, w, h, title.clone()));
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"], source, "{title:?}'s data source");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title:?} has no query");
        let mut refs = std::collections::BTreeSet::new();
        for t in targets {
            assert_eq!(t["datasource"], source, "{title:?}'s query data source");
            assert!(
                refs.insert(t["refId"].as_str().unwrap()),
                "{title:?}: refId repeats"
            );
        }
    }
    assert!(all.iter().filter(|p| p["type"] != "row").count() >= 15);
    for (name, label) in VARIABLES {
        let v = variable(&d, name);
        assert_eq!(v["type"], "query", "{name}");
        assert_eq!(v["datasource"], source, "{name}'s data source");
        let query = v["query"].as_str().unwrap();
        assert_eq!(
            label_values(query).map(|q| q.1),
            Some(*label),
            "{name}: {query}"
        );
        assert_eq!(
            v["definition"], query,
            "{name}: definition and query differ"
        );
    }
}

/// Against a scrape: each variable's `label_values` names a series that has
/// its label, and each panel query filters by `$job` and `$instance`, and by
/// `$target` or `$source` where its series has that label.
pub(super) fn variable_problems(scrape: &Scrape) -> Vec<String> {
    let d = dashboard();
    let mut out = Vec::new();
    for (name, label) in VARIABLES {
        let query = variable(&d, name)["query"].as_str().unwrap().to_owned();
        let (selector, _) = label_values(&query).unwrap();
        let metric = promql::read(selector).unwrap().selectors[0].name.clone();
        let has = scrape
            .labels
            .get(&metric)
            .is_some_and(|l| l.contains(*label));
        if !has && !TARGET_LABELS.contains(label) {
            out.push(format!(
                "variable {name}: `{metric}` has no label `{label}`"
            ));
        }
    }
    for p in panels(&d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            let Ok(read) = promql::read(expr) else {
                continue;
            };
            for s in read.selectors.iter().filter(|s| !s.name.contains(':')) {
                let labels = scrape.labels.get(&s.name).cloned().unwrap_or_default();
                for (name, label) in VARIABLES {
                    let wanted = TARGET_LABELS.contains(label) || labels.contains(*label);
                    let filtered = s
                        .matchers
                        .iter()
                        .any(|(l, op, v)| l == label && op == "=~" && *v == format!("${name}"));
                    if wanted && !filtered {
                        out.push(format!(
                            "panel {:?}: `{}` not filtered by {label}=~\"${name}\"",
                            p["title"], s.name
                        ));
                    }
                }
            }
        }
    }
    out
}
