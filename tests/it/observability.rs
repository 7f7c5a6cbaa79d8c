//! The shipped Grafana dashboard and Prometheus rules fit the relay: every
//! series they name is in a running relay's `/metrics` with the labels they
//! use, counters are what they take rates of, and the dashboard filters by
//! its variables. The files' own checks are in `dashboard` and `rules`.

mod dashboard;
mod exposition;
mod promql;
mod rules;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};
use exposition::Scrape;

/// A file of the repository.
fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `deploy/grafana/switchboard.json`.
fn dashboard() -> Value {
    let text = std::fs::read_to_string(repo("deploy/grafana/switchboard.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The dashboard's panels, those inside collapsed rows too.
fn panels(dashboard: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().unwrap() {
        out.push(p.clone());
        out.extend(p["panels"].as_array().into_iter().flatten().cloned());
    }
    out
}

/// Each panel query: (panel title, expr).
fn dashboard_queries() -> Vec<(String, String)> {
    panels(&dashboard())
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| (title.clone(), t["expr"].as_str().unwrap().to_owned()))
        })
        .collect()
}

/// `deploy/prometheus/switchboard-rules.yaml`.
fn rules() -> Value {
    let text = std::fs::read_to_string(repo("deploy/prometheus/switchboard-rules.yaml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// Every rule: the rule object of each group.
fn rule_list(rules: &Value) -> Vec<Value> {
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

/// Each rule's (name, expr), alerts and records.
fn rule_exprs() -> Vec<(String, String)> {
    rule_list(&rules())
        .iter()
        .map(|r| {
            let name = r["alert"].as_str().or(r["record"].as_str()).unwrap();
            (name.to_owned(), r["expr"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Labels Prometheus adds to every scraped series (the scrape config's
/// target labels): not in `/metrics`, on every series in Prometheus.
const TARGET_LABELS: &[&str] = &["job", "instance"];

/// Which problems `expr` (from `origin`) has against `scrape`; `records`
/// are the recorded series the rules define.
fn problems(origin: &str, expr: &str, scrape: &Scrape, records: &BTreeSet<String>) -> Vec<String> {
    let read = match promql::read(expr) {
        Ok(r) => r,
        Err(e) => return vec![format!("{origin}: cannot read `{expr}`: {e}")],
    };
    let mut out = Vec::new();
    // The labels a selector's series can have; None: not ours to check.
    let labels_of = |name: &str| -> Option<BTreeSet<String>> {
        let mut labels = scrape.labels.get(name)?.clone();
        labels.extend(TARGET_LABELS.iter().map(|l| (*l).to_owned()));
        Some(labels)
    };
    for s in &read.selectors {
        if s.name == "up" || (s.name.contains(':') && records.contains(&s.name)) {
            continue;
        }
        let Some(labels) = labels_of(&s.name) else {
            out.push(format!("{origin}: `{}` is not in /metrics", s.name));
            continue;
        };
        for (label, _, _) in &s.matchers {
            if !labels.contains(label) {
                out.push(format!("{origin}: `{}` has no label `{label}`", s.name));
            }
        }
        let kind = scrape.family_type(&s.name);
        let counter = matches!(kind, Some((_, "counter")))
            || matches!(kind, Some((family, "histogram" | "summary")) if family != s.name);
        if s.in_rate && !counter {
            out.push(format!("{origin}: rate of `{}`, a {kind:?}", s.name));
        }
    }
    for g in read.groupings.iter().filter(|g| g.clause != "ignoring") {
        for n in &g.selectors {
            let Some(labels) = labels_of(&read.selectors[*n].name) else {
                continue;
            };
            for label in g.labels.iter().filter(|l| !labels.contains(*l)) {
                let name = &read.selectors[*n].name;
                out.push(format!(
                    "{origin}: `{} ({label})` over `{name}`, which has no `{label}`",
                    g.clause
                ));
            }
        }
    }
    out
}

/// Scrapes `relay` until `wanted` lines are all in its `/metrics`.
async fn scrape_until(relay: &TestRelay, wanted: &[&str]) -> String {
    let scrape = async {
        loop {
            let text = relay.metrics().await;
            if wanted.iter().all(|w| text.lines().any(|l| l == *w)) {
                return text;
            }
            // The outcome is stored after the target answered: nothing to
            // wait on from here but the next scrape.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, scrape)
        .await
        .unwrap_or_else(|_| panic!("never saw {wanted:?}"))
}

#[tokio::test]
async fn every_series_the_dashboard_and_the_rules_name_is_in_a_running_relays_metrics() {
    let ok = FakeTarget::start().await;
    let gone = FakeTarget::start().await;
    gone.respond(400);
    let relay = TestRelay::start(&format!(
        "sources:\n  ob_src: {{allow: [127.0.0.1]}}\ntargets:\n  ob_ok: {{url: \"{}\"}}\n  ob_dead: {{url: \"{}\", retry: {{attempts: 1}}}}\nroutes:\n  - to: [ob_ok, ob_dead]\n",
        ok.url("/ok"),
        gone.url("/gone")
    ))
    .await;
    relay.accept("ob_src", fixture("minimal.json")).await;
    ok.wait_for(1, WAIT).await;
    let text = scrape_until(
        &relay,
        &[
            "switchboard_deliveries_total{target=\"ob_ok\",outcome=\"delivered\"} 1",
            "switchboard_deliveries_total{target=\"ob_dead\",outcome=\"dead\"} 1",
            "switchboard_dead_letters{target=\"ob_dead\"} 1",
        ],
    )
    .await;
    let scrape = Scrape::parse(&text);
    let records: BTreeSet<String> = rule_list(&rules())
        .iter()
        .filter_map(|r| r["record"].as_str().map(str::to_owned))
        .collect();

    let mut problems_found = Vec::new();
    let mut named = BTreeSet::new();
    for (origin, expr) in dashboard_queries()
        .into_iter()
        .map(|(t, e)| (format!("dashboard panel {t:?}"), e))
        .chain(
            rule_exprs()
                .into_iter()
                .map(|(n, e)| (format!("rule {n}"), e)),
        )
    {
        problems_found.extend(problems(&origin, &expr, &scrape, &records));
        named.extend(
            promql::read(&expr)
                .into_iter()
                .flat_map(|r| r.selectors)
                .map(|s| s.name),
        );
    }
    problems_found.extend(dashboard::variable_problems(&scrape));
    assert!(
        problems_found.is_empty(),
        "{}\n\n/metrics:\n{text}",
        problems_found.join("\n")
    );
    // The checks above saw what the issue asks for (a reader that found
    // nothing would pass them).
    for name in [
        "switchboard_webhooks_received_total",
        "switchboard_ingress_request_seconds_bucket",
        "switchboard_deliveries_total",
        "switchboard_delivery_attempt_seconds_bucket",
        "switchboard_queue_depth",
        "switchboard_oldest_pending_seconds",
        "switchboard_circuit_state",
        "switchboard_circuit",
        "switchboard_target_paused",
        "switchboard_parked_deliveries",
        "switchboard_dead_letters",
        "switchboard_spool_commit_seconds_bucket",
        "switchboard_config_reloads_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "up",
    ] {
        assert!(named.contains(name), "nothing uses {name}");
    }
}

#[test]
fn the_checks_catch_a_missing_series_a_missing_label_and_a_rate_of_a_gauge() {
    let scrape = Scrape::parse(
        "# TYPE g gauge\ng{target=\"t\"} 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n",
    );
    let none = BTreeSet::new();
    let found = |expr: &str| problems("x", expr, &scrape, &none);
    assert!(found("max by (target) (g{job=\"a\"}) + histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))").is_empty());
    assert_eq!(found("gg").len(), 1);
    assert_eq!(
        found("h").len(),
        1,
        "a histogram's family name is no series"
    );
    assert_eq!(found("g{source=\"s\"}").len(), 1);
    assert_eq!(found("sum by (source) (g)").len(), 1);
    assert_eq!(found("rate(g[5m])").len(), 1);
    assert_eq!(found("swichboard:typo").len(), 1);
}
