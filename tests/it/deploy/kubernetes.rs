//! deploy/kubernetes: each overlay renders with `kubectl kustomize` (or the
//! standalone `kustomize build`), its manifests pass kubernetes-validate
//! (strict), the PodMonitor, whose CRD kubernetes-validate has no schema
//! for, has the shape the Prometheus operator reads, every pod meets the
//! restricted Pod Security Standard with probes and resources, and the
//! routes.yaml each one embeds passes `switchboard check`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::pod_security::{array, assert_restricted, assert_writable_spool};
use crate::common::tools::{on_path, repo, tool};

const OVERLAYS: [&str; 2] = ["sidecar", "central"];

/// Kinds whose `spec.template` is a pod.
const WORKLOADS: [&str; 5] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "ReplicaSet",
];

/// `kubectl kustomize`, or `kustomize build`, or `None` with a message.
/// Neither is in Debian bookworm (its `kubernetes-client` is kubectl 1.20,
/// whose kustomize v2 reads none of `labels`, `patches` or their options),
/// so CI skips too where neither is installed, saying so.
fn renderer() -> Option<Command> {
    if let Some(kubectl) = on_path("kubectl") {
        let mut command = Command::new(kubectl);
        command.arg("kustomize");
        return Some(command);
    }
    if let Some(kustomize) = on_path("kustomize") {
        let mut command = Command::new(kustomize);
        command.arg("build");
        return Some(command);
    }
    eprintln!(
        "skipped: neither kubectl nor kustomize is installed (no Debian package has a kustomize new enough)"
    );
    None
}

/// The overlay's manifests, as `kubectl apply -k` would send them.
fn render(overlay: &str) -> Option<Vec<Value>> {
    let dir = repo(&format!("deploy/kubernetes/overlays/{overlay}"));
    let out = renderer()?.arg(&dir).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{overlay}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    assert!(!docs.is_empty(), "{overlay} rendered nothing");
    Some(docs)
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn workloads(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| WORKLOADS.iter().any(|k| d["kind"] == *k))
        .collect()
}

#[test]
fn the_overlays_pass_kubernetes_validate() {
    for overlay in OVERLAYS {
        let Some(docs) = render(overlay) else { return };
        let Some(validate) = tool("kubernetes-validate", "pip install kubernetes-validate") else {
            return;
        };
        // kubernetes-validate knows the built-in kinds only: the PodMonitor
        // (a CRD) is checked by `the_podmonitor_scrapes_the_admin_port`.
        let (crds, builtin): (Vec<&Value>, Vec<&Value>) = docs
            .iter()
            .partition(|d| d["apiVersion"] == "monitoring.coreos.com/v1");
        assert!(crds.iter().all(|d| d["kind"] == "PodMonitor"), "{crds:?}");
        let dir = tempfile::tempdir().unwrap();
        let mut files: Vec<PathBuf> = Vec::new();
        for (i, doc) in builtin.iter().enumerate() {
            let path = dir.path().join(format!("{i}.json"));
            std::fs::write(&path, serde_json::to_vec(doc).unwrap()).unwrap();
            files.push(path);
        }
        let out = Command::new(&validate)
            .args(["--strict", "--kubernetes-version", "1.32.0"])
            .args(&files)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{overlay}:\n{said}");
        assert_eq!(
            said.matches(" passed ").count(),
            builtin.len(),
            "{overlay}: every manifest validated:\n{said}"
        );
        assert!(
            !said.contains("WARN") && !said.contains("ERROR"),
            "{overlay}:\n{said}"
        );
    }
}

/// Whether `labels` has every pair of `selector`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let pairs = selector.as_object().expect("matchLabels");
    !pairs.is_empty() && pairs.iter().all(|(k, v)| labels[k] == *v)
}

#[test]
fn the_podmonitor_scrapes_the_admin_port() {
    let Some(docs) = render("central") else {
        return;
    };
    let monitors = of_kind(&docs, "PodMonitor");
    assert_eq!(monitors.len(), 1);
    let monitor = monitors[0];
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let spec = monitor["spec"].as_object().unwrap();
    for key in spec.keys() {
        assert!(
            ["selector", "podMetricsEndpoints", "namespaceSelector"].contains(&key.as_str()),
            "unexpected spec.{key}"
        );
    }
    let pod = &workloads(&docs)[0]["spec"]["template"];
    assert!(selects(
        &monitor["spec"]["selector"]["matchLabels"],
        &pod["metadata"]["labels"]
    ));
    let endpoints = array(&monitor["spec"]["podMetricsEndpoints"]);
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["port"], "admin");
    assert_eq!(endpoints[0]["path"], "/metrics");
    let ports: Vec<&Value> = array(&pod["spec"]["containers"])
        .iter()
        .flat_map(|c| array(&c["ports"]))
        .map(|p| &p["name"])
        .collect();
    assert!(ports.contains(&&Value::from("admin")), "{ports:?}");
}

/// The Switchboard container of a pod template.
fn switchboard(pod: &Value) -> &Value {
    array(&pod["spec"]["containers"])
        .iter()
        .find(|c| c["name"] == "switchboard")
        .expect("a switchboard container")
}

/// The routes.yaml in the ConfigMap the pod's config volume names.
fn embedded_config<'a>(docs: &'a [Value], pod: &Value) -> &'a str {
    let volume = array(&pod["spec"]["volumes"])
        .iter()
        .find(|v| v["name"] == "config")
        .expect("a config volume");
    let name = &volume["configMap"]["name"];
    let map = of_kind(docs, "ConfigMap")
        .into_iter()
        .find(|m| m["metadata"]["name"] == *name)
        .unwrap_or_else(|| panic!("no ConfigMap {name}"));
    map["data"]["routes.yaml"].as_str().expect("routes.yaml")
}

#[test]
fn every_pod_meets_the_restricted_pod_security_standard() {
    for overlay in OVERLAYS {
        let Some(docs) = render(overlay) else { return };
        let workloads = workloads(&docs);
        assert_eq!(workloads.len(), 1, "{overlay}");
        for workload in workloads {
            let place = format!("{overlay}: {}", workload["metadata"]["name"]);
            let pod = &workload["spec"]["template"];
            assert_restricted(&place, pod);
            let relay = switchboard(pod);
            assert_eq!(relay["readinessProbe"]["httpGet"]["path"], "/readyz");
            assert_eq!(relay["readinessProbe"]["httpGet"]["port"], "admin");
            assert_eq!(relay["livenessProbe"]["httpGet"]["path"], "/healthz");
            assert_eq!(relay["livenessProbe"]["httpGet"]["port"], "admin");
            assert_writable_spool(&place, workload, relay);
            // SIGTERM drains for server.shutdown_grace; the kubelet must wait longer.
            let config: Value = serde_saphyr::from_str(embedded_config(&docs, pod)).unwrap();
            let grace = config["server"]["shutdown_grace"].as_str().unwrap_or("30s");
            let grace = switchboard::config::units::duration(grace).unwrap();
            let period = pod["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap();
            assert!(period > grace.as_secs(), "{place}: {period}s <= {grace:?}");
        }
    }
}

#[test]
fn the_embedded_configs_pass_switchboard_check() {
    for overlay in OVERLAYS {
        let Some(docs) = render(overlay) else { return };
        let pod = &workloads(&docs)[0]["spec"]["template"];
        let yaml = embedded_config(&docs, pod);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("routes.yaml");
        std::fs::write(&file, yaml).unwrap();
        // --no-env: the {file: ...} secrets live in the Secret, not here.
        let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["check", "--no-env", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{overlay}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let config: Value = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(config["server"]["watch_config"], true, "{overlay}");
        // The probes reach the admin listener from the node.
        assert_eq!(
            config["server"]["admin_listen"], "0.0.0.0:9090",
            "{overlay}"
        );
    }
}

#[test]
fn the_sidecar_delivers_over_loopback_to_the_app_beside_it() {
    let Some(docs) = render("sidecar") else {
        return;
    };
    let deployments = of_kind(&docs, "Deployment");
    assert_eq!(deployments.len(), 1);
    let pod = &deployments[0]["spec"]["template"];
    let names: Vec<&Value> = array(&pod["spec"]["containers"])
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert_eq!(names, ["app", "switchboard"]);
    let config: Value = serde_saphyr::from_str(embedded_config(&docs, pod)).unwrap();
    let targets = config["targets"].as_object().unwrap();
    assert!(!targets.is_empty());
    for (name, target) in targets {
        let url = url::Url::parse(target["url"].as_str().unwrap()).unwrap();
        assert_eq!(url.host_str(), Some("127.0.0.1"), "target {name}");
    }
    let services = of_kind(&docs, "Service");
    assert!(
        services
            .iter()
            .any(|s| selects(&s["spec"]["selector"], &pod["metadata"]["labels"])),
        "a Service reaches the pod"
    );
}

#[test]
fn the_central_relay_is_a_statefulset_with_its_spool_on_a_claim() {
    let Some(docs) = render("central") else {
        return;
    };
    assert!(of_kind(&docs, "Deployment").is_empty());
    let sets = of_kind(&docs, "StatefulSet");
    assert_eq!(sets.len(), 1);
    let set = sets[0];
    let claims = array(&set["spec"]["volumeClaimTemplates"]);
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["metadata"]["name"], "spool");
    let labels = &set["spec"]["template"]["metadata"]["labels"];
    let governing = &set["spec"]["serviceName"];
    assert!(
        of_kind(&docs, "Service")
            .iter()
            .any(|s| s["metadata"]["name"] == *governing && s["spec"]["clusterIP"] == "None"),
        "the governing Service {governing} is headless"
    );
    for kind in ["Service", "PodDisruptionBudget", "NetworkPolicy"] {
        let found = of_kind(&docs, kind);
        assert!(!found.is_empty(), "no {kind}");
        for doc in found {
            let selector = match kind {
                "Service" => &doc["spec"]["selector"],
                "NetworkPolicy" => &doc["spec"]["podSelector"]["matchLabels"],
                _ => &doc["spec"]["selector"]["matchLabels"],
            };
            assert!(selects(selector, labels), "{kind} selects the pods");
        }
    }
    let pdb = &of_kind(&docs, "PodDisruptionBudget")[0]["spec"];
    let replicas = set["spec"]["replicas"].as_u64().unwrap();
    assert!(
        pdb["minAvailable"].as_u64().unwrap() < replicas,
        "a drain can proceed"
    );
}
