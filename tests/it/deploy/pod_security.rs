//! The restricted Pod Security Standard, and what issue 17 adds to it
//! (a read-only root with volumes where the relay writes, probes,
//! resources), asserted on a rendered pod template's fields.

use serde_json::Value;

/// A JSON array's items; none when absent.
pub fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The restricted Pod Security Standard, and what the issue adds
/// (read-only root, probes, resources), for one pod template.
pub fn assert_restricted(place: &str, pod: &Value) {
    let spec = &pod["spec"];
    let pod_sc = &spec["securityContext"];
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        assert_ne!(spec[key], true, "{place}: {key}");
    }
    assert!(pod_sc["sysctls"].is_null(), "{place}: sysctls");
    for volume in array(&spec["volumes"]) {
        assert!(volume["hostPath"].is_null(), "{place}: hostPath volume");
    }
    let all = array(&spec["containers"])
        .iter()
        .chain(array(&spec["initContainers"]));
    for container in all {
        let at = format!("{place}, container {}", container["name"]);
        let sc = &container["securityContext"];
        // Set on the container, or inherited from the pod.
        let either = |key: &str| {
            if sc[key].is_null() {
                &pod_sc[key]
            } else {
                &sc[key]
            }
        };
        assert_eq!(either("runAsNonRoot"), true, "{at}: runAsNonRoot");
        assert_ne!(either("runAsUser"), 0, "{at}: runAsUser 0");
        assert_eq!(
            either("seccompProfile")["type"],
            "RuntimeDefault",
            "{at}: seccompProfile"
        );
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{at}");
        assert_ne!(sc["privileged"], true, "{at}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{at}");
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{at}"
        );
        for add in array(&sc["capabilities"]["add"]) {
            assert_eq!(add, "NET_BIND_SERVICE", "{at}: adds a capability");
        }
        for port in array(&container["ports"]) {
            assert!(port["hostPort"].is_null(), "{at}: hostPort");
        }
        for kind in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    container["resources"][kind][resource].is_string(),
                    "{at}: resources.{kind}.{resource}"
                );
            }
        }
        for probe in ["readinessProbe", "livenessProbe"] {
            assert!(container[probe].is_object(), "{at}: {probe}");
        }
    }
}

/// The spool's directory and /tmp are volumes (the root is read-only), and
/// the config is mounted as a directory (a subPath mount never changes).
pub fn assert_writable_spool(place: &str, workload: &Value, relay: &Value) {
    let mounts = array(&relay["volumeMounts"]);
    let spool = mounts
        .iter()
        .find(|m| m["mountPath"] == "/var/lib/switchboard")
        .unwrap_or_else(|| panic!("{place}: no volume on /var/lib/switchboard"));
    assert_ne!(spool["readOnly"], true, "{place}");
    assert!(
        mounts.iter().any(|m| m["mountPath"] == "/tmp"),
        "{place}: /tmp"
    );
    let config = mounts
        .iter()
        .find(|m| m["mountPath"] == "/etc/switchboard")
        .expect("config mount");
    assert!(config["subPath"].is_null(), "{place}: config by subPath");
    let name = &spool["name"];
    let volumes = array(&workload["spec"]["template"]["spec"]["volumes"]);
    let claims = array(&workload["spec"]["volumeClaimTemplates"]);
    let declared = volumes.iter().filter(|v| v["name"] == *name).count()
        + claims
            .iter()
            .filter(|c| c["metadata"]["name"] == *name)
            .count();
    assert_eq!(declared, 1, "{place}: the spool volume {name}");
}
