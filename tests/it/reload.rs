//! Reload and shutdown: new rules apply, broken ones never do, rate-limit
//! state survives, and the real binary answers SIGHUP and SIGTERM.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{FakeTarget, Reply, TestRelay, WAIT, fixture};
use switchboard::relay::LoadError;

fn two_targets(a: &str, b: &str, route_to: &str, extra: &str) -> String {
    format!(
        "sources: {{s: {{}}}}\ntargets:\n  a: {{url: \"{a}\"{extra}}}\n  b: {{url: \"{b}\"}}\nroutes:\n  - to: [{route_to}]\n"
    )
}

#[tokio::test]
async fn reload_applies_new_routes() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = TestRelay::start(&two_targets(&a.url("/a"), &b.url("/b"), "a", "")).await;
    relay.accept("s", fixture("minimal.json")).await;
    a.wait_for(1, WAIT).await;

    relay
        .reload_with(&two_targets(&a.url("/a"), &b.url("/b"), "b", ""))
        .await
        .unwrap();
    relay.accept("s", fixture("minimal.json")).await;
    b.wait_for(1, WAIT).await;
    a.assert_quiet(1, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn reload_keeps_old_routes_on_invalid_yaml() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = TestRelay::start(&two_targets(&a.url("/a"), &b.url("/b"), "a", "")).await;

    let broken_yaml = "sources: {s: {}\ntargets: [";
    assert!(matches!(
        relay.reload_with(broken_yaml).await,
        Err(LoadError::Parse(_))
    ));
    let unknown_target = two_targets(&a.url("/a"), &b.url("/b"), "billing", "");
    match relay.reload_with(&unknown_target).await {
        Err(LoadError::Invalid(problems)) => {
            assert!(
                problems
                    .to_string()
                    .contains("routes[0].to[0]: unknown target \"billing\""),
                "{problems}"
            )
        }
        other => panic!("expected problems, got {other:?}"),
    }
    relay.env.lock().unwrap().clear();
    let missing_env = two_targets(&a.url("/a"), "${B_URL}", "b", "");
    assert!(matches!(
        relay.reload_with(&missing_env).await,
        Err(LoadError::Invalid(_))
    ));

    relay.accept("s", fixture("minimal.json")).await;
    a.wait_for(1, WAIT).await;
    b.assert_quiet(0, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn reload_refuses_a_new_listen_address() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay = TestRelay::start(&two_targets(&a.url("/a"), &b.url("/b"), "a", "")).await;
    let moved = format!(
        "server: {{listen: \"127.0.0.1:1\"}}\n{}",
        two_targets(&a.url("/a"), &b.url("/b"), "b", "")
    );
    assert!(matches!(
        relay.reload_with(&moved).await,
        Err(LoadError::ListenChanged { .. })
    ));
    relay.accept("s", fixture("minimal.json")).await;
    a.wait_for(1, WAIT).await;
}

#[tokio::test]
async fn reload_keeps_rate_limiter_state_of_unchanged_targets() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let limited = ", rate: 1/min, burst: 1";
    let relay = TestRelay::start(&two_targets(&a.url("/a"), &b.url("/b"), "a", limited)).await;
    relay.accept("s", fixture("minimal.json")).await;
    a.wait_for(1, WAIT).await;

    // Same rate, another header: the spent burst stays spent.
    let same_rate = format!("{limited}, headers: {{X-New: yes}}");
    relay
        .reload_with(&two_targets(&a.url("/a"), &b.url("/b"), "a", &same_rate))
        .await
        .unwrap();
    relay.accept("s", fixture("minimal.json")).await;
    a.assert_quiet(1, Duration::from_millis(500)).await;

    // A new rate is a new limiter: the waiting delivery goes out.
    relay
        .reload_with(&two_targets(
            &a.url("/a"),
            &b.url("/b"),
            "a",
            ", rate: 100/s",
        ))
        .await
        .unwrap();
    relay.accept("s", fixture("minimal.json")).await;
    // The delivery queued behind the old limiter waits for it (up to a
    // minute); the new one is queued behind it in the same order. So only
    // check that the limiter object was replaced.
    let runtime = relay.relay.runtime();
    let limit = runtime.targets["a"].limit.as_ref().unwrap();
    assert_eq!(limit.rate.count.get(), 100);
}

#[tokio::test]
async fn pending_delivery_uses_rotated_header_after_reload() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    a.script([Reply::Delay(Duration::from_millis(300), 200)]);
    let yaml = |token: &str| {
        two_targets(
            &a.url("/a"),
            &b.url("/b"),
            "a",
            &format!(", concurrency: 1, headers: {{Authorization: \"{token}\"}}"),
        )
    };
    let relay = TestRelay::start(&yaml("old")).await;
    relay.accept("s", fixture("minimal.json")).await;
    relay.accept("s", fixture("minimal.json")).await;
    a.wait_for(1, WAIT).await;
    // The first attempt is in flight and holds the only slot; the second waits
    // in the queue and is sent with the settings in force when it goes out.
    relay.reload_with(&yaml("new")).await.unwrap();
    let got = a.wait_for(2, WAIT).await;
    assert_eq!(got[0].header("authorization"), Some("old"));
    assert_eq!(got[1].header("authorization"), Some("new"));
}

/// The real binary: SIGHUP reloads, SIGTERM drains and exits 0.
#[tokio::test]
async fn binary_reloads_on_sighup_and_exits_cleanly_on_sigterm() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.yaml");
    let yaml = |to: &str| {
        common::with_spool(
            &format!(
                "server: {{listen: \"127.0.0.1:0\", admin_listen: \"127.0.0.1:0\"}}\n{}",
                two_targets(&a.url("/a"), &b.url("/b"), to, "")
            ),
            &dir.path().join("spool.db"),
        )
    };
    std::fs::write(&config, yaml("a")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = lines_tx.send(v);
            }
        }
    });
    let mut wait_log = async |message: &str| -> serde_json::Value {
        tokio::time::timeout(WAIT, async {
            loop {
                let line = lines.recv().await.expect("the relay exited early");
                if line["fields"]["message"] == message {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no log line {message:?}"))
    };
    let addr = wait_log("listening").await["fields"]["addr"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let post = || {
        client
            .post(format!("http://{addr}/hooks/s"))
            .body(fixture("minimal.json"))
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 202);
    a.wait_for(1, WAIT).await;

    std::fs::write(&config, yaml("b")).unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_log("reloaded config").await;
    assert_eq!(post().await.unwrap().status(), 202);
    b.wait_for(1, WAIT).await;

    // A broken file on SIGHUP is logged and changes nothing.
    std::fs::write(&config, "targets: [").unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_log("reload rejected; the previous config stays in force").await;
    assert_eq!(post().await.unwrap().status(), 202);
    b.wait_for(2, WAIT).await;

    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn shutdown_finishes_in_flight_and_a_restart_sends_the_rest() {
    let target = FakeTarget::start().await;
    target.script([Reply::Delay(Duration::from_millis(300), 200)]);
    let yaml = format!(
        "sources: {{s: {{}}}}\ntargets:\n  t: {{url: \"{}\", concurrency: 1}}\nroutes:\n  - to: [t]\n",
        target.url("/t")
    );
    let relay = TestRelay::start(&yaml).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(relay.accept_id("s", fixture("minimal.json")).await);
    }
    // The first attempt is in flight (300 ms) when SIGTERM's path starts.
    target.wait_for(1, WAIT).await;
    let relay = tokio::time::timeout(WAIT, relay.restart()).await.unwrap();
    let got = target.wait_for(3, WAIT).await;
    let mut sent: Vec<String> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    sent.sort();
    ids.sort();
    assert_eq!(
        sent, ids,
        "each webhook exactly once: the in-flight one finished, the rest waited in the spool"
    );
    target.assert_quiet(3, Duration::from_millis(300)).await;
    drop(relay);
}
