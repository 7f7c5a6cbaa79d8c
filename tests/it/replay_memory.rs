//! Standard Webhooks replay protection that outlives the process: the
//! `webhook-id`s a source has taken are stored in the spool with their
//! webhooks, so a signed webhook replayed after a restart, or to another
//! replica sharing the PostgreSQL spool, is answered 200 `duplicate` and
//! not forwarded. At the spool's level: an id is taken once per source
//! until it expires, and a duplicate writes nothing, on both backends.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use uuid::Uuid;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};
use switchboard::config::interpolate::Env;
use switchboard::dispatch::sign::Signer;
use switchboard::spool::{
    Admitted, Backend, Ledger, Location, NewDelivery, NewEvent, SeenId, Spool,
};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A config taking signed webhooks on `sipgate` and forwarding them to `crm`
/// (`spool`: a `server.spool` value, or none for the test's own file).
fn config(crm: &FakeTarget, spool: Option<&str>) -> String {
    let server = spool.map_or(String::new(), |s| {
        format!("server: {{spool: \"{s}\", lease: 2s}}\n")
    });
    format!(
        "{server}sources:\n  sipgate:\n    verify:\n      standard_webhooks: {{secret: \"{SECRET}\"}}\n\
         targets:\n  crm: {{url: \"{}\"}}\nroutes:\n  - to: [crm]\n",
        crm.url("/crm")
    )
}

/// One signed webhook: its body and headers.
struct Signed {
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

fn signed(id: &str, timestamp: u64) -> Signed {
    let body = fixture("minimal.json");
    let signature = Signer::from_secrets(&[SECRET])
        .unwrap()
        .sign(id, timestamp, &body);
    Signed {
        headers: vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ],
        body,
    }
}

async fn send(relay: &TestRelay, webhook: &Signed) -> (u16, serde_json::Value) {
    let mut request = relay
        .client
        .post(relay.hook("sipgate"))
        .header("content-type", "application/json")
        .body(webhook.body.clone());
    for (name, value) in &webhook.headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

fn duplicate() -> serde_json::Value {
    serde_json::json!({"ok": true, "duplicate": true})
}

#[tokio::test]
async fn a_signed_webhook_replayed_after_a_restart_is_a_duplicate_and_not_forwarded() {
    let crm = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&crm, None)).await;
    let webhook = signed("msg_before_restart", now());
    let (status, answer) = send(&relay, &webhook).await;
    assert_eq!(status, 202, "{answer}");
    crm.wait_for(1, WAIT).await;

    let relay = relay.restart().await;
    let (status, answer) = send(&relay, &webhook).await;
    assert_eq!((status, answer), (200, duplicate()));
    // The sender's own retry, with a fresh timestamp, is the same webhook.
    let retry = signed("msg_before_restart", now() + 1);
    assert_eq!(send(&relay, &retry).await, (200, duplicate()));
    // A new id still goes through.
    let (status, answer) = send(&relay, &signed("msg_after_restart", now())).await;
    assert_eq!(status, 202, "{answer}");
    crm.wait_for(2, WAIT).await;
    crm.assert_quiet(2, Duration::from_millis(500)).await;
    let ids: Vec<_> = crm
        .received()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_a_postgres_spool_share_the_taken_ids() {
    let test = "replicas_sharing_a_postgres_spool_share_the_taken_ids";
    let Some(server) = common::pg::shared(test) else {
        return;
    };
    let database = server.database().await;
    let crm = FakeTarget::start().await;
    let yaml = config(&crm, Some(&database));
    let one = TestRelay::start(&yaml).await;
    let two = TestRelay::start(&yaml).await;

    let webhook = signed("msg_shared", now());
    let (status, answer) = send(&one, &webhook).await;
    assert_eq!(status, 202, "{answer}");
    // The other replica never saw it, yet knows it.
    assert_eq!(send(&two, &webhook).await, (200, duplicate()));
    // Both at once with a new id: one takes it, the other is told.
    let race = signed("msg_raced", now());
    let (a, b) = tokio::join!(send(&one, &race), send(&two, &race));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 202], "{a:?} {b:?}");
    // And after a restart of the one that took the first.
    let one = one.restart().await;
    assert_eq!(send(&one, &webhook).await, (200, duplicate()));

    crm.wait_for(2, WAIT).await;
    crm.assert_quiet(2, Duration::from_millis(500)).await;
    drop(two);
}

// ------------------------------------------------------------- the spool

fn event(source: &str, seen: Option<(&str, i64)>) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        source: source.to_owned(),
        client_ip: "127.0.0.1".to_owned(),
        received_ms: now() as i64 * 1000,
        routes: vec!["r".to_owned()],
        body: Bytes::from_static(b"{\"n\":1}"),
        seen: seen.map(|(id, expires_ms)| SeenId {
            id: id.to_owned(),
            expires_ms,
        }),
        ..NewEvent::default()
    }
}

fn to_a() -> Vec<NewDelivery> {
    vec![NewDelivery {
        target: "a".to_owned(),
        route: "r".to_owned(),
        body: None,
        ..NewDelivery::default()
    }]
}

/// Takes ids on `location`'s spool and checks what it answers.
async fn ids_are_taken_once_per_source_until_they_expire(location: Location) {
    let spool = Backend::open(&location, 512, Duration::from_secs(3600), WAIT)
        .await
        .unwrap();
    let ledger = spool.ledger(&location).unwrap();
    let later = now() as i64 * 1000 + 60_000;
    let past = now() as i64 * 1000 - 1;
    let accept = |e: NewEvent| spool.accept(e, to_a());

    assert_eq!(
        accept(event("s", Some(("x", later)))).await.unwrap(),
        Admitted::Stored
    );
    let again = event("s", Some(("x", later)));
    let again_id = again.id.to_string();
    assert_eq!(accept(again).await.unwrap(), Admitted::Duplicate);
    assert!(
        ledger.event(&again_id).await.unwrap().is_none(),
        "a duplicate writes nothing"
    );
    assert_eq!(spool.pending().deliveries, 1);
    // Ids are per source; no id, no check.
    assert_eq!(
        accept(event("t", Some(("x", later)))).await.unwrap(),
        Admitted::Stored
    );
    assert_eq!(accept(event("s", None)).await.unwrap(), Admitted::Stored);
    assert_eq!(accept(event("s", None)).await.unwrap(), Admitted::Stored);
    // An expired id is taken anew.
    assert_eq!(
        accept(event("s", Some(("old", past)))).await.unwrap(),
        Admitted::Stored
    );
    assert_eq!(
        accept(event("s", Some(("old", later)))).await.unwrap(),
        Admitted::Stored
    );
    assert_eq!(
        accept(event("s", Some(("old", later)))).await.unwrap(),
        Admitted::Duplicate
    );
    // The same id twice in one group commit: one is stored.
    let (first, second) = tokio::join!(
        accept(event("s", Some(("pair", later)))),
        accept(event("s", Some(("pair", later))))
    );
    let mut got = [first.unwrap(), second.unwrap()];
    got.sort_by_key(|a| *a == Admitted::Duplicate);
    assert_eq!(got, [Admitted::Stored, Admitted::Duplicate]);
    assert_eq!(spool.pending().deliveries, 7);
    spool.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_takes_an_id_once_per_source_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    ids_are_taken_once_per_source_until_they_expire(Location::Sqlite(dir.path().join("spool.db")))
        .await;
}

#[tokio::test]
async fn postgres_takes_an_id_once_per_source_until_it_expires() {
    let test = "postgres_takes_an_id_once_per_source_until_it_expires";
    let Some(server) = common::pg::shared(test) else {
        return;
    };
    let url = server.database().await;
    ids_are_taken_once_per_source_until_they_expire(
        Location::parse(&url, &Env::default()).unwrap(),
    )
    .await;
}

/// A database at schema 1 (before `seen_ids`), holding a webhook, is
/// migrated when a relay opens it, and then remembers ids.
#[tokio::test]
async fn a_postgres_spool_of_schema_1_is_migrated_to_remember_ids() {
    let test = "a_postgres_spool_of_schema_1_is_migrated_to_remember_ids";
    let Some(server) = common::pg::shared(test) else {
        return;
    };
    let url = server.database().await;
    let location = Location::parse(&url, &Env::default()).unwrap();
    let kept = event("s", None);
    let kept_id = kept.id.to_string();
    {
        let spool = Backend::open(&location, 512, Duration::from_secs(3600), WAIT)
            .await
            .unwrap();
        spool.accept(kept, to_a()).await.unwrap();
        spool.close().await.unwrap();
    }
    // Back to what the first release left.
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.batch_execute(
        "DROP TABLE seen_ids, event_keys, attempts, audit, jobs, target_controls;
         ALTER TABLE events DROP COLUMN config_version, DROP COLUMN headers,
             DROP COLUMN content_type, DROP COLUMN keys, DROP COLUMN trace;
         ALTER TABLE deliveries DROP COLUMN last_class;
         DELETE FROM switchboard_schema WHERE version > 1",
    )
    .await
    .unwrap();

    let spool = Backend::open(&location, 512, Duration::from_secs(3600), WAIT)
        .await
        .unwrap();
    let version: i32 = db
        .query_one("SELECT MAX(version) FROM switchboard_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        i64::from(version),
        switchboard::spool::postgres::SCHEMA_VERSION
    );
    let ledger = spool.ledger(&location).unwrap();
    assert!(ledger.event(&kept_id).await.unwrap().is_some());
    let later = now() as i64 * 1000 + 60_000;
    assert_eq!(
        spool
            .accept(event("s", Some(("y", later))), to_a())
            .await
            .unwrap(),
        Admitted::Stored
    );
    assert_eq!(
        spool
            .accept(event("s", Some(("y", later))), to_a())
            .await
            .unwrap(),
        Admitted::Duplicate
    );
    spool.close().await.unwrap();
}
