//! `server.watch_config`: a config file swapped the way a Kubernetes
//! ConfigMap volume swaps it (a `..data` symlink replaced atomically), a
//! broken one, and a rotated secrets file are put in force, or rejected,
//! without a signal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture, with_spool};

/// A ConfigMap volume's layout: `routes.yaml -> ..data/routes.yaml`,
/// `..data -> ..<version>`.
struct ConfigMapDir {
    dir: PathBuf,
    spool: PathBuf,
    versions: usize,
}

impl ConfigMapDir {
    fn new(dir: &Path, yaml: &str) -> ConfigMapDir {
        let mut volume = ConfigMapDir {
            dir: dir.to_path_buf(),
            spool: dir.join("spool.db"),
            versions: 0,
        };
        let first = volume.version(yaml);
        std::os::unix::fs::symlink(&first, dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/routes.yaml", dir.join("routes.yaml")).unwrap();
        volume
    }

    /// Writes a new `..<version>/routes.yaml`; returns the directory's name.
    fn version(&mut self, yaml: &str) -> String {
        self.versions += 1;
        let name = format!(
            "..2026_12_06_00_00_0{}.{}",
            self.versions,
            100 + self.versions
        );
        std::fs::create_dir(self.dir.join(&name)).unwrap();
        std::fs::write(
            self.dir.join(&name).join("routes.yaml"),
            with_spool(yaml, &self.spool),
        )
        .unwrap();
        name
    }

    /// What the kubelet's AtomicWriter does: the new version beside the old,
    /// a temporary symlink to it renamed over `..data`, the old one removed.
    fn swap(&mut self, yaml: &str) {
        let old = std::fs::read_link(self.dir.join("..data")).unwrap();
        let new = self.version(yaml);
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&new, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        std::fs::remove_dir_all(self.dir.join(old)).unwrap();
    }
}

fn config(a: &str, b: &str, to: &str) -> String {
    format!(
        "server: {{watch_config: true}}\nsources: {{s: {{}}}}\ntargets:\n  a: {{url: \"{a}\"}}\n  b: {{url: \"{b}\"}}\nroutes:\n  - to: [{to}]\n"
    )
}

/// `last_reload` of `GET /api/status`.
async fn last_reload(relay: &TestRelay) -> Value {
    relay.admin_json("/api/status").await["last_reload"].clone()
}

/// Waits until `last_reload` is no longer `before`; the new one.
async fn next_reload(relay: &TestRelay, before: &Value) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = last_reload(relay).await;
        if now != *before {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reload within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_on_volume(yaml: &str) -> (TestRelay, ConfigMapDir) {
    let dir = tempfile::tempdir().unwrap();
    let volume = ConfigMapDir::new(dir.path(), yaml);
    let config = dir.path().join("routes.yaml");
    (TestRelay::start_on(dir, config, &[]).await, volume)
}

#[tokio::test]
async fn a_configmap_symlink_swap_is_put_in_force() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let (relay, mut volume) = start_on_volume(&config(&a.url("/a"), &b.url("/b"), "a")).await;
    relay.accept("s", fixture("minimal.json")).await;
    a.wait_for(1, WAIT).await;
    assert_eq!(last_reload(&relay).await, Value::Null);

    volume.swap(&config(&a.url("/a"), &b.url("/b"), "b"));
    let reload = next_reload(&relay, &Value::Null).await;
    assert_eq!(reload["ok"], true, "{reload}");

    relay.accept("s", fixture("minimal.json")).await;
    b.wait_for(1, WAIT).await;
    a.assert_quiet(1, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_broken_config_swapped_in_is_rejected_and_the_old_one_stays() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let (relay, mut volume) = start_on_volume(&config(&a.url("/a"), &b.url("/b"), "a")).await;

    volume.swap("server: {watch_config: true}\nsources: {s: {}\ntargets: [");
    let rejected = next_reload(&relay, &Value::Null).await;
    assert_eq!(rejected["ok"], false, "{rejected}");
    assert!(
        !rejected["problems"].as_array().unwrap().is_empty(),
        "{rejected}"
    );
    relay.accept("s", fixture("minimal.json")).await;
    a.wait_for(1, WAIT).await;

    // Still watched: the next good version is put in force.
    volume.swap(&config(&a.url("/a"), &b.url("/b"), "b"));
    let reload = next_reload(&relay, &rejected).await;
    assert_eq!(reload["ok"], true, "{reload}");
    relay.accept("s", fixture("minimal.json")).await;
    b.wait_for(1, WAIT).await;
    a.assert_quiet(1, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_rotated_secrets_file_is_put_in_force() {
    let a = FakeTarget::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "token-one\n").unwrap();
    let yaml = format!(
        "server: {{watch_config: true}}\nsources: {{s: {{}}}}\ntargets:\n  a:\n    url: \"{}\"\n    headers: {{x-token: {{file: \"{}\"}}}}\nroutes:\n  - to: [a]\n",
        a.url("/a"),
        token.display()
    );
    let config = dir.path().join("routes.yaml");
    std::fs::write(&config, with_spool(&yaml, &dir.path().join("spool.db"))).unwrap();
    let relay = TestRelay::start_on(dir, config, &[]).await;
    relay.accept("s", fixture("minimal.json")).await;
    assert_eq!(
        a.wait_for(1, WAIT).await[0].header("x-token"),
        Some("token-one")
    );

    // Written in place, as `echo > file` would.
    std::fs::write(&token, "token-number-two\n").unwrap();
    let reload = next_reload(&relay, &Value::Null).await;
    assert_eq!(reload["ok"], true, "{reload}");
    relay.accept("s", fixture("minimal.json")).await;
    assert_eq!(
        a.wait_for(2, WAIT).await[1].header("x-token"),
        Some("token-number-two")
    );
}

#[tokio::test]
async fn without_watch_config_a_changed_file_waits_for_a_signal() {
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let plain =
        |to| config(&a.url("/a"), &b.url("/b"), to).replace("server: {watch_config: true}\n", "");
    let (relay, mut volume) = start_on_volume(&plain("a")).await;
    volume.swap(&plain("b"));
    // Absence can only be seen by waiting: a poll and a debounce, twice over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(last_reload(&relay).await, Value::Null);
    relay.accept("s", fixture("minimal.json")).await;
    a.wait_for(1, WAIT).await;
    b.assert_quiet(0, Duration::from_millis(200)).await;
}
