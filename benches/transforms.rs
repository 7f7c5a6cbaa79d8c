#![allow(clippy::unwrap_used)]
//! Transforms: rendering one target's body with each transform kind (none,
//! select, omit, jq) from the two sipgate fixtures, a ~6 KB call (`full.json`)
//! and a ~210 KB call with a long transcription (`large-transcription.json`);
//! plus the JSON parse of the same bytes for scale: serde_json's, and the
//! strict one ingress runs (the relay parses each webhook once, then renders
//! once per target). `omit_wildcard` is the hostile case: `[*]` over a 1 MiB
//! array of 69,902 small objects, which took 6-9 s per webhook while omit
//! was quadratic in the array's length (issue 13); it should stay well under
//! 50 ms.
//!
//!   cargo bench --bench transforms -- --warm-up-time 1 --measurement-time 3
//!   cargo bench --bench transforms -- omit_wildcard

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use switchboard::transform::jq::Program;
use switchboard::transform::path::Path;
use switchboard::transform::{Selection, Transform};

const FIXTURES: &[&str] = &["full.json", "large-transcription.json"];

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn paths(list: &[&str]) -> Vec<Path> {
    list.iter().map(|p| Path::parse(p).unwrap()).collect()
}

/// The transforms of routes.example.yaml: a CRM without the transcription, a
/// ticket system with a subset, a chat line built with jq.
fn transforms() -> Vec<(&'static str, Transform)> {
    vec![
        ("none", Transform::None),
        (
            "select",
            Transform::Select(Selection::new(&paths(&[
                "call.id",
                "call.from",
                "call.startTime",
                "assist.summary",
                "assist.callScenarios",
            ]))),
        ),
        ("omit", Transform::Omit(paths(&["assist.transcription"]))),
        (
            "jq",
            Transform::Jq(
                Program::compile(
                    r#"{text: "Call from \(.call.from): \(.assist.summary.content // .assist.callHeadline.content // "no summary")"}"#,
                )
                .unwrap(),
            ),
        ),
    ]
}

fn render(c: &mut Criterion) {
    let kinds = transforms();
    let mut group = c.benchmark_group("render");
    for name in FIXTURES {
        let raw = fixture(name);
        let doc: Value = serde_json::from_slice(&raw).unwrap();
        group.throughput(Throughput::Bytes(raw.len() as u64));
        for (kind, transform) in &kinds {
            let out = transform.render(&raw, &doc).unwrap();
            eprintln!("render/{kind}/{name}: {} -> {} bytes", raw.len(), out.len());
            group.bench_function(format!("{kind}/{name}"), |b| {
                b.iter(|| transform.render(black_box(&raw), black_box(&doc)).unwrap())
            });
        }
    }
    group.finish();
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for name in FIXTURES {
        let raw = fixture(name);
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_function(format!("serde_json/{name}"), |b| {
            b.iter(|| serde_json::from_slice::<Value>(black_box(&raw)).unwrap())
        });
        // What ingress runs: the same, refusing duplicate keys.
        group.bench_function(format!("strict/{name}"), |b| {
            b.iter(|| switchboard::ingress::json::parse(black_box(&raw)).unwrap())
        });
    }
    group.finish();
}

/// `{"call":{"users":[{"fullName":1},...]}}`: 69,902 elements, just over
/// 1 MiB, the body of the issue 13 attack.
fn wide_body() -> Bytes {
    const ELEMENTS: usize = 69_902;
    let mut text = String::from(r#"{"call":{"users":["#);
    for i in 0..ELEMENTS {
        if i > 0 {
            text.push(',');
        }
        text.push_str(r#"{"fullName":1}"#);
    }
    text.push_str("]}}");
    Bytes::from(text)
}

fn omit_wildcard(c: &mut Criterion) {
    let raw = wide_body();
    let doc: Value = serde_json::from_slice(&raw).unwrap();
    let transform = Transform::Omit(paths(&["call.users[*].fullName"]));
    let out = transform.render(&raw, &doc).unwrap();
    eprintln!("omit_wildcard: {} -> {} bytes", raw.len(), out.len());
    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Bytes(raw.len() as u64));
    // Flat: ten equal samples, so the quadratic code took about a minute
    // rather than the 55 iterations of linear sampling.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("omit_wildcard/1MiB", |b| {
        b.iter(|| transform.render(black_box(&raw), black_box(&doc)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, render, parse, omit_wildcard);
criterion_main!(benches);
