//! `/metrics` says what every series is (`# HELP`, `# TYPE`) and carries
//! the process's own series under Prometheus's standard names, with values
//! that fit this process.

use std::collections::{HashMap, HashSet};

use crate::common::{FakeTarget, TestRelay, fixture};

#[tokio::test]
async fn every_series_has_help_and_type_and_the_process_series_fit() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&format!(
        "sources:\n  mh_s: {{allow: [127.0.0.1]}}\ntargets:\n  mh_t: {{url: \"{}\"}}\nroutes:\n  - to: [mh_t]\n",
        target.url("/t")
    ))
    .await;
    let scrape = || async {
        relay
            .client
            .get(relay.admin("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // Before anything happened, the configured names' series are there, at
    // 0. (Metrics are process-wide: this test's names are its own.)
    let before = scrape().await;
    for series in [
        "switchboard_webhooks_received_total{source=\"mh_s\",outcome=\"accepted\"} 0",
        "switchboard_webhooks_received_total{source=\"mh_s\",outcome=\"unavailable\"} 0",
        "switchboard_deliveries_total{target=\"mh_t\",outcome=\"dead\"} 0",
        "switchboard_retries_total{target=\"mh_t\"} 0",
        "switchboard_circuit{target=\"mh_t\",state=\"closed\"} 1",
        "switchboard_circuit{target=\"mh_t\",state=\"open\"} 0",
        "switchboard_ingress_request_seconds_count{source=\"mh_s\"} 0",
        "switchboard_delivery_attempt_seconds_count{target=\"mh_t\"} 0",
        "switchboard_delivery_attempt_seconds_bucket{target=\"mh_t\",le=\"+Inf\"} 0",
    ] {
        assert!(
            before.lines().any(|l| l == series),
            "no `{series}` at start:\n{before}"
        );
    }
    // Reloads are counted for the whole process (other tests reload): the
    // series is there, whatever its value.
    assert!(
        before
            .lines()
            .any(|l| l.starts_with("switchboard_config_reloads_total{outcome=\"rejected\"} ")),
        "no rejected-reloads series:\n{before}"
    );
    relay.accept("mh_s", fixture("minimal.json")).await;
    target.wait_for(1, crate::common::WAIT).await;
    let text = scrape().await;

    let mut help = HashSet::new();
    let mut kind = HashSet::new();
    let mut values: HashMap<String, f64> = HashMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.splitn(4, ' ').collect();
        match words.as_slice() {
            ["#", "HELP", name, text] if !text.trim().is_empty() => {
                help.insert((*name).to_owned());
            }
            ["#", "TYPE", name, _] => {
                kind.insert((*name).to_owned());
            }
            _ if !line.starts_with('#') && !line.is_empty() => {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let name = series.split('{').next().unwrap();
                values.insert(name.to_owned(), value.parse().unwrap());
            }
            _ => {}
        }
    }
    let mut names: Vec<&String> = values.keys().collect();
    names.sort();
    for name in names {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| kind.contains(*f)))
            .unwrap_or(name);
        assert!(help.contains(family), "no # HELP for {family}:\n{text}");
        assert!(kind.contains(family), "no # TYPE for {family}:\n{text}");
    }

    let value = |name: &str| {
        *values
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    let now = switchboard::time::now_ms() as f64 / 1000.0;
    let started = value("process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 7.0 * 86_400.0,
        "start {started}, now {now}"
    );
    let rss = value("process_resident_memory_bytes");
    assert!(
        rss > 1_000_000.0 && rss <= value("process_virtual_memory_bytes"),
        "rss {rss}"
    );
    let fds = value("process_open_fds");
    assert!(
        fds >= 3.0 && fds <= value("process_max_fds"),
        "open fds {fds}"
    );
    assert!(value("process_threads") >= 2.0);
    assert!(values.contains_key("process_cpu_seconds_total"));
    let age = text
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_oldest_pending_seconds{target=\"mh_t\"} "))
        .unwrap_or_else(|| panic!("no oldest_pending_seconds for mh_t:\n{text}"));
    let age: f64 = age.parse().unwrap();
    assert!((0.0..60.0).contains(&age), "oldest pending {age}");
    assert!(
        text.lines()
            .any(|l| l == "switchboard_ingress_request_seconds_count{source=\"mh_s\"} 1"),
        "the accepted webhook's answer time:\n{text}"
    );
}
