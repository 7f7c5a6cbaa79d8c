//! Nothing accepted is ever lost: the real binary is killed with SIGKILL
//! while webhooks pour in and deliveries are in flight, restarted on the same
//! spool, and every webhook it had answered 202 still reaches every target its
//! rules chose. Repeats are allowed (at-least-once) and are counted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::common::binary::Binary;
use crate::common::fake::Received;
use crate::common::mixed::{FIXTURES, TARGETS, config_yaml, missing};
use crate::common::{FakeTarget, Reply, WAIT, fixture, fixture_json};

/// Webhooks sent in all; those that fail at the kill are sent once more to
/// the restarted relay.
const SENT: usize = 600;
/// Requests in flight at once.
const SENDERS: usize = 32;
/// The relay is killed when this many webhooks were answered 202.
const KILL_AFTER: usize = 200;
/// How long the restarted relay has to deliver everything.
const DELIVERED_WITHIN: Duration = Duration::from_secs(30);

/// What one POST got.
#[derive(Debug)]
enum Outcome {
    /// 202 from the relay at `by`, with the webhook's id and its delivery count.
    Accepted {
        id: String,
        deliveries: u64,
        by: String,
    },
    /// Another status: not accepted.
    Refused,
    /// No (complete) answer, as when the relay is killed: not accepted.
    Failed,
}

/// POSTs one webhook to the relay at `addr`.
async fn post(client: &reqwest::Client, addr: &str, body: Bytes) -> Outcome {
    let sent = client
        .post(format!("http://{addr}/hooks/s"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let Ok(response) = sent else {
        return Outcome::Failed;
    };
    let status = response.status();
    match response.text().await {
        Err(_) => Outcome::Failed,
        Ok(text) if status == 202 => {
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("202 with a body that is not JSON ({e}): {text}"));
            Outcome::Accepted {
                id: v["id"].as_str().unwrap().to_owned(),
                deliveries: v["deliveries"].as_u64().unwrap(),
                by: addr.to_owned(),
            }
        }
        Ok(_) => Outcome::Refused,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_accepted_webhook() {
    let started = Instant::now();
    let fakes = [
        FakeTarget::start().await,
        FakeTarget::start().await,
        FakeTarget::start().await,
    ];
    // Now and then a slow answer, so attempts are in flight when the kill comes.
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
    let spool = dir.path().join("spool.db");
    std::fs::write(
        &config,
        config_yaml(
            &format!(
                r#"listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0", spool: "{}""#,
                spool.display()
            ),
            &fakes,
            "",
        ),
    )
    .unwrap();

    let bodies: Arc<Vec<Bytes>> =
        Arc::new(FIXTURES.iter().map(|(f, _)| fixture(f).into()).collect());
    let mut relay = Binary::start(&config).await;

    // Send everything, SENDERS at a time. The KILL_AFTER-th 202 rings the
    // bell. A sender whose request fails waits for the restarted relay and
    // sends once more, as a webhook sender retries.
    let accepted_count = Arc::new(AtomicUsize::new(0));
    let kill_now = Arc::new(Notify::new());
    let (relay_addr, addr_rx) = watch::channel(relay.addr.clone());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut senders = tokio::spawn({
        let (accepted_count, kill_now) = (accepted_count.clone(), kill_now.clone());
        futures_util::stream::iter(0..SENT)
            .map(move |i| {
                let (client, bodies, mut addr_rx) =
                    (client.clone(), bodies.clone(), addr_rx.clone());
                let (accepted_count, kill_now) = (accepted_count.clone(), kill_now.clone());
                async move {
                    let f = i % FIXTURES.len();
                    let mut tries = 0;
                    let outcome = loop {
                        let addr = addr_rx.borrow_and_update().clone();
                        tries += 1;
                        match post(&client, &addr, bodies[f].clone()).await {
                            Outcome::Failed if tries < 2 => {
                                if tokio::time::timeout(WAIT, addr_rx.changed()).await.is_err() {
                                    break Outcome::Failed;
                                }
                            }
                            outcome => break outcome,
                        }
                    };
                    if matches!(outcome, Outcome::Accepted { .. })
                        && accepted_count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER
                    {
                        kill_now.notify_one();
                    }
                    (f, outcome, tries)
                }
            })
            .buffer_unordered(SENDERS)
            .collect::<Vec<_>>()
    });

    tokio::select! {
        biased;
        () = kill_now.notified() => {}
        done = &mut senders => panic!(
            "every webhook was sent before {KILL_AFTER} were accepted: {:?}",
            done.unwrap().iter().take(5).collect::<Vec<_>>()
        ),
        () = tokio::time::sleep(WAIT) => panic!("{KILL_AFTER} webhooks were not accepted within {WAIT:?}"),
    }
    relay.signal("-KILL");
    let status = relay.exited().await;
    assert_eq!(
        status.signal(),
        Some(9),
        "the relay was to die of SIGKILL: {status:?}"
    );
    let at_kill: Vec<usize> = fakes.iter().map(FakeTarget::count).collect();
    let mut problems = relay.problems();
    let first_addr = relay.addr.clone();

    // Restart on the same config and spool; the senders go on there.
    let mut relay = Binary::start(&config).await;
    let pending_at_restart = relay.logged("spool open", "pending");
    relay_addr.send_replace(relay.addr.clone());

    let results = tokio::time::timeout(WAIT, senders)
        .await
        .expect("the senders did not finish after the restart")
        .unwrap();
    let mut accepted: HashMap<String, usize> = HashMap::new();
    let (mut refused, mut failed, mut resent, mut before_kill) = (0, 0, 0, 0);
    for (f, outcome, tries) in results {
        if tries > 1 {
            resent += 1;
        }
        match outcome {
            Outcome::Accepted { id, deliveries, by } => {
                assert_eq!(
                    deliveries as usize,
                    FIXTURES[f].1.len(),
                    "{}: the rules chose a different number of targets than expected",
                    FIXTURES[f].0
                );
                assert!(
                    accepted.insert(id.clone(), f).is_none(),
                    "id {id} answered twice"
                );
                if by == first_addr {
                    before_kill += 1;
                }
            }
            Outcome::Refused => refused += 1,
            Outcome::Failed => failed += 1,
        }
    }
    assert!(before_kill >= KILL_AFTER);

    // Wait until each accepted webhook has been seen at each of its targets.
    // This polls the request counts: `FakeTarget::wait_for` can deadlock
    // while requests keep arriving (it reads the requests while holding the
    // count's watch guard, and `handle` updates the count under the requests'
    // lock).
    let deadline = Instant::now() + DELIVERED_WITHIN;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
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
                 after the restart (accepted {}): {missing:#?}\nrelay warnings: {:#?}",
                missing.len(),
                accepted.len(),
                relay.problems()
            );
        }
        tick.tick().await;
    };
    let delivered_at = started.elapsed();

    // Every request: a known webhook id, a target its fixture's rules chose,
    // and the right body (the original bytes, or without the transcription
    // for crm). Unacknowledged webhooks may have been committed and delivered
    // too: they are recognised by the call id in their body.
    let by_call_id: HashMap<String, usize> = FIXTURES
        .iter()
        .enumerate()
        .map(|(f, (name, _))| {
            (
                fixture_json(name)["call"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                f,
            )
        })
        .collect();
    let crm_bodies: Vec<Value> = FIXTURES
        .iter()
        .map(|(name, _)| {
            let mut v = fixture_json(name);
            if let Some(assist) = v["assist"].as_object_mut() {
                assist.remove("transcription");
            }
            v
        })
        .collect();
    let raw: Vec<Vec<u8>> = FIXTURES.iter().map(|(name, _)| fixture(name)).collect();
    let mut wrong = Vec::new();
    let mut duplicates: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut unacknowledged: HashSet<String> = HashSet::new();
    for (t, name) in TARGETS.iter().enumerate() {
        let mut times: HashMap<String, usize> = HashMap::new();
        for r in &got[t] {
            let Some(id) = r.header("webhook-id") else {
                wrong.push(format!("{name}: a request without webhook-id: {r:?}"));
                continue;
            };
            *times.entry(id.to_owned()).or_default() += 1;
            let Some(f) = serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|v| by_call_id.get(v["call"]["id"].as_str()?).copied())
            else {
                wrong.push(format!("{name}: {id}: a body of no fixture sent: {r:?}"));
                continue;
            };
            if !FIXTURES[f].1.contains(name) {
                wrong.push(format!(
                    "{name}: {id} ({}) was not chosen for this target",
                    FIXTURES[f].0
                ));
            }
            match accepted.get(id) {
                Some(&sent) if sent != f => wrong.push(format!(
                    "{name}: {id} was sent as {} but arrived as {}",
                    FIXTURES[sent].0, FIXTURES[f].0
                )),
                Some(_) => {}
                None => {
                    unacknowledged.insert(id.to_owned());
                }
            }
            let body_ok = if *name == "crm" {
                r.json() == crm_bodies[f]
            } else {
                r.body[..] == raw[f][..]
            };
            if !body_ok {
                wrong.push(format!(
                    "{name}: {id}: unexpected body for {}: {r:?}",
                    FIXTURES[f].0
                ));
            }
        }
        duplicates.insert(name, times.into_iter().filter(|(_, n)| *n > 1).collect());
    }

    // A clean stop: SIGTERM, exit 0.
    relay.signal("-TERM");
    let status = relay.exited().await;
    problems.extend(relay.problems());
    assert!(status.success(), "exit status after SIGTERM: {status:?}");

    // The 202 meant "on disk": each accepted webhook is in the spool with
    // exactly its deliveries.
    let db = rusqlite::Connection::open(&spool).unwrap();
    let mut rows: HashMap<String, Vec<String>> = HashMap::new();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    {
        let mut stmt = db
            .prepare("SELECT event_id, target, state FROM deliveries")
            .unwrap();
        let mut query = stmt.query([]).unwrap();
        while let Some(row) = query.next().unwrap() {
            rows.entry(row.get(0).unwrap())
                .or_default()
                .push(row.get(1).unwrap());
            *states.entry(row.get(2).unwrap()).or_default() += 1;
        }
    }
    for (id, &f) in &accepted {
        let mut targets = rows.get(id).cloned().unwrap_or_default();
        targets.sort();
        let mut expected: Vec<String> = FIXTURES[f].1.iter().map(|s| s.to_string()).collect();
        expected.sort();
        if targets != expected {
            wrong.push(format!(
                "spool: {id} ({}) has deliveries {targets:?}",
                FIXTURES[f].0
            ));
        }
    }

    let total_duplicates: usize = duplicates
        .values()
        .flat_map(|d| d.values())
        .map(|n| n - 1)
        .sum();
    eprintln!(
        "crash: sent {SENT}, accepted {} ({before_kill} before the kill), refused {refused}, \
         failed {failed}; {resent} sent again to the restarted relay",
        accepted.len()
    );
    eprintln!(
        "crash: requests at the kill {at_kill:?}; pending deliveries at restart {pending_at_restart}; \
         all accepted delivered {delivered_at:?} after the start"
    );
    eprintln!(
        "crash: webhooks delivered though no 202 reached the sender: {}",
        unacknowledged.len()
    );
    for (t, name) in TARGETS.iter().enumerate() {
        let extra: usize = duplicates[name].values().map(|n| n - 1).sum();
        let most = duplicates[name].values().max().copied().unwrap_or(1);
        let some: Vec<_> = duplicates[name].iter().take(3).collect();
        eprintln!(
            "crash: {name}: {} requests, {} webhooks repeated, {extra} extra requests \
             (at most {most} of one), e.g. {some:?}",
            got[t].len(),
            duplicates[name].len(),
        );
    }
    eprintln!(
        "crash: {total_duplicates} duplicate deliveries in all; spool rows by state {states:?}"
    );
    if !problems.is_empty() {
        eprintln!("crash: relay warnings and errors:\n{}", problems.join("\n"));
    }
    assert!(
        wrong.is_empty(),
        "{} wrong deliveries:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    eprintln!("crash: {:?} in all", started.elapsed());
}
