//! Payload bytes → JSON → `select`, `omit` and jq transforms, with paths
//! both fixed (`rules.yaml`) and spelled from the payload's own locations,
//! so that deep and odd keys are reached. Checks: `select` output is a
//! sub-document of the input; `omit` output is one too and reaches none of
//! the key / `[*]` paths it omitted; every output serializes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use switchboard::transform::path::{Path, Step};
use switchboard::transform::{Selection, Transform};
use switchboard_fuzz::{RUNTIME, is_subdocument, locations, reaches};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let raw = Bytes::copy_from_slice(data);

    // The compiled transforms of rules.yaml: its last route names them all.
    if let Some(always) = RUNTIME.routes.0.last() {
        for (_, transform) in &always.to {
            let _ = transform.render(&raw, &doc);
        }
    }

    // Paths spelled from the document: every third location, exact and
    // with `[*]`, chosen by the input's first byte.
    let all = locations(&doc, 256);
    let stride = 1 + data.first().map_or(0, |b| usize::from(b % 5));
    let picked: Vec<&(String, String)> = all.iter().step_by(stride).take(12).collect();
    let exact: Vec<Path> = picked
        .iter()
        .filter_map(|(e, _)| Path::parse(e).ok())
        .collect();
    let wild: Vec<Path> = picked
        .iter()
        .filter_map(|(_, w)| Path::parse(w).ok())
        .collect();

    for paths in [&exact, &wild] {
        let selected = Selection::new(paths).apply(&doc);
        assert!(
            selected == Value::Object(Map::new()) || is_subdocument(&selected, &doc),
            "select {paths:?} is not a sub-document: {selected}"
        );
        for path in paths.iter() {
            if path.steps().iter().all(|s| matches!(s, Step::Key(_))) {
                let get = |v: &Value| {
                    path.steps()
                        .iter()
                        .try_fold(v, |v, s| match s {
                            Step::Key(k) => v.get(k),
                            _ => None,
                        })
                        .cloned()
                };
                assert_eq!(get(&selected), get(&doc), "select {path} lost its value");
            }
        }
    }

    // Rendered bodies are compared after a parse, and without serde_json's
    // `float_roundtrip` feature (off in the relay's own build: only a
    // dev-dependency turns it on) parsing a double's shortest form can land
    // one ulp off: compare with the document as parsed back the same way.
    // That one-ulp change is finding 1 in README.md.
    let reparsed: Value =
        serde_json::from_slice(&serde_json::to_vec(&doc).expect("a Value serializes"))
            .expect("serialized JSON parses");
    let omit = Transform::Omit(wild.clone());
    let out = omit.render(&raw, &doc).expect("omit always renders");
    let out: Value = serde_json::from_slice(&out).expect("omit renders JSON");
    if wild.is_empty() {
        assert_eq!(out, reparsed, "omit without paths changed the document");
    }
    assert!(
        is_subdocument(&out, &reparsed),
        "omit {wild:?} added something: {out}"
    );
    for path in &wild {
        assert!(!reaches(&out, path.steps()), "omit {path} left it in {out}");
    }
    // Indexes too: rendering must not panic (positions are checked in
    // tests/properties.rs).
    let _ = Transform::Omit(exact).render(&raw, &doc);
});
