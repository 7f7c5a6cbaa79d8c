#![allow(clippy::unwrap_used)]
//! Finding a webhook in a big SQLite spool: `Ledger::search` by a lookup
//! key, by state, and by a time window, at a million webhooks (or
//! `SEARCH_EVENTS`). The spool is filled through `Spool::accept`, as the
//! relay writes it (three lookup keys per webhook, one delivery), then
//! every delivery but one in a thousand is marked delivered and the rest
//! dead. Prints p50 and p99 of each search, in milliseconds.
//!
//!   cargo bench --bench search            (SEARCH_EVENTS=100000 for a quick look)
//!
//! The file lives in Cargo's target tmp dir; about 1.5 GB at a million.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use uuid::Uuid;

use switchboard::spool::sqlite::{Options, SqliteLedger, SqliteSpool};
use switchboard::spool::{DeliveryState, EventFilter, Ledger, NewDelivery, NewEvent, Spool};

/// Searches of each kind measured.
const SEARCHES: usize = 2_000;

/// The call id of webhook `n`.
fn call(n: u64) -> String {
    format!("pbx-{n:08x}-4e0f-a1b2-c3d4e5f60718")
}

fn event(n: u64, body: &Bytes, received_ms: i64) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        source: "sipgate".into(),
        client_ip: "217.116.118.254".into(),
        received_ms,
        routes: vec!["summaries".into()],
        body: body.clone(),
        content_type: Some("application/json".into()),
        headers: r#"{"content-type":"application/json","user-agent":"sipgate"}"#.into(),
        keys: vec![
            ("call".into(), call(n)),
            ("caller".into(), format!("49211{:07}", n % 100_000)),
            ("callee".into(), format!("49221{:07}", n % 1_000)),
        ],
        config_version: "0123456789ab".into(),
        seen: None,
        trace: None,
    }
}

/// Fills the spool with `n` webhooks, received now (their ids and
/// `received_at` agree, as in the relay), 256 accepts in flight (group
/// commit, as under load).
async fn fill(spool: Arc<SqliteSpool>, n: u64) {
    let body = Bytes::from(vec![b' '; 1024]);
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for i in 0..n {
        if tasks.len() >= 256 {
            tasks.join_next().await.unwrap().unwrap();
        }
        let (spool, body) = (spool.clone(), body.clone());
        tasks.spawn(async move {
            let delivery = NewDelivery {
                target: "crm".into(),
                route: "summaries".into(),
                ..NewDelivery::default()
            };
            spool
                .accept(event(i, &body, switchboard::time::now_ms()), vec![delivery])
                .await
                .unwrap();
        });
        if i > 0 && i % 200_000 == 0 {
            eprintln!("{i} webhooks in {:.0?}", started.elapsed());
        }
    }
    while tasks.join_next().await.is_some() {}
    eprintln!("{n} webhooks in {:.0?}", started.elapsed());
}

/// p50 and p99 of `times`, in milliseconds.
fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    (at(0.50), at(0.99))
}

async fn measure(ledger: &SqliteLedger, label: &str, mut filter: impl FnMut(usize) -> EventFilter) {
    let mut times = Vec::with_capacity(SEARCHES);
    let mut found = 0;
    for i in 0..SEARCHES {
        let filter = filter(i);
        let started = Instant::now();
        let page = ledger.search(&filter, 50, None).await.unwrap();
        times.push(started.elapsed());
        found += page.items.len();
    }
    let (p50, p99) = percentiles(times);
    println!(
        "{label:<40} p50 {p50:>8.3} ms  p99 {p99:>8.3} ms  ({:.1} webhooks a page)",
        found as f64 / SEARCHES as f64
    );
}

fn main() {
    let n: u64 = std::env::var("SEARCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("spool.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let start_ms = switchboard::time::now_ms();
    runtime.block_on(async {
        let spool = Arc::new(
            SqliteSpool::open(Options {
                path: path.clone(),
                commit_batch: 512,
                retention: Duration::from_secs(3600),
            })
            .unwrap(),
        );
        fill(spool.clone(), n).await;
        spool.close().await.unwrap();
    });
    let end_ms = switchboard::time::now_ms();
    // What a day of traffic leaves: nearly all delivered, a few dead.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "UPDATE deliveries SET state = CASE WHEN id % 1000 = 0 THEN 'dead' ELSE 'delivered' END, attempts = 1;
         ANALYZE;",
    )
    .unwrap();
    drop(conn);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("# {n} webhooks, spool {:.0} MB", size as f64 / 1e6);
    let ledger = SqliteLedger::open(&path).unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    runtime.block_on(async {
        measure(&ledger, "key call=<one webhook>", |_| EventFilter {
            keys: vec![("call".into(), call(rng.u64(0..n)))],
            ..EventFilter::default()
        })
        .await;
        measure(&ledger, "key callee=<a thousandth of them>", |i| {
            EventFilter {
                keys: vec![("callee".into(), format!("49221{:07}", i % 1_000))],
                ..EventFilter::default()
            }
        })
        .await;
        measure(&ledger, "state=dead (one in a thousand)", |_| EventFilter {
            states: vec![DeliveryState::Dead],
            ..EventFilter::default()
        })
        .await;
        let span = end_ms - start_ms;
        measure(&ledger, "since/until, a minute somewhere", |_| {
            let from = start_ms + rng.i64(0..span.max(60_001) - 60_000);
            EventFilter {
                since_ms: Some(from),
                until_ms: Some(from + 60_000),
                ..EventFilter::default()
            }
        })
        .await;
        measure(&ledger, "newest page, no filter", |_| {
            EventFilter::default()
        })
        .await;
    });
}
