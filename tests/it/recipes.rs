//! The shipped configs stay valid and useful: each compiles with an empty
//! environment, and every target's transform renders every fixture.

use std::path::Path;

use bytes::Bytes;
use http::HeaderMap;
use switchboard::config::interpolate::Env;
use switchboard::ingress::render;
use switchboard::relay;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn check_renders(config: &Path) {
    let runtime = relay::load(config, &Env::default(), None)
        .unwrap_or_else(|e| panic!("{}: {e}", config.display()));
    for (name, raw) in fixtures() {
        let doc: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        let raw = Bytes::from(raw);
        for source in runtime.sources.values() {
            let routed = render::route(&runtime, source, &HeaderMap::new(), &raw, &doc);
            let unrendered: Vec<_> = routed
                .deliveries
                .iter()
                .filter_map(|d| d.unrendered.as_ref().map(|e| (&d.target, e)))
                .collect();
            assert!(
                unrendered.is_empty(),
                "{}: {name}: {unrendered:?}",
                config.display(),
            );
            for delivery in &routed.deliveries {
                if let Some(body) = &delivery.body {
                    serde_json::from_slice::<serde_json::Value>(body).unwrap_or_else(|e| {
                        panic!(
                            "{}: {name} -> {}: not JSON: {e}",
                            config.display(),
                            delivery.target
                        )
                    });
                }
            }
        }
    }
}

#[test]
fn the_example_config_renders_every_fixture() {
    check_renders(&Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.example.yaml"));
}

#[test]
fn every_recipe_renders_every_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "yaml") {
            check_renders(&path);
            seen += 1;
        }
    }
    assert!(seen >= 1, "no recipe found in examples/");
}

#[test]
fn the_kubernetes_overlays_configs_load_and_render_every_fixture() {
    // Their secrets are files of a Secret mounted at /run/secrets/switchboard:
    // here, files of a temporary directory (tests/it/deploy/kubernetes.rs
    // checks the rendered ConfigMaps, where kubectl is installed).
    let secrets = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("admin-token", "a-token-for-operators"),
        ("sipgate-token", "a-token-for-sipgate"),
        ("crm-authorization", "Bearer crm"),
    ] {
        std::fs::write(secrets.path().join(name), value).unwrap();
    }
    for overlay in ["sidecar", "central"] {
        let yaml = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("deploy/kubernetes/overlays/{overlay}/routes.yaml")),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("routes.yaml");
        let at = format!("{}/", secrets.path().display());
        std::fs::write(&config, yaml.replace("/run/secrets/switchboard/", &at)).unwrap();
        check_renders(&config);
    }
}
