//! `switchboard events replay|cancel` and the dead-letter shorthand on the
//! command line: through the admin API with the token from the
//! environment, or on the spool file itself, audited as `cli:<user>`.

use serde_json::{Value, json};

use crate::bulk::{OPERATE, get, one_target, wait_count};
use crate::common::{FakeTarget, TestRelay, WAIT, fixture};

/// `switchboard ARGS…` with `SWITCHBOARD_ADMIN_TOKEN` set to `token`, off
/// the test's thread (the relay it talks to runs on it).
async fn cli(args: &[&str], token: Option<&str>) -> (Option<i32>, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let token = token.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command.args(&args).env_remove("SWITCHBOARD_ADMIN_TOKEN");
        if let Some(token) = token {
            command.env("SWITCHBOARD_ADMIN_TOKEN", token);
        }
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_command_line_acts_through_the_admin_api_or_on_the_spool_file() {
    let target = FakeTarget::start().await;
    target.respond(400);
    let relay = TestRelay::start(&one_target(&target, ", retry: {attempts: 1}")).await;
    relay.accept("s", fixture("minimal.json")).await;
    relay.accept("s", fixture("minimal.json")).await;
    wait_count(&relay, "replay", json!({"state": "dead"}), 2).await;
    let admin = relay.admin("");
    let dry = [
        "events",
        "replay",
        "--admin",
        &admin,
        "--target",
        "t",
        "--state",
        "dead",
        "--dry-run",
        "--json",
    ];
    let (code, out, err) = cli(&dry, Some(OPERATE)).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"count": 2})
    );
    let (code, _, err) = cli(&dry, None).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("401"), "{err}");
    let (code, _, err) = cli(&["events", "cancel", "--admin", &admin], Some(OPERATE)).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("an empty filter selects every delivery"),
        "{err}"
    );

    target.respond(200);
    let real = [
        "events", "replay", "--admin", &admin, "--target", "t", "--since", "1h",
    ];
    let (code, out, err) = cli(&real, Some(OPERATE)).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(": done, 2 of 2 deliveries"), "{out}");
    target.wait_for(4, WAIT).await;

    let spool = relay.config.with_file_name("spool.db");
    let spool = spool.to_str().unwrap();
    let (code, out, err) = cli(
        &[
            "events", "replay", "--spool", spool, "--state", "dead", "--json",
        ],
        None,
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    let job: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (job["state"].as_str(), job["total"].as_i64()),
        (Some("done"), Some(0))
    );
    let audit = get(&relay, "/api/audit").await;
    let who: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["who"].as_str().unwrap())
        .collect();
    assert!(who[0].starts_with("cli:"), "{audit}");
    assert_eq!(who[1], "oncall", "{audit}");

    // The dead-letter shorthand on the spool is audited too.
    let config = relay.config.to_str().unwrap();
    let (code, _, err) = cli(&["dlq", "purge", "--config", config, "--all"], None).await;
    assert_eq!(code, Some(0), "{err}");
    let audit = get(&relay, "/api/audit?limit=1").await;
    let entry = &audit["entries"][0];
    assert_eq!(
        (entry["action"].as_str(), entry["count"].as_i64()),
        (Some("purge"), Some(0))
    );
    assert!(
        entry["who"].as_str().unwrap().starts_with("cli:"),
        "{audit}"
    );
    assert_eq!(entry["filter"]["states"], json!(["dead"]));
}
