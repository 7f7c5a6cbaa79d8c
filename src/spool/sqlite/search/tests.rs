//! Tests of `sqlite/search.rs`: pages, the one filter, and the query plan
//! a key search gets.

use super::*;
use crate::spool::DeliveryState;
use crate::spool::sqlite::schema::open_connection;

/// A spool file with `n` webhooks, ids in time order, each with the key
/// `call = c{i}` and one delivery to `crm` (every third dead).
fn spool(n: usize) -> (tempfile::TempDir, Connection, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_connection(&dir.path().join("spool.db")).unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = Uuid::now_v7().to_string();
        let at = 1_000 + i as i64;
        conn.execute(
            "INSERT INTO events (id, source, client_ip, received_at, routes, body, keys)
             VALUES (?1, 's', '127.0.0.1', ?2, '[\"r\"]', x'7b7d', ?3)",
            params![id, at, format!("{{\"call\":\"c{i}\"}}")],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO event_keys (name, value, received_at, event_id) VALUES ('call', ?1, ?2, ?3)",
            params![format!("c{i}"), at, id],
        )
        .unwrap();
        let state = if i % 3 == 0 { "dead" } else { "delivered" };
        conn.execute(
            "INSERT INTO deliveries (event_id, target, route, size, state, attempts, due_at, created_at, updated_at)
             VALUES (?1, 'crm', 'r', 2, ?2, 1, ?3, ?3, ?3)",
            params![id, state, at],
        )
        .unwrap();
        ids.push(id);
    }
    (dir, conn, ids)
}

#[test]
fn pages_go_newest_first_without_repeats_or_gaps() {
    let (_dir, conn, ids) = spool(7);
    let all = EventFilter::default();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = search(&conn, &all, 3, cursor).unwrap();
        seen.extend(page.items.iter().map(|e| e.head.id.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(Uuid::parse_str(&next).unwrap()),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
}

#[test]
fn a_search_by_key_and_state_finds_its_webhook_with_its_deliveries() {
    let (_dir, conn, ids) = spool(6);
    let filter = EventFilter {
        keys: vec![("call".into(), "c3".into())],
        states: vec![DeliveryState::Dead],
        ..EventFilter::default()
    };
    let page = search(&conn, &filter, 10, None).unwrap();
    assert_eq!(page.items.len(), 1);
    let found = &page.items[0];
    assert_eq!(found.head.id, ids[3]);
    assert_eq!(found.head.keys, serde_json::json!({"call": "c3"}));
    assert_eq!(found.deliveries[0].state, DeliveryState::Dead);
    assert!(page.next_cursor.is_none());
    let delivered = EventFilter {
        states: vec![DeliveryState::Delivered],
        ..filter
    };
    assert!(
        search(&conn, &delivered, 10, None)
            .unwrap()
            .items
            .is_empty()
    );
}

/// The query plan of a search for `filter`, one line per step.
fn plan(conn: &rusqlite::Connection, filter: &EventFilter) -> String {
    let sql = page::statement(
        filter,
        Dialect::Sqlite,
        "e.id, e.keys",
        Some(Uuid::max()),
        50,
    );
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))
        .unwrap();
    let values: Vec<Sql> = sql.values.iter().map(value).collect();
    let plan: Vec<String> = stmt
        .query_map(params_from_iter(values), |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    plan.join("\n")
}

/// A search for what failed starts from the deliveries' state index, not
/// from every webhook newest first: dead letters among a million delivered
/// webhooks are found by reading the dead letters.
#[test]
fn a_search_for_dead_letters_is_planned_on_the_state_index() {
    let (_dir, conn, _) = spool(50);
    let filter = EventFilter {
        states: vec![DeliveryState::Dead],
        ..EventFilter::default()
    };
    let plan = plan(&conn, &filter);
    assert!(
        plan.contains("USING INDEX deliveries_state (state=?)"),
        "{plan}"
    );
    assert!(!plan.contains("SCAN e"), "{plan}");
}

/// A key search must start from `event_keys`' primary key (name, value,
/// ...), not scan `events` newest first testing each row: at a million
/// webhooks that is the difference between microseconds and seconds.
#[test]
fn a_key_search_is_planned_on_the_keys_primary_key() {
    let (_dir, conn, _) = spool(50);
    let filter = EventFilter {
        keys: vec![("call".into(), "c7".into())],
        ..EventFilter::default()
    };
    let plan = plan(&conn, &filter);
    assert!(
        plan.contains("USING PRIMARY KEY (name=? AND value=?)"),
        "{plan}"
    );
    assert!(!plan.contains("SCAN e"), "{plan}");
}
