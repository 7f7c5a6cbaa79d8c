//! Several relays on one PostgreSQL spool. Two real binaries share a
//! database (started together, so their migrations meet the advisory lock);
//! webhooks are spread over both; one is killed with SIGKILL mid-stream.
//! Every webhook either of them answered 202 still reaches every target its
//! rules chose, the dead replica's share once its leases expire. Repeats are
//! allowed (at least once) and are counted. Then: a PostgreSQL outage is
//! answered 503 and both ingress and delivery recover by themselves.
//!
//! PostgreSQL is started by the tests (see `common/pg.rs`).

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::common::binary::Binary;
use crate::common::fake::Received;
use crate::common::mixed::{FIXTURES, TARGETS, config_yaml, missing};
use crate::common::{FakeTarget, Reply, TestRelay, WAIT, fixture};

/// Webhooks sent in all, alternating between the replicas.
const SENT: usize = 400;
/// Requests in flight at once.
const SENDERS: usize = 32;
/// The second replica is killed when this many webhooks were answered 202.
const KILL_AFTER: usize = 150;
/// How long the survivor has to deliver everything (leases are 2 s).
const DELIVERED_WITHIN: Duration = Duration::from_secs(40);

/// What one POST got: `Some((id, deliveries))` for a 202.
async fn post(client: &reqwest::Client, addr: &str, body: Bytes) -> Option<(String, u64)> {
    let response = client
        .post(format!("http://{addr}/hooks/s"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .ok()?;
    if response.status() != 202 {
        return None;
    }
    let v: Value = serde_json::from_str(&response.text().await.ok()?).ok()?;
    Some((v["id"].as_str()?.to_owned(), v["deliveries"].as_u64()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_lose_nothing_when_one_is_killed() {
    let test = "two_replicas_lose_nothing_when_one_is_killed";
    let Some(server) = common::pg::shared(test) else {
        return;
    };
    let started = Instant::now();
    let database = server.database().await;
    let fakes = [
        FakeTarget::start().await,
        FakeTarget::start().await,
        FakeTarget::start().await,
    ];
    // Now and then a slow answer, so attempts are in flight at the kill.
    for fake in &fakes {
        fake.script((0..SENT).map(|i| {
            if i % 10 == 9 {
                Reply::Delay(Duration::from_millis(50), 200)
            } else {
                Reply::Status(200)
            }
        }));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.yaml");
    std::fs::write(&config, config_yaml(
            &format!(r#"listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0", spool: "{database}", lease: 2s, window: 64"#),
            &fakes,
            ", rate: 100/s",
        )).unwrap();

    // Started together: the schema is created once, under the lock.
    let (mut one, mut two) = tokio::join!(Binary::start(&config), Binary::start(&config));
    let live: Arc<Mutex<Vec<String>>> =
        Arc::new(Mutex::new(vec![one.addr.clone(), two.addr.clone()]));
    let bodies: Arc<Vec<Bytes>> =
        Arc::new(FIXTURES.iter().map(|(f, _)| fixture(f).into()).collect());
    let accepted_count = Arc::new(AtomicUsize::new(0));
    let kill_now = Arc::new(Notify::new());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // Each webhook goes to replica i % 2; a sender whose request fails sends
    // it once more to a replica still alive, as a load balancer would.
    let mut senders = tokio::spawn({
        let (live, accepted_count, kill_now) =
            (live.clone(), accepted_count.clone(), kill_now.clone());
        futures_util::stream::iter(0..SENT)
            .map(move |i| {
                let (client, bodies, live) = (client.clone(), bodies.clone(), live.clone());
                let (accepted_count, kill_now) = (accepted_count.clone(), kill_now.clone());
                async move {
                    let f = i % FIXTURES.len();
                    let first = live.lock().unwrap()[i % 2].clone();
                    let mut outcome = post(&client, &first, bodies[f].clone()).await;
                    let mut by = first.clone();
                    if outcome.is_none() {
                        let addrs = live.lock().unwrap().clone();
                        by = addrs
                            .iter()
                            .find(|a| **a != first)
                            .unwrap_or(&first)
                            .clone();
                        outcome = post(&client, &by, bodies[f].clone()).await;
                    }
                    if outcome.is_some()
                        && accepted_count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER
                    {
                        kill_now.notify_one();
                    }
                    (f, outcome, by)
                }
            })
            .buffer_unordered(SENDERS)
            .collect::<Vec<_>>()
    });

    tokio::select! {
        biased;
        () = kill_now.notified() => {}
        _ = &mut senders => panic!("every webhook was sent before {KILL_AFTER} were accepted"),
        () = tokio::time::sleep(WAIT * 3) => panic!("{KILL_AFTER} webhooks were not accepted in time"),
    }
    // From now on, new requests go to the survivor; those in flight to the
    // killed one fail and are sent again there.
    live.lock().unwrap()[1] = one.addr.clone();
    two.signal("-KILL");
    let status = two.exited().await;
    assert_eq!(
        status.signal(),
        Some(9),
        "the replica was to die of SIGKILL"
    );
    // What it held at its death waits for its leases to expire.
    let (db, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let killed = two
        .seen
        .iter()
        .find(|l| l["fields"]["message"] == "joined the replicas sharing the PostgreSQL spool")
        .and_then(|l| l["fields"]["replica"].as_str())
        .expect("the replica logs its name")
        .to_owned();
    let orphaned: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM deliveries WHERE leased_by = $1 AND state = 'pending'",
            &[&killed],
        )
        .await
        .unwrap()
        .get(0);
    let at_kill: Vec<usize> = fakes.iter().map(FakeTarget::count).collect();
    let killed_at = started.elapsed();

    let results = tokio::time::timeout(WAIT * 3, senders)
        .await
        .expect("the senders did not finish")
        .unwrap();
    let mut accepted: HashMap<String, usize> = HashMap::new();
    let mut by_replica: BTreeMap<String, usize> = BTreeMap::new();
    let mut refused = 0;
    for (f, outcome, by) in results {
        match outcome {
            Some((id, deliveries)) => {
                assert_eq!(
                    deliveries as usize,
                    FIXTURES[f].1.len(),
                    "{}",
                    FIXTURES[f].0
                );
                assert!(accepted.insert(id.clone(), f).is_none(), "id {id} twice");
                let name = if by == one.addr { "survivor" } else { "killed" };
                *by_replica.entry(name.to_owned()).or_default() += 1;
            }
            None => refused += 1,
        }
    }
    assert!(
        by_replica.get("killed").copied().unwrap_or(0) > 0,
        "the killed replica accepted nothing: {by_replica:?}"
    );

    // Every accepted webhook at each of its targets.
    let deadline = Instant::now() + DELIVERED_WITHIN;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut counts = Vec::new();
    let got = loop {
        let now_counts: Vec<usize> = fakes.iter().map(FakeTarget::count).collect();
        if now_counts != counts {
            counts = now_counts;
            let got: Vec<Vec<Received>> = fakes.iter().map(FakeTarget::received).collect();
            if missing(&accepted, &got).is_empty() {
                break got;
            }
        }
        if Instant::now() >= deadline {
            let got: Vec<Vec<Received>> = fakes.iter().map(FakeTarget::received).collect();
            let missing = missing(&accepted, &got);
            panic!(
                "LOST: {} accepted deliveries never arrived within {DELIVERED_WITHIN:?} \
                 (accepted {}): {:#?}\nsurvivor's warnings: {:#?}",
                missing.len(),
                accepted.len(),
                &missing[..missing.len().min(20)],
                one.problems()
            );
        }
        tick.tick().await;
    };
    let delivered_at = started.elapsed();

    // The database holds each accepted webhook with exactly its deliveries.
    let mut rows: HashMap<String, Vec<String>> = HashMap::new();
    for row in db
        .query("SELECT event_id::text, target FROM deliveries", &[])
        .await
        .unwrap()
    {
        rows.entry(row.get(0)).or_default().push(row.get(1));
    }
    let mut wrong = Vec::new();
    for (id, &f) in &accepted {
        let mut targets = rows.get(id).cloned().unwrap_or_default();
        targets.sort();
        let mut expected: Vec<String> = FIXTURES[f].1.iter().map(|s| s.to_string()).collect();
        expected.sort();
        if targets != expected {
            wrong.push(format!(
                "{id} ({}) has deliveries {targets:?}",
                FIXTURES[f].0
            ));
        }
    }

    // Repeats, per target.
    let mut total_duplicates = 0;
    for (t, name) in TARGETS.iter().enumerate() {
        let mut times: HashMap<&str, usize> = HashMap::new();
        for r in &got[t] {
            *times
                .entry(r.header("webhook-id").unwrap_or(""))
                .or_default() += 1;
        }
        let extra: usize = times.values().map(|n| n - 1).sum();
        total_duplicates += extra;
        eprintln!(
            "replicas: {name}: {} requests, {} webhooks, {extra} duplicate deliveries",
            got[t].len(),
            times.len()
        );
    }
    let states: Vec<(String, i64)> = db
        .query(
            "SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    one.signal("-TERM");
    let status = one.exited().await;
    let problems = one.problems();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");

    eprintln!(
        "replicas: sent {SENT}, accepted {} ({by_replica:?}), refused {refused}; killed at {killed_at:?} \
         with requests {at_kill:?} at the targets; all delivered {delivered_at:?} after the start",
        accepted.len()
    );
    eprintln!(
        "replicas: {orphaned} deliveries were leased to the killed replica {killed} at its death"
    );
    eprintln!("replicas: {total_duplicates} duplicate deliveries in all; rows by state {states:?}");
    if !problems.is_empty() {
        eprintln!(
            "replicas: survivor's warnings and errors:\n{}",
            problems.join("\n")
        );
    }
    // The rate limits keep a backlog in each replica's windows, so the kill
    // leaves work that only the lease expiry hands over.
    assert!(
        orphaned > 0,
        "the kill left nothing to take over; the test proves little"
    );
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn a_postgres_outage_is_answered_503_and_both_sides_recover() {
    let test = "a_postgres_outage_is_answered_503_and_both_sides_recover";
    let Some(server) = common::pg::own(test) else {
        return;
    };
    let database = server.database().await;
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&format!(
        "server: {{spool: \"{database}\", lease: 2s}}\nsources: {{s: {{}}}}\n\
         targets:\n  t: {{url: \"{}\", retry: {{first: 50ms}}}}\nroutes:\n  - to: [t]\n",
        target.url("/t")
    ))
    .await;
    relay.accept("s", fixture("minimal.json")).await;
    target.wait_for(1, WAIT).await;

    server.stop();
    let response = relay.post("s", fixture("minimal.json")).await;
    assert_eq!(response.status(), 503, "{:?}", response.text().await);
    let ready = relay
        .client
        .get(relay.admin("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    server.resume().unwrap();
    // Ingress comes back by itself: the next commit reconnects.
    let deadline = Instant::now() + WAIT;
    let id = loop {
        let response = relay.post("s", fixture("full.json")).await;
        if response.status() == 202 {
            let v: Value = response.json().await.unwrap();
            break v["id"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "still {} after the database came back",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // And delivery: the webhook accepted after the outage arrives.
    let got = target.wait_for(2, WAIT).await;
    assert!(
        got.iter()
            .any(|r| r.header("webhook-id") == Some(id.as_str())),
        "{got:?}"
    );
    let ready = relay
        .client
        .get(relay.admin("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
