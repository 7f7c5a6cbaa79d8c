//! The delivery history as the spool keeps it, read straight from the
//! SQLite file: lookup keys, the config version, redacted headers, every
//! attempt with its class, and `unrendered` deliveries. The API over it is
//! tested in `events`.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture, fixture_json};

fn spool_of(relay: &TestRelay) -> Connection {
    open_spool(&relay.config.with_file_name("spool.db"))
}

/// The SQLite spool at `path`, with its key index attached as the relay
/// attaches it (a file beside it, `-keys`).
pub fn open_spool(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute(
        "ATTACH DATABASE ?1 AS keys",
        [format!("{}-keys", path.display())],
    )
    .unwrap();
    conn
}

/// Waits until `sql` (one row, one integer) reaches `n`: the spool is
/// written by another thread, with no event to wait on.
async fn wait_count(conn: &Connection, sql: &str, n: i64) {
    tokio::time::timeout(WAIT, async {
        loop {
            let found: i64 = conn.query_row(sql, [], |r| r.get(0)).unwrap();
            if found >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("`{sql}` did not reach {n} within {WAIT:?}"));
}

#[tokio::test]
async fn every_attempt_is_kept_with_its_headers_redacted_and_the_webhook_with_its_keys() {
    let crm = FakeTarget::start().await;
    crm.script([500, 200]);
    let refused = {
        // A port nothing listens on: bound, then closed.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let yaml = format!(
        "sources:\n  sipgate: {{token: {{header: x-relay-token, value: \"${{TOKEN}}\"}}, \
         keys: {{call: call.id, caller: call.from, topic: \"assist.summary.topics[*]\"}}}}\n\
         targets:\n  crm: {{url: \"{}\", headers: {{Authorization: \"Bearer ${{CRM}}\", X-Team: sales}}, retry: {{first: 50ms}}}}\n  \
         gone: {{url: \"http://{refused}/\", retry: {{attempts: 1}}}}\n  \
         chat: {{url: \"{}\", transform: {{jq: '.call.from + 1'}}}}\n\
         routes:\n  - {{name: all, to: [crm, gone, chat]}}\n",
        crm.url("/crm"),
        crm.url("/chat"),
    );
    let relay = TestRelay::start_with_env(&yaml, &[("TOKEN", "t0ken"), ("CRM", "s3cret")]).await;
    let answer = relay
        .client
        .post(relay.hook("sipgate"))
        .header("x-relay-token", "t0ken")
        .header("content-type", "application/json")
        .body(fixture("full.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(
        answer["deliveries"], 2,
        "the unrendered one is not counted as sent"
    );
    let id = answer["id"].as_str().unwrap().to_owned();
    crm.wait_for(2, WAIT).await;
    let conn = spool_of(&relay);
    wait_count(&conn, "SELECT COUNT(*) FROM attempts", 3).await;

    // The webhook: keys (indexed), headers redacted, the config's version.
    let call = fixture_json("full.json")["call"].clone();
    let (headers, keys, version, content_type): (String, String, String, String) = conn
        .query_row(
            "SELECT headers, keys, config_version, content_type FROM events WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let headers: Value = serde_json::from_str(&headers).unwrap();
    assert_eq!(headers["x-relay-token"], "[redacted]");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(content_type, "application/json");
    let keys: Value = serde_json::from_str(&keys).unwrap();
    assert_eq!(keys["call"], call["id"]);
    assert_eq!(keys["caller"], call["from"]);
    let topics = &fixture_json("full.json")["assist"]["summary"]["topics"];
    assert!(topics.as_array().unwrap().len() > 1, "{topics}");
    assert_eq!(
        &keys["topic"], topics,
        "several values are kept as an array"
    );
    let text = std::fs::read_to_string(&relay.config).unwrap();
    assert_eq!(version, switchboard::config::version_of(&text));
    assert_eq!(version, relay.relay.runtime().version);
    let found: Option<String> = conn
        .query_row(
            "SELECT event_id FROM event_keys WHERE name = 'call' AND value = ?1",
            [call["id"].as_str().unwrap()],
            |r| r.get(0),
        )
        .optional()
        .unwrap();
    assert_eq!(found.as_deref(), Some(id.as_str()));

    // The CRM's two attempts: 500 then 200, request headers as sent with the
    // secret redacted and the plain one kept.
    let mut stmt = conn
        .prepare(
            "SELECT a.attempt, a.status, a.error_class, a.request_headers, a.response_headers
             FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
             WHERE d.target = 'crm' ORDER BY a.attempt",
        )
        .unwrap();
    type Row = (u32, Option<u16>, Option<String>, String, String);
    let crm_attempts: Vec<Row> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(stmt);
    assert_eq!(crm_attempts.len(), 2);
    assert_eq!((crm_attempts[0].0, crm_attempts[0].1), (1, Some(500)));
    assert_eq!((crm_attempts[1].0, crm_attempts[1].1), (2, Some(200)));
    let sent: Value = serde_json::from_str(&crm_attempts[0].3).unwrap();
    assert_eq!(sent["authorization"], "[redacted]");
    assert_eq!(sent["x-team"], "sales");
    assert_eq!(sent["webhook-id"], id.as_str());
    assert!(!crm_attempts[0].3.contains("s3cret"));
    let answered: Value = serde_json::from_str(&crm_attempts[0].4).unwrap();
    assert!(answered.is_object());

    // The refused target: no status, class `connect`, a dead letter.
    let (status, class, state): (Option<u16>, Option<String>, String) = conn
        .query_row(
            "SELECT a.status, a.error_class, d.state FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
             WHERE d.target = 'gone'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (status, class.as_deref(), state.as_str()),
        (None, Some("connect"), "dead")
    );

    // The transform that fails on this payload: kept, unrendered, with why.
    let (state, error, attempts): (String, String, i64) = conn
        .query_row(
            "SELECT state, last_error, attempts FROM deliveries WHERE target = 'chat'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((state.as_str(), attempts), ("unrendered", 0));
    assert!(!error.is_empty());
    crm.assert_quiet(2, Duration::from_millis(200)).await;

    // The key index is derived data in a file of its own: lost (deleted
    // here), the next start rebuilds it from the webhooks, single values and
    // arrays alike.
    let indexed = |conn: &Connection| -> i64 {
        conn.query_row(
            "SELECT COUNT(*) FROM event_keys WHERE event_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap()
    };
    let all = 2 + topics.as_array().unwrap().len() as i64;
    assert_eq!(indexed(&conn), all);
    drop(conn);
    let spool = relay.config.with_file_name("spool.db");
    let relay = relay.restart_with(|| {
        for end in ["-keys", "-keys-wal", "-keys-shm"] {
            let _ = std::fs::remove_file(format!("{}{end}", spool.display()));
        }
    });
    let relay = relay.await;
    let conn = spool_of(&relay);
    assert_eq!(indexed(&conn), all, "the key index is rebuilt at start");
    let found = relay
        .client
        .get(relay.admin(&format!(
            "/api/events?key.call={}",
            call["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["id"], id.as_str());

    // A delivery's attempts go with it.
    drop(relay);
    conn.execute_batch(&format!("DELETE FROM deliveries WHERE event_id = '{id}';"))
        .unwrap();
    let attempts: i64 = conn
        .query_row("SELECT COUNT(*) FROM attempts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(attempts, 0, "a delivery's attempts go with it");
}
