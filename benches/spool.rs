#![allow(clippy::unwrap_used)]
//! The SQLite spool's writer, alone: what a durable accept costs without
//! HTTP. Each webhook is the ~6 KB `full.json` with three deliveries, two
//! sending it as received (stored once, with the event) and one with its own
//! rendered body (the transcription left out), like the routes of
//! `bench/run.sh`. Attached windows take the fresh deliveries, and a task per
//! target records each one delivered, so outcomes share the commits with the
//! accepts as they do in the relay.
//!
//! - `accept/concurrent-64`: 64 accepts at once, as 64 connections would send
//!   them; they share commits (group commit).
//! - `accept/one-at-a-time`: one accept waits for the last: a commit and an
//!   fsync each, the latency floor of a 202.
//!
//! The spool lives in Cargo's target tmp dir (on disk, beside `target/`),
//! with `synchronous=FULL` as in production, so fsync is part of the
//! number: compare runs on one machine only.
//!
//!   cargo bench --bench spool -- --warm-up-time 1 --measurement-time 5

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use switchboard::spool::sqlite::{Options, SqliteSpool};
use switchboard::spool::{AttemptLog, Budget, NewDelivery, NewEvent, Record, Spool, Window};

const TARGETS: [&str; 3] = ["crm", "tickets", "archive"];

struct Bodies {
    received: Bytes,
    rendered: Bytes,
}

fn bodies() -> Bodies {
    let path = format!("{}/tests/fixtures/full.json", env!("CARGO_MANIFEST_DIR"));
    let received = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut doc: serde_json::Value = serde_json::from_slice(&received).unwrap();
    doc["assist"]
        .as_object_mut()
        .unwrap()
        .remove("transcription");
    Bodies {
        received: Bytes::from(received),
        rendered: Bytes::from(serde_json::to_vec(&doc).unwrap()),
    }
}

/// A fresh spool with the three targets attached; their deliveries are
/// recorded delivered as soon as they are handed over.
fn open(dir: &std::path::Path) -> Arc<SqliteSpool> {
    let spool = Arc::new(
        SqliteSpool::open(Options {
            path: dir.join("spool.db"),
            commit_batch: 512,
            retention: Duration::from_secs(3600),
        })
        .unwrap(),
    );
    for target in TARGETS {
        let (tx, mut rx) = mpsc::channel(4096);
        let budget = Arc::new(Budget::new(1 << 30));
        spool.attach(
            target,
            Window {
                tx,
                wake: Arc::new(Notify::new()),
                budget: budget.clone(),
            },
        );
        let spool = spool.clone();
        tokio::spawn(async move {
            while let Some(ready) = rx.recv().await {
                budget.give_back(ready.body.len() as u64);
                spool
                    .record(
                        ready.id,
                        Record::Delivered { status: 200 },
                        AttemptLog::default(),
                    )
                    .await;
            }
        });
    }
    spool
}

async fn accept(spool: &SqliteSpool, bodies: &Bodies) {
    let event = NewEvent {
        id: Uuid::now_v7(),
        source: "sipgate".into(),
        client_ip: "217.116.118.254".into(),
        received_ms: 1_790_000_000_000,
        routes: vec!["by-topic".into(), "has-summary".into(), "catch-all".into()],
        body: bodies.received.clone(),
        seen: None,
        ..NewEvent::default()
    };
    let deliveries = vec![
        NewDelivery {
            target: TARGETS[0].into(),
            route: "by-topic".into(),
            body: None,
            ..NewDelivery::default()
        },
        NewDelivery {
            target: TARGETS[1].into(),
            route: "has-summary".into(),
            body: None,
            ..NewDelivery::default()
        },
        NewDelivery {
            target: TARGETS[2].into(),
            route: "catch-all".into(),
            body: Some(bodies.rendered.clone()),
            ..NewDelivery::default()
        },
    ];
    spool.accept(event, deliveries).await.unwrap();
}

fn accepts(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let spool = runtime.block_on(async { open(dir.path()) });
    let bodies = Arc::new(bodies());

    let mut group = c.benchmark_group("accept");
    group.throughput(Throughput::Elements(64));
    group.bench_function("concurrent-64", |b| {
        b.iter_custom(|rounds| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..rounds {
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..64 {
                        let (spool, bodies) = (spool.clone(), bodies.clone());
                        set.spawn(async move { accept(&spool, &bodies).await });
                    }
                    set.join_all().await;
                }
                started.elapsed()
            })
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("one-at-a-time", |b| {
        b.iter_custom(|rounds| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..rounds {
                    accept(&spool, &bodies).await;
                }
                started.elapsed()
            })
        })
    });
    group.finish();
    runtime.block_on(async { spool.flush().await.unwrap() });
}

criterion_group!(benches, accepts);
criterion_main!(benches);
