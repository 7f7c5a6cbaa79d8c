//! `deploy/prometheus/switchboard-rules.yaml` passes `promtool check rules`
//! and its unit tests (`promtool test rules tests.yaml`), which fire every
//! alert and, on a healthy relay's series, none; every alert has a
//! severity, a summary, a description and a runbook section that exists;
//! and every dashboard query is valid PromQL (promtool checks them as
//! recording rules). promtool comes from the Debian package `prometheus`:
//! scripts/test installs it; outside CI these tests skip without it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::{dashboard_queries, repo, rule_list, rules};

/// promtool, or `None` (with a message) outside CI where it is missing. In
/// CI (`CI` set) it must be there: scripts/test installs it.
fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is not installed; scripts/test installs it (from the Debian package prometheus)"
        );
        eprintln!("skipped: promtool is not installed (scripts/test installs it as root)");
    }
    found
}

/// Runs `promtool ARGS` and asserts it succeeded.
fn run(promtool: &PathBuf, args: &[&str]) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(repo("deploy/prometheus"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(promtool) = promtool() else { return };
    run(&promtool, &["check", "rules", "switchboard-rules.yaml"]);
    run(&promtool, &["test", "rules", "tests.yaml"]);
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let Some(promtool) = promtool() else { return };
    let variable = regex::Regex::new(r"\$\w+").unwrap();
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let queries = dashboard_queries();
    for (n, (_, expr)) in queries.iter().enumerate() {
        let expr = expr.replace("$__rate_interval", "5m");
        let expr = variable.replace_all(&expr, ".*");
        let quoted = serde_json::to_string(&expr).unwrap();
        file += &format!("      - record: dashboard:query_{n}\n        expr: {quoted}\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-queries.yaml");
    std::fs::write(&path, &file).unwrap();
    run(&promtool, &["check", "rules", path.to_str().unwrap()]);
    assert!(queries.len() >= 20, "{} queries", queries.len());
}

#[test]
fn every_alert_has_a_severity_a_summary_a_description_and_its_runbook_section() {
    let runbook = std::fs::read_to_string(repo("docs/runbook.md")).unwrap();
    let alerts: Vec<Value> = rule_list(&rules())
        .into_iter()
        .filter(|r| r["alert"].is_string())
        .collect();
    assert!(alerts.len() >= 8, "{} alerts", alerts.len());
    for rule in alerts {
        let name = rule["alert"].as_str().unwrap();
        let severity = rule["labels"]["severity"].as_str().unwrap_or("");
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        for key in ["summary", "description"] {
            let text = rule["annotations"][key].as_str().unwrap_or("");
            assert!(text.len() > 20, "{name}: {key} {text:?}");
        }
        let url = rule["annotations"]["runbook_url"].as_str().unwrap_or("");
        assert_eq!(
            url,
            format!("docs/runbook.md#{}", name.to_lowercase()),
            "{name}"
        );
        // GitHub's anchor of a `## Name` heading is the name in lower case.
        let heading = format!("\n## {name}\n");
        assert!(
            runbook.contains(&heading),
            "docs/runbook.md has no `## {name}`"
        );
        let section = runbook.split(&heading).nth(1).unwrap();
        let section = section.split("\n## ").next().unwrap();
        for part in ["**What it means**", "**How to look**", "**What to do**"] {
            assert!(
                section.contains(part),
                "{name}'s runbook section has no {part}"
            );
        }
    }
}

#[test]
fn every_alert_fires_in_a_unit_test_and_none_on_the_healthy_relay() {
    let text = std::fs::read_to_string(repo("deploy/prometheus/tests.yaml")).unwrap();
    let tests: Value = serde_saphyr::from_str(&text).unwrap();
    let cases: Vec<(String, String, bool)> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            let test = t["name"].as_str().unwrap_or("").to_owned();
            t["alert_rule_test"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |a| {
                    let fires = a["exp_alerts"].as_array().is_some_and(|e| !e.is_empty());
                    (
                        test.clone(),
                        a["alertname"].as_str().unwrap().to_owned(),
                        fires,
                    )
                })
        })
        .collect();
    for rule in rule_list(&rules()) {
        let Some(name) = rule["alert"].as_str() else {
            continue;
        };
        assert!(
            cases.iter().any(|(_, a, fires)| a == name && *fires),
            "no test fires {name}"
        );
        assert!(
            cases
                .iter()
                .any(|(t, a, fires)| t == "a healthy relay fires nothing" && a == name && !fires),
            "the healthy test does not check {name}"
        );
    }
}
