//! What the real binary logs about webhooks and their deliveries, read from
//! its JSON log: `routes` is an array, no delivery's line comes before its
//! webhook's `accepted` line, and a target that answers 410 to several
//! attempts in flight at once says so once.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

use crate::common::binary::Binary;
use crate::common::{FakeTarget, Reply, WAIT, fixture};

/// Webhooks sent to each relay in the ordering test.
const SENT: usize = 300;
/// Requests in flight at once.
const SENDERS: usize = 48;

async fn post(client: &reqwest::Client, addr: &str, body: Bytes) -> u16 {
    client
        .post(format!("http://{addr}/hooks/s"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn config(dir: &std::path::Path, targets: &str, routes: &str) -> std::path::PathBuf {
    let config = dir.join("routes.yaml");
    std::fs::write(
        &config,
        format!(
            "server: {{listen: \"127.0.0.1:0\", admin_listen: \"127.0.0.1:0\", spool: \"{}\"}}\nsources: {{s: {{}}}}\ntargets:\n{targets}routes:\n{routes}",
            dir.join("spool.db").display()
        ),
    )
    .unwrap();
    config
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_delivery_is_logged_before_its_webhooks_accepted_line() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "  a: {{url: \"{}\"}}\n  b: {{url: \"{}\"}}\n",
            a.url("/a"),
            b.url("/b")
        ),
        "  - {name: first, to: [a]}\n  - {name: second, to: [b]}\n",
    );
    let mut relay = Binary::start(&config).await;
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let body: Bytes = fixture("minimal.json").into();
    let statuses: Vec<u16> = futures_util::stream::iter(0..SENT)
        .map(|_| post(&client, &relay.addr, body.clone()))
        .buffer_unordered(SENDERS)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    a.wait_for(SENT, WAIT).await;
    b.wait_for(SENT, WAIT).await;
    for _ in 0..2 * SENT {
        relay.wait_log("delivered").await;
    }

    let mut accepted_at = std::collections::HashMap::new();
    for (at, line) in relay.seen.iter().enumerate() {
        let id = line["fields"]["id"].as_str().unwrap_or("").to_owned();
        match message(line) {
            "accepted" => {
                assert_eq!(
                    line["fields"]["routes"],
                    serde_json::json!(["first", "second"]),
                    "routes is a JSON array: {line}"
                );
                accepted_at.insert(id, at);
            }
            "delivered" => assert!(
                accepted_at.contains_key(&id),
                "line {at} says webhook {id} was delivered before any line said it was accepted: {line}"
            ),
            _ => {}
        }
    }
    assert_eq!(accepted_at.len(), SENT);
}

/// The deliveries parked in the spool now.
fn parked(dir: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("spool.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM deliveries WHERE state = 'parked'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reenabled_target_answering_410_to_every_attempt_in_flight_logs_it_once() {
    const GONE: &str = "target answered 410 Gone: disabled until the next reload; its deliveries wait in the spool";
    const CONCURRENCY: usize = 8;
    let gone = FakeTarget::start().await;
    // The first attempt disables the target; after the reload, the eight
    // sent at once all answer 410, slowly enough to be in flight together.
    gone.script(
        std::iter::once(Reply::Status(410))
            .chain((0..CONCURRENCY).map(|_| Reply::Delay(Duration::from_millis(300), 410))),
    );
    gone.respond(410);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "  t: {{url: \"{}\", concurrency: {CONCURRENCY}}}\n",
            gone.url("/t")
        ),
        "  - to: [t]\n",
    );
    let mut relay = Binary::start(&config).await;
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let body: Bytes = fixture("minimal.json").into();
    assert_eq!(post(&client, &relay.addr, body.clone()).await, 202);
    relay.wait_log(GONE).await;
    // These wait in the spool while the target is disabled.
    for _ in 0..2 * CONCURRENCY {
        assert_eq!(post(&client, &relay.addr, body.clone()).await, 202);
    }

    relay.signal("-HUP");
    let reenabled = relay.wait_log("target re-enabled by reload").await;
    assert_eq!(reenabled["fields"]["parked"], 1);
    let from = relay.seen.len();
    gone.wait_for(1 + CONCURRENCY, WAIT).await;
    assert!(
        gone.max_in_flight() >= CONCURRENCY,
        "the attempts were not in flight together ({}), so this proves nothing",
        gone.max_in_flight()
    );
    // Every attempt in flight has its outcome stored...
    let deadline = Instant::now() + WAIT;
    while parked(dir.path()) < CONCURRENCY as i64 {
        assert!(Instant::now() < deadline, "the 410s were not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...and reported to the worker: a second 410 line would come now.
    let quiet = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            relay.wait_log(GONE).await;
        }
    })
    .await;
    assert!(quiet.is_err());
    let lines = relay.seen[from..]
        .iter()
        .filter(|l| message(l) == GONE)
        .count();
    assert_eq!(
        lines, 1,
        "one line for the target, not one per attempt in flight"
    );
    assert_eq!(gone.count(), 1 + CONCURRENCY, "nothing sent once disabled");
}
