//! Delivery over real sockets: retries, Retry-After, 410, dead letters and
//! replay, the circuit breaker, backpressure, paging from the spool.

use std::time::Duration;

use crate::common::{FakeTarget, Reply, TestRelay, WAIT, fixture};
use switchboard::spool::DeadFilter;
use switchboard::spool::sqlite::dlq;

fn one_target(url: &str, target_extra: &str, server_extra: &str) -> String {
    format!(
        "server:\n  window: 4\n{server_extra}sources: {{s: {{}}}}\ntargets:\n  t: {{url: \"{url}\"{target_extra}}}\nroutes:\n  - to: [t]\n"
    )
}

fn spool_of(relay: &TestRelay) -> std::path::PathBuf {
    relay.config.with_file_name("spool.db")
}

#[tokio::test]
async fn retries_on_500_then_delivers_with_the_same_webhook_id() {
    let target = FakeTarget::start().await;
    target.script([500, 503, 200]);
    let relay =
        TestRelay::start(&one_target(&target.url("/t"), ", retry: {first: 50ms}", "")).await;
    let id = relay.accept_id("s", fixture("full.json")).await;
    let got = target.wait_for(3, WAIT).await;
    for request in &got {
        assert_eq!(request.header("webhook-id"), Some(id.as_str()));
        assert!(
            request
                .header("webhook-timestamp")
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 1_700_000_000
        );
        assert_eq!(request.body.as_ref(), fixture("full.json").as_slice());
    }
    target.assert_quiet(3, Duration::from_millis(300)).await;
    let conn = dlq::open(&spool_of(&relay)).unwrap();
    assert!(dlq::list(&conn, &DeadFilter::default()).unwrap().is_empty());
}

#[tokio::test]
async fn waits_as_long_as_retry_after_says() {
    let target = FakeTarget::start().await;
    target.script([Reply::retry_after(429, "1"), 200.into()]);
    let relay =
        TestRelay::start(&one_target(&target.url("/t"), ", retry: {first: 10ms}", "")).await;
    relay.accept("s", fixture("minimal.json")).await;
    let got = target.wait_for(2, WAIT).await;
    let gap = got[1].at - got[0].at;
    // The policy alone would wait at most 10 ms; Retry-After asks for 1 s.
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[tokio::test]
async fn retry_after_is_clamped_to_max() {
    let target = FakeTarget::start().await;
    target.script([Reply::retry_after(503, "3600"), 200.into()]);
    let relay = TestRelay::start(&one_target(
        &target.url("/t"),
        ", retry: {first: 10ms, max: 200ms}",
        "",
    ))
    .await;
    relay.accept("s", fixture("minimal.json")).await;
    let got = target.wait_for(2, WAIT).await;
    assert!(got[1].at - got[0].at < Duration::from_secs(5));
}

#[tokio::test]
async fn client_error_is_a_dead_letter_at_once() {
    let target = FakeTarget::start().await;
    target.respond(400);
    let relay =
        TestRelay::start(&one_target(&target.url("/t"), ", retry: {first: 10ms}", "")).await;
    let id = relay.accept_id("s", fixture("minimal.json")).await;
    target.wait_for(1, WAIT).await;
    target.assert_quiet(1, Duration::from_millis(300)).await;
    let conn = dlq::open(&spool_of(&relay)).unwrap();
    let dead = wait_dead(&conn, 1).await;
    assert_eq!(
        (dead[0].event.as_str(), dead[0].target.as_str()),
        (id.as_str(), "t")
    );
    assert_eq!((dead[0].attempts, dead[0].last_status), (1, Some(400)));
}

#[tokio::test]
async fn gives_up_after_the_last_attempt_and_replay_delivers() {
    let target = FakeTarget::start().await;
    target.respond(502);
    let relay = TestRelay::start(&one_target(
        &target.url("/t"),
        ", retry: {first: 10ms, attempts: 3}, circuit: {failures: 100}",
        "",
    ))
    .await;
    relay.accept("s", fixture("minimal.json")).await;
    target.wait_for(3, WAIT).await;
    let conn = dlq::open(&spool_of(&relay)).unwrap();
    let dead = wait_dead(&conn, 1).await;
    assert_eq!((dead[0].attempts, dead[0].last_status), (3, Some(502)));
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{:?}",
        dead[0].last_error
    );
    target.assert_quiet(3, Duration::from_millis(200)).await;

    // The target is fixed; an operator replays from another process.
    target.respond(200);
    assert_eq!(
        dlq::replay(
            &conn,
            &DeadFilter {
                target: Some("t".into()),
                ..Default::default()
            }
        )
        .unwrap(),
        1
    );
    let got = target.wait_for(4, WAIT).await;
    assert_eq!(got[3].header("webhook-id"), got[0].header("webhook-id"));
    assert!(dlq::list(&conn, &DeadFilter::default()).unwrap().is_empty());
}

#[tokio::test]
async fn gone_disables_the_target_until_a_reload() {
    let target = FakeTarget::start().await;
    target.script([410]);
    let yaml = one_target(&target.url("/t"), "", "");
    let relay = TestRelay::start(&yaml).await;
    relay.accept("s", fixture("minimal.json")).await;
    target.wait_for(1, WAIT).await;
    relay.accept("s", fixture("full.json")).await;
    relay.accept("s", fixture("no-summary.json")).await;
    // Disabled: nothing more goes out, and nothing is lost.
    target.assert_quiet(1, Duration::from_millis(500)).await;
    let conn = dlq::open(&spool_of(&relay)).unwrap();
    assert!(
        dlq::list(&conn, &DeadFilter::default()).unwrap().is_empty(),
        "410 parks, it does not dead-letter"
    );

    relay.reload_with(&yaml).await.unwrap();
    let got = target.wait_for(4, WAIT).await;
    let mut ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        3,
        "the parked delivery and the two waiting ones all went out"
    );
}

#[tokio::test]
async fn circuit_opens_after_failures_and_a_probe_closes_it() {
    let target = FakeTarget::start().await;
    target.script([503, 503]);
    let relay = TestRelay::start(&one_target(
        &target.url("/t"),
        ", concurrency: 1, retry: {first: 10ms}, circuit: {failures: 2, cooldown: 700ms}",
        "",
    ))
    .await;
    for _ in 0..3 {
        relay.accept("s", fixture("minimal.json")).await;
    }
    let got = target.wait_for(2, WAIT).await;
    // Open: for the cooldown nothing goes out, although three are due.
    target.assert_quiet(2, Duration::from_millis(400)).await;
    // Then one probe, which succeeds, and the rest follow.
    let got_all = target.wait_for(5, WAIT).await;
    assert!(
        got_all[2].at - got[1].at >= Duration::from_millis(600),
        "probe came {:?} after the second failure",
        got_all[2].at - got[1].at
    );
    let mut ids: Vec<&str> = got_all
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    target.assert_quiet(5, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn too_much_pending_work_is_503_with_retry_after() {
    let target = FakeTarget::start().await;
    target.script([Reply::Hang, Reply::Hang]);
    let relay = TestRelay::start(&one_target(
        &target.url("/t"),
        ", timeout: 60s, concurrency: 1",
        "  max_pending: 2\n",
    ))
    .await;
    relay.accept("s", fixture("minimal.json")).await;
    relay.accept("s", fixture("minimal.json")).await;
    let response = relay.post("s", fixture("minimal.json")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
}

#[tokio::test]
async fn a_window_smaller_than_the_backlog_delivers_each_webhook_once() {
    let target = FakeTarget::start().await;
    // A slow start fills the 4-slot window, so most deliveries are read back
    // from the spool rather than handed over in memory.
    target.script([Reply::Delay(Duration::from_millis(300), 200)]);
    let relay = TestRelay::start(&one_target(&target.url("/t"), ", concurrency: 2", "")).await;
    each_arrives_once(&relay, &target, 40, "minimal.json").await;
}

/// A worker goes on sending while a claim is out. A delivery that settles
/// meanwhile may be in the claim's answer (read before its outcome was
/// stored): it is not sent again. A slow start overflows the 4-slot window;
/// then fast answers settle deliveries while claims page in the rest.
#[tokio::test]
async fn a_delivery_settled_while_a_claim_is_out_is_sent_once() {
    let target = FakeTarget::start().await;
    target.script(std::iter::repeat_n(
        Reply::Delay(Duration::from_millis(50), 200),
        8,
    ));
    let relay = TestRelay::start(&one_target(&target.url("/t"), ", concurrency: 8", "")).await;
    each_arrives_once(&relay, &target, 300, "minimal.json").await;
}

/// Sends `n` webhooks of `payload` and checks that the target got each one
/// exactly once (by `webhook-id`), and nothing more.
async fn each_arrives_once(relay: &TestRelay, target: &FakeTarget, n: usize, payload: &str) {
    let mut ids = Vec::new();
    for _ in 0..n {
        let accepted = relay.accept("s", fixture(payload)).await;
        ids.push(accepted["id"].as_str().unwrap().to_owned());
    }
    let got = target.wait_for(n, WAIT).await;
    let mut sent: Vec<String> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    sent.sort();
    ids.sort();
    assert_eq!(sent, ids);
    target.assert_quiet(n, Duration::from_millis(300)).await;
}

/// `window_bytes` bounds what a target holds in memory, in flight included:
/// with room for two 5.8 KB bodies, no more than two attempts run at once
/// although `concurrency` allows eight, and every webhook still arrives
/// exactly once (the rest waits in the spool and is claimed as room frees).
#[tokio::test]
async fn window_bytes_bounds_what_a_target_holds() {
    let target = FakeTarget::start().await;
    target.script(std::iter::repeat_n(
        Reply::Delay(Duration::from_millis(30), 200),
        30,
    ));
    let relay = TestRelay::start(&one_target(
        &target.url("/t"),
        ", concurrency: 8",
        "  window_bytes: 12KiB\n",
    ))
    .await;
    each_arrives_once(&relay, &target, 30, "full.json").await;
    assert!(
        target.max_in_flight() <= 2,
        "{} attempts at once with room for two bodies",
        target.max_in_flight()
    );
    assert!(target.max_in_flight() >= 1);
}

/// A body larger than `window_bytes` is still sent: one delivery always fits.
#[tokio::test]
async fn a_body_larger_than_window_bytes_is_still_delivered() {
    let target = FakeTarget::start().await;
    let relay =
        TestRelay::start(&one_target(&target.url("/t"), "", "  window_bytes: 1KiB\n")).await;
    for _ in 0..3 {
        relay.accept("s", fixture("full.json")).await;
    }
    let got = target.wait_for(3, WAIT).await;
    assert!(
        got.iter()
            .all(|r| r.body.as_ref() == fixture("full.json").as_slice())
    );
    assert_eq!(target.max_in_flight(), 1);
}

#[tokio::test]
async fn removed_target_dead_letters_its_pending_deliveries() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    a.respond(503);
    let yaml = |targets: &str, to: &str| {
        format!("sources: {{s: {{}}}}\ntargets:\n{targets}routes:\n  - to: [{to}]\n")
    };
    let both = format!(
        "  a: {{url: \"{}\", retry: {{first: 1h}}}}\n  b: {{url: \"{}\"}}\n",
        a.url("/a"),
        b.url("/b")
    );
    let only_b = format!("  b: {{url: \"{}\"}}\n", b.url("/b"));
    let relay = TestRelay::start(&yaml(&both, "a")).await;
    relay.accept("s", fixture("minimal.json")).await;
    a.wait_for(1, WAIT).await;
    relay.reload_with(&yaml(&only_b, "b")).await.unwrap();
    let conn = dlq::open(&spool_of(&relay)).unwrap();
    let dead = wait_dead(&conn, 1).await;
    assert_eq!(dead[0].target, "a");
    assert!(dead[0].last_error.as_deref().unwrap().contains("removed"));
}

#[tokio::test]
async fn unwritable_spool_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let config = dir.path().join("routes.yaml");
    std::fs::write(
        &config,
        format!(
            "server: {{listen: \"127.0.0.1:0\", spool: \"{}/spool.db\", admin_listen: off}}\nsources: {{s: {{}}}}\ntargets: {{t: {{url: \"http://127.0.0.1:9/\"}}}}\nroutes: [{{to: [t]}}]\n",
            file.display()
        ),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot create the spool directory"),
        "{stderr}"
    );
    // The log line (not only the plain message) is there, without colour
    // codes: stderr is a pipe here, as under systemd or in a container.
    assert!(stderr.contains("ERROR"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "escape codes in piped logs: {stderr:?}"
    );
}

#[tokio::test]
async fn spool_with_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool.db");
    {
        let conn = rusqlite::Connection::open(&spool).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let error = dlq::open(&spool).err().unwrap().to_string();
    assert!(error.contains("schema version 99"), "{error}");
}

/// A spool written by the first release (schema 1, transformed bodies inline
/// in `deliveries`) is migrated on start, and what was pending in it is sent
/// with the right bodies.
#[tokio::test]
async fn spool_of_schema_1_is_migrated_and_its_backlog_delivered() {
    let target = FakeTarget::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("old.db");
    let original = fixture("full.json");
    {
        let conn = rusqlite::Connection::open(&spool).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE events (id TEXT PRIMARY KEY, source TEXT NOT NULL, client_ip TEXT NOT NULL,
                 received_at INTEGER NOT NULL, routes TEXT NOT NULL, body BLOB NOT NULL);
             CREATE INDEX events_received ON events(received_at);
             CREATE TABLE deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
                 target TEXT NOT NULL, route TEXT NOT NULL, body BLOB, size INTEGER NOT NULL,
                 state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_at INTEGER NOT NULL,
                 created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, last_status INTEGER, last_error TEXT);
             CREATE INDEX deliveries_due ON deliveries(target, state, due_at, id);
             CREATE INDEX deliveries_state ON deliveries(state, updated_at);
             CREATE INDEX deliveries_event ON deliveries(event_id);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        let id = "0190f5d2-0000-7000-8000-000000000001";
        conn.execute(
            "INSERT INTO events VALUES (?1, 's', '127.0.0.1', 1, '[\"r\"]', ?2)",
            rusqlite::params![id, original],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO deliveries (event_id, target, route, body, size, state, due_at, created_at, updated_at)
             VALUES (?1, 't', 'r', CAST('{\"small\":true}' AS BLOB), 14, 'pending', 1, 1, 1),
                    (?1, 't', 'r', NULL, ?2, 'pending', 1, 1, 1)",
            rusqlite::params![id, original.len() as i64],
        )
        .unwrap();
    }
    let yaml = format!(
        "server: {{spool: \"{}\"}}\nsources: {{s: {{}}}}\ntargets:\n  t: {{url: \"{}\"}}\nroutes:\n  - to: [t]\n",
        spool.display(),
        target.url("/t")
    );
    let relay = TestRelay::start(&yaml).await;
    let mut bodies: Vec<Vec<u8>> = target
        .wait_for(2, WAIT)
        .await
        .iter()
        .map(|r| r.body.to_vec())
        .collect();
    bodies.sort();
    let mut expected = vec![original.clone(), br#"{"small":true}"#.to_vec()];
    expected.sort();
    assert_eq!(bodies, expected);
    target.assert_quiet(2, Duration::from_millis(300)).await;
    drop(relay);

    let conn = rusqlite::Connection::open(&spool).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, switchboard::spool::sqlite::SCHEMA_VERSION);
    let seen: i64 = conn
        .query_row("SELECT COUNT(*) FROM seen_ids", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, 0, "version 3 remembers webhook-ids");
    let inline: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM deliveries WHERE body IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(inline, 0, "bodies moved out of deliveries");
    // Deleting a delivery (retention, `dlq purge`) deletes its body too.
    conn.execute("DELETE FROM deliveries", []).unwrap();
    let left: i64 = conn
        .query_row("SELECT COUNT(*) FROM delivery_bodies", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}

/// Waits until `n` dead letters are in the spool (outcomes are written a
/// moment after the attempt).
async fn wait_dead(conn: &rusqlite::Connection, n: usize) -> Vec<switchboard::spool::DeadLetter> {
    tokio::time::timeout(WAIT, async {
        loop {
            let dead = dlq::list(conn, &DeadFilter::default()).unwrap();
            if dead.len() >= n {
                return dead;
            }
            // Polling a file another thread writes: no event to wait on.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("fewer than {n} dead letters within {WAIT:?}"))
}

fn dlq_cli(config: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("dlq")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn dlq_commands_list_replay_and_purge_on_a_running_relay() {
    let target = FakeTarget::start().await;
    target.respond(422);
    let relay = TestRelay::start(&one_target(&target.url("/t"), "", "")).await;
    let first = relay.accept_id("s", fixture("minimal.json")).await;
    let second = relay.accept_id("s", fixture("full.json")).await;
    let conn = dlq::open(&spool_of(&relay)).unwrap();
    wait_dead(&conn, 2).await;

    let (ok, text) = dlq_cli(&relay.config, &["list", "--target", "t"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&first) && text.contains(&second) && text.contains("422"),
        "{text}"
    );
    assert!(text.contains("2 dead letters"), "{text}");
    let (ok, text) = dlq_cli(&relay.config, &["list", "--json"]);
    assert!(ok, "{text}");
    let rows: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["last_status"], 422);

    // Replay one by id: the running relay sends it again.
    target.respond(200);
    let (ok, text) = dlq_cli(&relay.config, &["replay", "--id", &first]);
    assert!(ok && text.contains("1 dead letter(s) due again"), "{text}");
    let got = target.wait_for(3, WAIT).await;
    assert_eq!(got[2].header("webhook-id"), Some(first.as_str()));

    // Purge what is older than a future moment: the other one.
    let (ok, text) = dlq_cli(
        &relay.config,
        &["purge", "--before", "2999-01-01T00:00:00Z"],
    );
    assert!(ok && text.contains("1 dead letter(s) purged"), "{text}");
    assert!(dlq::list(&conn, &DeadFilter::default()).unwrap().is_empty());
    let (ok, text) = dlq_cli(&relay.config, &["purge", "--before", "yesterday-ish"]);
    assert!(!ok && text.contains("not a duration"), "{text}");
}
