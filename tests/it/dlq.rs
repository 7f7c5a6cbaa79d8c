//! `switchboard dlq` is safe to type: replay and purge name what they touch
//! or say `--all`, a wrong target or id is an error rather than "0", the
//! spool is the one next to the config whatever the working directory, a
//! missing spool is not silently created, and `dlq list | head` ends
//! quietly.

use std::path::Path;
use std::time::Duration;

use crate::common::binary::{Binary, Run, run};
use crate::common::{FakeTarget, TestRelay, WAIT, fixture};

fn config(target: &str) -> String {
    format!(
        "server:\n  window: 4\nsources: {{s: {{}}}}\ntargets:\n  t: {{url: \"{target}\", retry: {{attempts: 1}}}}\nroutes:\n  - to: [t]\n"
    )
}

/// `switchboard dlq ARGS… --config CONFIG`, run in `dir`.
fn dlq(config: &Path, args: &[&str], dir: &Path) -> Run {
    let mut all: Vec<std::ffi::OsString> = vec!["dlq".into()];
    all.extend(args.iter().map(Into::into));
    all.extend(["--config".into(), config.as_os_str().to_owned()]);
    run(&all, dir)
}

/// Dead letters `dlq list --json` shows, run in `dir`.
fn listed(config: &Path, dir: &Path) -> usize {
    let run = dlq(config, &["list", "--json"], dir);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run.stdout.lines().count()
}

/// Waits until `dlq list` shows `n` dead letters.
async fn wait_listed(config: &Path, dir: &Path, n: usize) {
    tokio::time::timeout(WAIT, async {
        while listed(config, dir) < n {
            // Another process writes the spool: nothing to wait on but time.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("fewer than {n} dead letters within {WAIT:?}"));
}

/// A relay whose only target answers 400, with two dead letters.
async fn two_dead_letters() -> (TestRelay, FakeTarget) {
    let target = FakeTarget::start().await;
    target.respond(400);
    let relay = TestRelay::start(&config(&target.url("/t"))).await;
    relay.accept("s", fixture("minimal.json")).await;
    relay.accept("s", fixture("full.json")).await;
    target.wait_for(2, WAIT).await;
    wait_listed(&relay.config, Path::new("."), 2).await;
    (relay, target)
}

#[tokio::test]
async fn purge_and_replay_without_a_selector_change_nothing() {
    let (relay, _target) = two_dead_letters().await;
    let here = Path::new(".");
    for verb in ["purge", "replay"] {
        let run = dlq(&relay.config, &[verb], here);
        assert_eq!(run.code, Some(1), "{verb}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "refusing to {verb} every dead letter: select some with --target, --id or --before, or pass --all"
            )),
            "{}",
            run.stderr
        );
        let run = dlq(&relay.config, &[verb, "--all", "--target", "t"], here);
        assert_eq!(run.code, Some(2), "{verb}: {}", run.stderr);
        assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    }
    assert_eq!(listed(&relay.config, here), 2);

    let run = dlq(&relay.config, &["replay", "--all"], here);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "2 dead letter(s) due again\n");
    // The replayed deliveries die again (the target still answers 400).
    wait_listed(&relay.config, here, 2).await;
    let run = dlq(&relay.config, &["purge", "--all"], here);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "2 dead letter(s) purged\n");
    assert_eq!(listed(&relay.config, here), 0);
}

#[tokio::test]
async fn an_unknown_target_or_a_malformed_id_is_an_error_not_zero() {
    let (relay, _target) = two_dead_letters().await;
    let here = Path::new(".");
    for args in [
        &["list", "--target", "nope"][..],
        &["replay", "--target", "nope"][..],
        &["purge", "--target", "nope"][..],
    ] {
        let run = dlq(&relay.config, args, here);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.contains(
                "unknown target \"nope\": it is not in the config and has no dead letters (targets: t)"
            ),
            "{}",
            run.stderr
        );
    }
    let run = dlq(&relay.config, &["purge", "--id", "019a-not-a-uuid"], here);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("\"019a-not-a-uuid\" is not a webhook id"),
        "{}",
        run.stderr
    );
    assert_eq!(listed(&relay.config, here), 2);

    // A target dropped from the config still has its dead letters to list.
    let dropped = relay.config.with_file_name("without-t.yaml");
    let text = std::fs::read_to_string(&relay.config).unwrap();
    std::fs::write(
        &dropped,
        text.replace("  t: {", "  u: {")
            .replace("to: [t]", "to: [u]"),
    )
    .unwrap();
    let run = dlq(&dropped, &["list", "--target", "t", "--json"], here);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2);
}

#[tokio::test]
async fn dlq_list_into_a_closed_pipe_exits_quietly() {
    let (relay, _target) = two_dead_letters().await;
    // `dlq list | head -0`: the reader is gone before the first line.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["dlq", "list", "--config"])
        .arg(&relay.config)
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[tokio::test]
async fn a_relative_spool_is_the_one_next_to_the_config_from_any_directory() {
    let target = FakeTarget::start().await;
    target.respond(400);
    let (home, serve_in, dlq_in) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let config = home.path().join("routes.yaml");
    std::fs::write(
        &config,
        format!(
            "server: {{listen: \"127.0.0.1:0\", admin_listen: \"off\", spool: ./data/spool.db}}\nsources: {{s: {{}}}}\ntargets:\n  t: {{url: \"{}\", retry: {{attempts: 1}}}}\nroutes:\n  - to: [t]\n",
            target.url("/t")
        ),
    )
    .unwrap();
    let mut relay = Binary::start_in(&config, serve_in.path()).await;
    let response = reqwest::Client::new()
        .post(format!("http://{}/hooks/s", relay.addr))
        .header("content-type", "application/json")
        .body(fixture("minimal.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    target.wait_for(1, WAIT).await;
    wait_listed(&config, dlq_in.path(), 1).await;
    assert!(home.path().join("data/spool.db").is_file());
    assert!(!serve_in.path().join("data").exists());
    assert!(!dlq_in.path().join("data").exists());
    relay.signal("-TERM");
    assert!(relay.exited().await.success());
}

#[test]
fn a_command_does_not_create_a_missing_spool() {
    let (home, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = home.path().join("routes.yaml");
    std::fs::write(
        &config,
        "server: {spool: ./data/spool.db}\nsources: {s: {}}\ntargets: {t: {url: \"http://127.0.0.1:9/\"}}\nroutes: [{to: [t]}]\n",
    )
    .unwrap();
    for args in [&["list"][..], &["purge", "--all"][..]] {
        let run = dlq(&config, args, elsewhere.path());
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stdout);
        let expected = home.path().join("data/spool.db");
        assert!(
            run.stderr
                .contains(&format!("there is no spool at {}", expected.display())),
            "{}",
            run.stderr
        );
    }
    assert!(!home.path().join("data").exists());
    assert!(!elsewhere.path().join("data").exists());
}
