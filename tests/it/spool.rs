//! The spool's behaviour, the same test bodies against both backends: each
//! proposition runs once on SQLite (`…_on_sqlite`) and once on PostgreSQL
//! (`…_on_postgres`, a throwaway server: see `common/pg.rs`). Then what only
//! several PostgreSQL replicas have: leases.

use crate::common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use switchboard::config::interpolate::Env;
use switchboard::spool::{
    AttemptLog, Backend, Claimed, DeadFilter, Ledger, LedgerBackend, Location, NewDelivery,
    NewEvent, Ready, Record, Spool, Window,
};

/// One backend, opened on a fresh spool.
pub(crate) struct Fixture {
    pub(crate) spool: Backend,
    pub(crate) ledger: LedgerBackend,
    location: Location,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

const LEASE: Duration = Duration::from_secs(30);

pub(crate) async fn open(kind: Kind, test: &str) -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let location = match kind {
        Kind::Sqlite => Location::Sqlite(dir.path().join("spool.db")),
        Kind::Postgres => {
            let url = common::pg::shared(test)?.database().await;
            Location::parse(&url, &Env::default()).unwrap()
        }
    };
    Some(reopen(&location, dir, LEASE).await)
}

async fn reopen(location: &Location, dir: tempfile::TempDir, lease: Duration) -> Fixture {
    let spool = Backend::open(location, 512, Duration::from_secs(3600), lease)
        .await
        .unwrap_or_else(|e| panic!("open {location}: {e}"));
    let ledger = spool.ledger(location).unwrap();
    Fixture {
        spool,
        ledger,
        location: location.clone(),
        _dir: dir,
    }
}

/// Runs `$body(fixture)` as two tests, one per backend (also for
/// `bulk_spool`).
macro_rules! on_both {
    ($body:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $body(
                $crate::spool::open($crate::spool::Kind::Sqlite, stringify!($sqlite))
                    .await
                    .unwrap(),
            )
            .await;
        }
        #[tokio::test]
        async fn $postgres() {
            if let Some(fixture) =
                $crate::spool::open($crate::spool::Kind::Postgres, stringify!($postgres)).await
            {
                $body(fixture).await;
            }
        }
    };
}
pub(crate) use on_both;

fn now_ms() -> i64 {
    switchboard::time::now_ms()
}

pub(crate) fn event(body: &str) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        source: "s".to_owned(),
        client_ip: "127.0.0.1".to_owned(),
        received_ms: now_ms(),
        routes: vec!["r".to_owned()],
        body: Bytes::from(body.to_owned()),
        seen: None,
        ..NewEvent::default()
    }
}

pub(crate) fn to(target: &str, body: Option<&str>) -> NewDelivery {
    NewDelivery {
        target: target.to_owned(),
        route: "r".to_owned(),
        body: body.map(|b| Bytes::from(b.to_owned())),
        ..NewDelivery::default()
    }
}

/// A window of `size` for `target`, as a dispatcher attaches one.
fn window(spool: &Backend, target: &str, size: usize) -> mpsc::Receiver<Ready> {
    let (tx, rx) = mpsc::channel(size);
    spool.attach(
        target,
        Window {
            tx,
            wake: Arc::new(Notify::new()),
            budget: Arc::new(switchboard::spool::Budget::new(u64::MAX)),
        },
    );
    rx
}

/// Attached windows start in overflow (an earlier run may have left work);
/// an exhausted claim, once the spool's start-up housekeeping has run (the
/// flush), opens them to fresh deliveries.
async fn open_window(spool: &Backend, target: &str) {
    spool.flush().await.unwrap();
    assert!(claim_all(spool, target).await.exhausted);
}

/// Everything due for `target` (up to ten), holding nothing.
pub(crate) async fn claim_all(spool: &Backend, target: &str) -> Claimed {
    spool.claim(target, 10, vec![]).await.unwrap()
}

fn drain(rx: &mut mpsc::Receiver<Ready>) -> Vec<Ready> {
    let mut got = Vec::new();
    while let Ok(ready) = rx.try_recv() {
        got.push(ready);
    }
    got
}

async fn accept_then_claim_then_record(f: Fixture) {
    let mut a = window(&f.spool, "a", 16);
    open_window(&f.spool, "a").await;
    let e = event(r#"{"n":1}"#);
    let id = e.id;
    f.spool
        .accept(e, vec![to("a", None), to("b", Some(r#"{"short":1}"#))])
        .await
        .unwrap();
    // The fresh delivery is offered to a's window: not read back.
    let fresh = drain(&mut a);
    assert_eq!(fresh.len(), 1);
    assert_eq!(
        (fresh[0].event, fresh[0].attempts, &fresh[0].body[..]),
        (id, 0, &br#"{"n":1}"#[..])
    );
    assert_eq!(f.spool.pending().deliveries, 2);
    // b has no window: a claim finds it, with its rendered body.
    let b = claim_all(&f.spool, "b").await;
    assert_eq!(b.ready.len(), 1);
    assert!(b.exhausted);
    assert_eq!(&b.ready[0].body[..], br#"{"short":1}"#);
    f.spool
        .record(
            fresh[0].id,
            Record::Delivered { status: 200 },
            AttemptLog::default(),
        )
        .await;
    f.spool.flush().await.unwrap();
    let again = claim_all(&f.spool, "a").await;
    assert!(again.ready.is_empty(), "a delivered delivery came back");
    assert_eq!(f.spool.pending().deliveries, 1);
    let story = f.ledger.event(&id.to_string()).await.unwrap().unwrap();
    let states: Vec<(&str, &str, u32)> = story
        .deliveries
        .iter()
        .map(|d| {
            let d = &d.summary;
            (d.target.as_str(), d.state.as_str(), d.attempts)
        })
        .collect();
    assert_eq!(states, [("a", "delivered", 1), ("b", "pending", 0)]);
    assert_eq!(story.head.routes, ["r"]);
    assert!(
        f.ledger
            .event(&Uuid::now_v7().to_string())
            .await
            .unwrap()
            .is_none()
    );
}
on_both!(
    accept_then_claim_then_record,
    accept_then_claim_then_record_on_sqlite,
    accept_then_claim_then_record_on_postgres
);

/// A full window leaves the rest in storage and says so; a claim then hands
/// over everything due, the offered ones under the same ids, so a
/// dispatcher's set of held ids sends each once.
async fn a_full_window_overflows_into_claims_with_the_same_ids(f: Fixture) {
    let mut a = window(&f.spool, "a", 2);
    open_window(&f.spool, "a").await;
    for n in 0..5 {
        f.spool
            .accept(event(&format!("{{\"n\":{n}}}")), vec![to("a", None)])
            .await
            .unwrap();
    }
    let offered = drain(&mut a);
    assert_eq!(offered.len(), 2, "the window holds two");
    let claimed = claim_all(&f.spool, "a").await;
    assert!(claimed.exhausted);
    let mut held: HashSet<i64> = offered.iter().map(|r| r.id).collect();
    let mut sent = offered.len();
    for ready in &claimed.ready {
        if held.insert(ready.id) {
            sent += 1;
        }
    }
    assert_eq!(sent, 5, "every delivery once");
    let claimed_ids: HashSet<i64> = claimed.ready.iter().map(|r| r.id).collect();
    assert!(claimed_ids.len() >= 3);
    // Oldest due first.
    let ids: Vec<i64> = claimed.ready.iter().map(|r| r.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}
on_both!(
    a_full_window_overflows_into_claims_with_the_same_ids,
    a_full_window_overflows_into_claims_with_the_same_ids_on_sqlite,
    a_full_window_overflows_into_claims_with_the_same_ids_on_postgres
);

/// A claim leaves out what the dispatcher says it holds: the limit counts
/// only the others, and whether everything due was returned says so too.
async fn a_claim_leaves_out_the_held_ones(f: Fixture) {
    for n in 0..5 {
        f.spool
            .accept(event(&format!("{{\"n\":{n}}}")), vec![to("a", None)])
            .await
            .unwrap();
    }
    let all = claim_all(&f.spool, "a").await;
    let ids: Vec<i64> = all.ready.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 5);
    // The two oldest are held: the next two come, and more are due.
    let next = f.spool.claim("a", 2, ids[..2].to_vec()).await.unwrap();
    let got: Vec<i64> = next.ready.iter().map(|r| r.id).collect();
    assert_eq!(got, ids[2..4]);
    assert!(!next.exhausted, "one more is due");
    assert_eq!(&next.ready[0].body[..], br#"{"n":2}"#);
    // Holding four, a claim for up to ten returns the last, and all of it.
    let last = f.spool.claim("a", 10, ids[..4].to_vec()).await.unwrap();
    let got: Vec<i64> = last.ready.iter().map(|r| r.id).collect();
    assert_eq!(got, ids[4..]);
    assert!(last.exhausted);
    // Holding all of them, nothing is left.
    let none = f.spool.claim("a", 10, ids.clone()).await.unwrap();
    assert!(none.ready.is_empty() && none.exhausted);
}
on_both!(
    a_claim_leaves_out_the_held_ones,
    a_claim_leaves_out_the_held_ones_on_sqlite,
    a_claim_leaves_out_the_held_ones_on_postgres
);

async fn a_retry_is_claimed_when_due_and_not_before(f: Fixture) {
    f.spool
        .accept(event("{}"), vec![to("a", None)])
        .await
        .unwrap();
    let first = claim_all(&f.spool, "a").await;
    let id = first.ready[0].id;
    let later = now_ms() + 60_000;
    f.spool
        .record(
            id,
            Record::Retry {
                due_ms: later,
                status: Some(503),
                error: "HTTP 503".to_owned(),
            },
            AttemptLog::default(),
        )
        .await;
    let waiting = claim_all(&f.spool, "a").await;
    assert!(waiting.ready.is_empty());
    assert_eq!(waiting.next_due_ms, Some(later));
    f.spool
        .record(
            id,
            Record::Retry {
                due_ms: now_ms() - 1,
                status: None,
                error: "connection refused".to_owned(),
            },
            AttemptLog::default(),
        )
        .await;
    let due = claim_all(&f.spool, "a").await;
    assert_eq!(due.ready.len(), 1);
    assert_eq!((due.ready[0].id, due.ready[0].attempts), (id, 2));
    assert_eq!(due.next_due_ms, None);
    assert_eq!(f.spool.pending().deliveries, 1);
}
on_both!(
    a_retry_is_claimed_when_due_and_not_before,
    a_retry_is_claimed_when_due_and_not_before_on_sqlite,
    a_retry_is_claimed_when_due_and_not_before_on_postgres
);

async fn dead_letters_are_listed_replayed_and_purged(f: Fixture) {
    let (keep, lose) = (event(r#"{"k":1}"#), event(r#"{"l":1}"#));
    let (keep_id, lose_id) = (keep.id.to_string(), lose.id.to_string());
    f.spool.accept(keep, vec![to("a", None)]).await.unwrap();
    f.spool
        .accept(lose, vec![to("a", None), to("b", None)])
        .await
        .unwrap();
    let claimed = claim_all(&f.spool, "a").await;
    assert_eq!(claimed.ready.len(), 2);
    for ready in &claimed.ready {
        f.spool
            .record(
                ready.id,
                Record::Dead {
                    status: Some(400),
                    error: "HTTP 400: not retried".to_owned(),
                },
                AttemptLog::default(),
            )
            .await;
    }
    f.spool.flush().await.unwrap();
    assert_eq!(f.spool.pending().deliveries, 1, "b stays pending");
    let dead = f.ledger.dead_letters(&DeadFilter::default()).await.unwrap();
    assert_eq!(dead.len(), 2);
    assert_eq!(
        (
            dead[0].target.as_str(),
            dead[0].attempts,
            dead[0].last_status,
            dead[0].last_error.as_deref()
        ),
        ("a", 1, Some(400), Some("HTTP 400: not retried"))
    );
    let only = |ids: &[&str]| DeadFilter {
        events: ids.iter().map(|s| s.to_string()).collect(),
        ..DeadFilter::default()
    };
    let other_target = DeadFilter {
        target: Some("b".to_owned()),
        ..DeadFilter::default()
    };
    assert!(
        f.ledger
            .dead_letters(&other_target)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.ledger
            .dead_letters(&only(&["not-a-uuid"]))
            .await
            .unwrap()
            .is_empty()
    );
    let past = DeadFilter {
        before_ms: Some(now_ms() - 60_000),
        ..DeadFilter::default()
    };
    assert!(f.ledger.dead_letters(&past).await.unwrap().is_empty());
    assert_eq!(f.ledger.backlog().await.unwrap()["a"].dead, 2);

    // Replay: due again, attempts reset.
    assert_eq!(f.ledger.replay(&only(&[&keep_id])).await.unwrap(), 1);
    let again = claim_all(&f.spool, "a").await;
    assert_eq!(again.ready.len(), 1);
    assert_eq!(again.ready[0].event.to_string(), keep_id);
    assert_eq!(again.ready[0].attempts, 0);

    // Purge: the dead letter goes; its event stays while b still needs it.
    assert_eq!(f.ledger.purge(&only(&[&lose_id])).await.unwrap(), 1);
    assert!(
        f.ledger
            .dead_letters(&DeadFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let story = f.ledger.event(&lose_id).await.unwrap().unwrap();
    assert_eq!(story.deliveries.len(), 1);
    assert_eq!(story.deliveries[0].summary.target, "b");
}
on_both!(
    dead_letters_are_listed_replayed_and_purged,
    dead_letters_are_listed_replayed_and_purged_on_sqlite,
    dead_letters_are_listed_replayed_and_purged_on_postgres
);

async fn a_purge_takes_events_left_without_deliveries(f: Fixture) {
    let e = event("{}");
    let id = e.id.to_string();
    f.spool.accept(e, vec![to("a", None)]).await.unwrap();
    let ready = f.spool.claim("a", 1, vec![]).await.unwrap().ready;
    f.spool
        .record(
            ready[0].id,
            Record::Dead {
                status: None,
                error: "gave up".to_owned(),
            },
            AttemptLog::default(),
        )
        .await;
    f.spool.flush().await.unwrap();
    assert_eq!(f.ledger.purge(&DeadFilter::default()).await.unwrap(), 1);
    assert!(f.ledger.event(&id).await.unwrap().is_none());
}
on_both!(
    a_purge_takes_events_left_without_deliveries,
    a_purge_takes_events_left_without_deliveries_on_sqlite,
    a_purge_takes_events_left_without_deliveries_on_postgres
);

async fn parked_deliveries_wait_until_unparked(f: Fixture) {
    f.spool
        .accept(event("{}"), vec![to("a", None)])
        .await
        .unwrap();
    let id = claim_all(&f.spool, "a").await.ready[0].id;
    f.spool
        .record(
            id,
            Record::Parked {
                status: 410,
                error: "HTTP 410 Gone".to_owned(),
            },
            AttemptLog::default(),
        )
        .await;
    assert!(claim_all(&f.spool, "a").await.ready.is_empty());
    let backlog = f.ledger.backlog().await.unwrap();
    assert_eq!((backlog["a"].parked, backlog["a"].pending), (1, 0));
    assert_eq!(
        f.spool.pending().deliveries,
        1,
        "parked is still pending work"
    );
    assert_eq!(f.spool.unpark("a").await.unwrap(), 1);
    let back = claim_all(&f.spool, "a").await;
    assert_eq!(back.ready.len(), 1);
    assert_eq!((back.ready[0].id, back.ready[0].attempts), (id, 1));
    assert_eq!(f.spool.unpark("a").await.unwrap(), 0);
}
on_both!(
    parked_deliveries_wait_until_unparked,
    parked_deliveries_wait_until_unparked_on_sqlite,
    parked_deliveries_wait_until_unparked_on_postgres
);

async fn removed_targets_become_dead_letters(f: Fixture) {
    f.spool
        .accept(event("{}"), vec![to("a", None), to("gone", None)])
        .await
        .unwrap();
    f.spool
        .accept(event("{}"), vec![to("gone", None)])
        .await
        .unwrap();
    assert_eq!(f.spool.pending().deliveries, 3);
    assert_eq!(
        f.spool
            .dead_letter_others(vec!["a".to_owned()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(f.spool.pending().deliveries, 1);
    let dead = f.ledger.dead_letters(&DeadFilter::default()).await.unwrap();
    assert_eq!(dead.len(), 2);
    assert!(
        dead.iter().all(|d| d.target == "gone"
            && d.last_error.as_deref() == Some("target removed from the config"))
    );
    assert!(claim_all(&f.spool, "gone").await.ready.is_empty());
    assert_eq!(claim_all(&f.spool, "a").await.ready.len(), 1);
    assert_eq!(
        f.spool
            .dead_letter_others(vec!["a".to_owned()])
            .await
            .unwrap(),
        0
    );
}
on_both!(
    removed_targets_become_dead_letters,
    removed_targets_become_dead_letters_on_sqlite,
    removed_targets_become_dead_letters_on_postgres
);

async fn the_backlog_says_when_the_oldest_pending_delivery_came(f: Fixture) {
    let before = now_ms();
    f.spool
        .accept(event("{}"), vec![to("a", None), to("b", None)])
        .await
        .unwrap();
    let after = now_ms();
    f.spool
        .accept(event("{}"), vec![to("a", None)])
        .await
        .unwrap();
    let backlog = f.ledger.backlog().await.unwrap();
    assert_eq!(backlog["a"].pending, 2);
    let oldest = backlog["a"]
        .oldest_pending_ms
        .expect("a has pending deliveries");
    assert!(
        (before..=after).contains(&oldest),
        "the first accept's time ({before}..={after}), not the second's: {oldest}"
    );
    // Once b's only delivery is delivered, b has nothing pending.
    let claimed = claim_all(&f.spool, "b").await;
    assert_eq!(claimed.ready.len(), 1);
    f.spool
        .record(
            claimed.ready[0].id,
            Record::Delivered { status: 200 },
            AttemptLog::default(),
        )
        .await;
    f.spool.flush().await.unwrap();
    let backlog = f.ledger.backlog().await.unwrap();
    assert_eq!(backlog.get("b").and_then(|b| b.oldest_pending_ms), None);
}
on_both!(
    the_backlog_says_when_the_oldest_pending_delivery_came,
    the_backlog_says_when_the_oldest_pending_delivery_came_on_sqlite,
    the_backlog_says_when_the_oldest_pending_delivery_came_on_postgres
);

async fn a_reopened_spool_still_holds_what_was_accepted(f: Fixture) {
    f.spool
        .accept(event("{}"), vec![to("a", None)])
        .await
        .unwrap();
    let Fixture {
        spool,
        location,
        _dir,
        ..
    } = f;
    spool.close().await.unwrap();
    drop(spool);
    let f = reopen(&location, _dir, LEASE).await;
    assert_eq!(f.spool.pending().deliveries, 1);
    assert_eq!(claim_all(&f.spool, "a").await.ready.len(), 1);
}
on_both!(
    a_reopened_spool_still_holds_what_was_accepted,
    a_reopened_spool_still_holds_what_was_accepted_on_sqlite,
    a_reopened_spool_still_holds_what_was_accepted_on_postgres
);

/// SQLite: commits reach the database file by themselves soon after, long
/// before the WAL would make the writer checkpoint (32 MB): a thread of the
/// spool's own copies them over. About 1.6 MB is accepted here; until a
/// checkpoint, the database file holds only its schema.
#[tokio::test]
async fn the_wal_is_checkpointed_into_the_database_soon_after_commits() {
    let f = open(Kind::Sqlite, "checkpoint").await.unwrap();
    let Location::Sqlite(path) = f.location.clone() else {
        unreachable!("opened on SQLite")
    };
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(8 << 10));
    for _ in 0..200 {
        f.spool
            .accept(event(&body), vec![to("a", None)])
            .await
            .unwrap();
    }
    let size = || std::fs::metadata(&path).map_or(0, |m| m.len());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size() < 1_600_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file is still {} bytes 10 s after the commits",
            size()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- several replicas on one PostgreSQL database --------------------------

async fn two_replicas(test: &str, lease: Duration) -> Option<(Fixture, Fixture)> {
    let url = common::pg::shared(test)?.database().await;
    let location = Location::parse(&url, &Env::default()).unwrap();
    let one = reopen(&location, tempfile::tempdir().unwrap(), lease).await;
    let two = reopen(&location, tempfile::tempdir().unwrap(), lease).await;
    Some((one, two))
}

#[tokio::test]
async fn a_replica_does_not_claim_what_another_holds() {
    // Short, so the heartbeats that count live replicas come often.
    let lease = Duration::from_secs(3);
    let Some((one, two)) = two_replicas("a_replica_does_not_claim_what_another_holds", lease).await
    else {
        return;
    };
    let mut a = window(&one.spool, "a", 16);
    open_window(&one.spool, "a").await;
    one.spool
        .accept(event("{}"), vec![to("a", None)])
        .await
        .unwrap();
    assert_eq!(
        drain(&mut a).len(),
        1,
        "leased to the replica that accepted it"
    );
    assert!(claim_all(&two.spool, "a").await.ready.is_empty());
    assert_eq!(claim_all(&one.spool, "a").await.ready.len(), 1);
    tokio::time::sleep(lease * 2).await;
    assert!(
        claim_all(&two.spool, "a").await.ready.is_empty(),
        "the holder's heartbeat renews its lease"
    );
    // Both count as live: each takes half of every target's rate.
    one.spool.flush().await.unwrap();
    tokio::time::timeout(common::WAIT, async {
        while one.spool.share().get() != 2 || two.spool.share().get() != 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("both replicas see two live replicas");
}

#[tokio::test]
async fn a_dead_replicas_deliveries_are_claimed_once_its_lease_expires() {
    let lease = Duration::from_secs(1);
    let Some((one, two)) = two_replicas(
        "a_dead_replicas_deliveries_are_claimed_once_its_lease_expires",
        lease,
    )
    .await
    else {
        return;
    };
    let _a = window(&one.spool, "a", 16);
    open_window(&one.spool, "a").await;
    one.spool
        .accept(event("{}"), vec![to("a", None)])
        .await
        .unwrap();
    // Alive, the first replica keeps renewing its lease.
    tokio::time::sleep(lease * 2).await;
    assert!(claim_all(&two.spool, "a").await.ready.is_empty());
    // Dropped without closing, as a crash would: no more heartbeats.
    drop(one);
    let started = std::time::Instant::now();
    let claimed = tokio::time::timeout(common::WAIT, async {
        loop {
            let claimed = claim_all(&two.spool, "a").await;
            if !claimed.ready.is_empty() {
                return claimed;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the survivor claims the dead replica's delivery");
    assert_eq!(claimed.ready.len(), 1);
    assert!(started.elapsed() <= lease * 5, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_replica_that_closes_hands_its_deliveries_over_at_once() {
    let Some((one, two)) = two_replicas(
        "a_replica_that_closes_hands_its_deliveries_over_at_once",
        LEASE,
    )
    .await
    else {
        return;
    };
    let _a = window(&one.spool, "a", 16);
    open_window(&one.spool, "a").await;
    one.spool
        .accept(event("{}"), vec![to("a", None)])
        .await
        .unwrap();
    assert!(claim_all(&two.spool, "a").await.ready.is_empty());
    one.spool.close().await.unwrap();
    assert_eq!(claim_all(&two.spool, "a").await.ready.len(), 1);
}
