//! `switchboard check` and the load path it shares with start-up and reload:
//! every problem in one run, each once, with file, line, column, key path,
//! plain words and a suggestion; `check --no-env` for CI; IPv4-mapped
//! allow entries; secrets files that are not regular files.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};
use switchboard::config::interpolate::Env;
use switchboard::config::problems::Problem;
use switchboard::relay::LoadError;
use switchboard::runtime::Runtime;

/// The example: two mistyped keys and a route to an unknown target.
const THREE_MISTAKES: &str = "\
sources:
  sipgate:
    allow: [127.0.0.1]
targets:
  crm:
    url: http://127.0.0.1:9101/crm
    heders: { X-Api-Key: abc }
    timeot: 5s
routes:
  - to: [crm]
  - to: [billing]
";

/// 1-based line and column of the only occurrence of `needle`.
fn pos(yaml: &str, needle: &str) -> (u64, u64) {
    assert_eq!(yaml.matches(needle).count(), 1, "`{needle}` in:\n{yaml}");
    let at = yaml.find(needle).unwrap();
    let line = yaml[..at].matches('\n').count() + 1;
    let column = at - yaml[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line as u64, column as u64)
}

/// `switchboard check` on `yaml` in a temporary file, with an empty environment.
fn check(yaml: &str, args: &[&str]) -> (Output, String, tempfile::TempDir) {
    run("check", yaml, args)
}

/// `switchboard COMMAND --config FILE ARGS` on `yaml` in a temporary file,
/// with an empty environment.
fn run(command: &str, yaml: &str, args: &[&str]) -> (Output, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    std::fs::write(&path, yaml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([command, "--config"])
        .arg(&path)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    (output, path.display().to_string(), dir)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every problem of `yaml`, by the path start-up, `check` and reload share.
fn problems(yaml: &str) -> Vec<Problem> {
    match Runtime::from_yaml(yaml, &Env::default(), None) {
        Ok(_) => panic!("accepted, but should have been rejected:\n{yaml}"),
        Err(problems) => problems.into_iter().collect(),
    }
}

/// `(place, line, column)` of each problem, in order.
fn places(all: &[Problem]) -> Vec<(String, Option<(u64, u64)>)> {
    all.iter().map(|p| (p.place.clone(), p.position)).collect()
}

fn at(place: &str, yaml: &str, needle: &str) -> (String, Option<(u64, u64)>) {
    (place.to_owned(), Some(pos(yaml, needle)))
}

#[test]
fn check_prints_two_unknown_keys_and_an_unknown_target_in_one_run() {
    let (output, file, _dir) = check(THREE_MISTAKES, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("{file}: 3 problems:\n")),
        "{stderr}"
    );
    for (needle, place, words) in [
        (
            "heders",
            "targets.crm.heders",
            "unknown key `heders`, did you mean `headers`?",
        ),
        (
            "timeot",
            "targets.crm.timeot",
            "unknown key `timeot`, did you mean `timeout`?",
        ),
        (
            "billing",
            "routes[1].to[0]",
            "unknown target \"billing\" (targets: crm)",
        ),
    ] {
        let (line, column) = pos(THREE_MISTAKES, needle);
        let line = format!("  {file}:{line}:{column}: {place}: {words}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with(&line)).count(),
            1,
            "`{line}` not printed once:\n{stderr}"
        );
    }
    assert!(!stderr.contains("<input>"), "{stderr}");
}

#[test]
fn every_kind_of_mistake_is_reported_once_in_plain_words() {
    let yaml = "\
server:
  max_connections: lots
  max_body: 1TB
sources:
  sipgate:
    allow: [127.0.0.1]
    burst: -1
targets:
  crm:
    url: http://127.0.0.1:9101/crm
    url: http://127.0.0.1:9101/again
    concurrency: [8]
    transform: nonee
  archive:
    method: POST
routes:
  - to: [crm]
    transform: {selct: [a]}
  - to: [archive, billing]
    when: {has: \"a..b\"}
";
    let all = problems(yaml);
    assert_eq!(
        places(&all),
        [
            at("server.max_connections", yaml, "lots"),
            at("sources.sipgate.burst", yaml, "-1"),
            at("targets.crm.url", yaml, "url: http://127.0.0.1:9101/again"),
            at("targets.crm.concurrency", yaml, "[8]"),
            at("targets.crm.transform", yaml, "nonee"),
            at("targets.archive.url", yaml, "method"),
            at("routes[0].transform.selct", yaml, "selct"),
            at("server.max_body", yaml, "1TB"),
            at("routes[1].when.has", yaml, "\"a..b"),
            at("routes[1].to[1]", yaml, "billing"),
        ],
        "{all:#?}"
    );
    let message = |place: &str| {
        all.iter()
            .find(|p| p.place == place)
            .map(|p| p.message.clone())
            .unwrap()
    };
    let expectations = [
        ("server.max_connections", "expected a whole number"),
        (
            "sources.sipgate.burst",
            "expected a whole number from 0 to 4294967295, found the number `-1`",
        ),
        (
            "targets.crm.url",
            "duplicate key `url` (first set at line 10 column 5)",
        ),
        ("targets.crm.concurrency", "found a list"),
        ("targets.crm.transform", "did you mean `none`?"),
        ("targets.archive.url", "the key `url` is missing"),
        (
            "routes[0].transform.selct",
            "unknown key `selct`, did you mean `select`?",
        ),
    ];
    for (place, words) in expectations {
        let message = message(place);
        assert!(message.contains(words), "{place}: {message}");
    }
    for problem in &all {
        for internal in [
            "invalid u32",
            "invalid type",
            "mapping start",
            "DuplicateKeyPolicy",
            "<input>",
        ] {
            assert!(!problem.message.contains(internal), "{problem}");
        }
    }
}

#[test]
fn a_value_of_the_wrong_type_is_not_reported_again_by_the_rules() {
    // The stand-ins put in place of `[..]` must not be judged as URLs,
    // methods or routes: one problem each.
    let yaml = "\
sources:
  sipgate: {allow: [127.0.0.1]}
targets:
  crm: {url: [http://x], method: {a: b}}
routes:
  - to: crm
";
    let all = problems(yaml);
    assert_eq!(
        places(&all),
        [
            at("targets.crm.url", yaml, "[http"),
            at("targets.crm.method", yaml, "{a: b}"),
            at("routes[0].to", yaml, "crm\n"),
        ],
        "{all:#?}"
    );
    assert!(
        all[2].message.contains("expected a list, found a string"),
        "{}",
        all[2]
    );
}

#[test]
fn a_yaml_syntax_error_is_one_problem_with_its_position() {
    let (output, file, _dir) = check("sources: {a: [1.2.3.4}\n", &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("  {file}:1:")), "{stderr}");
    assert!(stderr.contains("not valid YAML"), "{stderr}");
}

#[tokio::test]
async fn reload_reports_every_problem_and_keeps_the_old_config() {
    let archive = FakeTarget::start().await;
    let good = format!(
        "sources:\n  sipgate: {{allow: [127.0.0.1]}}\ntargets:\n  crm: {{url: \"{}\"}}\nroutes:\n  - to: [crm]\n",
        archive.url("/a")
    );
    let relay = TestRelay::start(&good).await;
    let Err(LoadError::Invalid(found)) = relay.reload_with(THREE_MISTAKES).await else {
        panic!("reload should have been refused with problems");
    };
    let found: Vec<String> = found.iter().map(|p| p.place.clone()).collect();
    assert_eq!(
        found,
        [
            "targets.crm.heders",
            "targets.crm.timeot",
            "routes[1].to[0]"
        ]
    );
    relay.accept("sipgate", fixture("full.json")).await;
    assert_eq!(archive.wait_for(1, WAIT).await.len(), 1);
}

/// What a deployment's config looks like: URLs and secrets from the
/// environment and from files that exist only in production.
const DEPLOYED: &str = "\
server:
  admin_listen: 0.0.0.0:9090
  admin_token: ${ADMIN_TOKEN}
sources:
  sipgate:
    allow: [217.116.118.254]
    token: {header: X-Token, value: {file: /run/secrets/sipgate_token}}
targets:
  crm:
    url: ${CRM_URL}
    headers:
      Authorization: Bearer ${CRM_TOKEN}
    sign: {secret: {file: /run/secrets/crm_whsec}}
  tickets:
    url: https://${TICKETS_HOST}/hooks
routes:
  - to: [crm, tickets]
";

#[test]
fn check_no_env_accepts_a_config_whose_secrets_live_elsewhere() {
    let (output, _file, _dir) = check(DEPLOYED, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "without --no-env: {stderr}");
    assert!(stderr.contains("CRM_URL is not set"), "{stderr}");

    let (output, file, _dir) = check(DEPLOYED, &["--no-env"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with(&format!("{file}: ok (1 sources, 2 targets, 1 routes")),
        "{output:?}"
    );
}

#[test]
fn check_no_env_still_reports_everything_else() {
    let yaml = DEPLOYED
        .replace("to: [crm, tickets]", "to: [crm, tickts]")
        .replace(
            "https://${TICKETS_HOST}/hooks",
            "ftp://${TICKETS_HOST}/hooks",
        )
        .replace("Bearer ${CRM_TOKEN}", "Bearer ${CRM_TOKEN")
        .replace("    allow:", "    alow:");
    let (output, file, _dir) = check(&yaml, &["--no-env"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("{file}: 4 problems:")),
        "{stderr}"
    );
    for (needle, words) in [
        (
            "alow",
            "sources.sipgate.alow: unknown key `alow`, did you mean `allow`?",
        ),
        (
            "Bearer",
            "targets.crm.headers.Authorization: unterminated `${`",
        ),
        ("ftp://", "targets.tickets.url:"),
        ("tickts", "routes[0].to[1]: unknown target \"tickts\""),
    ] {
        let (line, column) = pos(&yaml, needle);
        assert!(
            stderr.contains(&format!("{file}:{line}:{column}: {words}")),
            "{needle}:\n{stderr}"
        );
    }
}

#[tokio::test]
async fn an_ipv4_mapped_allow_entry_admits_the_ipv4_client() {
    let archive = FakeTarget::start().await;
    let yaml = format!(
        "sources:\n  sipgate: {{allow: [\"::ffff:127.0.0.1\"]}}\n  range: {{allow: [\"::ffff:127.0.0.0/104\"]}}\ntargets:\n  a: {{url: \"{}\"}}\nroutes:\n  - to: [a]\n",
        archive.url("/a")
    );
    let relay = TestRelay::start(&yaml).await;
    relay.accept("sipgate", fixture("full.json")).await;
    relay.accept("range", fixture("full.json")).await;
    assert_eq!(archive.wait_for(2, WAIT).await.len(), 2);
}

#[tokio::test]
async fn a_fifo_as_secret_file_fails_the_reload_instead_of_hanging_it() {
    let archive = FakeTarget::start().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("token");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let yaml = |headers: &str| {
        format!(
            "sources:\n  sipgate: {{allow: [127.0.0.1]}}\ntargets:\n  a:\n    url: \"{}\"\n{headers}routes:\n  - to: [a]\n",
            archive.url("/a")
        )
    };
    let relay = TestRelay::start(&yaml("")).await;
    let with_fifo = yaml(&format!(
        "    headers: {{X-Token: {{file: \"{}\"}}}}\n",
        fifo.display()
    ));
    let reload = tokio::time::timeout(Duration::from_secs(10), relay.reload_with(&with_fifo))
        .await
        .expect("a reload reading a FIFO must not hang");
    let Err(LoadError::Invalid(found)) = reload else {
        panic!("a FIFO secret must be refused");
    };
    let found: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("targets.a.headers.X-Token: secret file")
            && found[0].contains("is not a regular file"),
        "{found:#?}"
    );
    assert!(Path::new(&fifo).exists());
}

#[test]
fn serve_refuses_to_start_and_prints_every_problem() {
    let (output, file, _dir) = run("serve", THREE_MISTAKES, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{file}: 3 problems:")), "{stderr}");
    for place in [
        "targets.crm.heders",
        "targets.crm.timeot",
        "routes[1].to[0]",
    ] {
        assert_eq!(
            stderr.matches(&format!(": {place}: ")).count(),
            1,
            "{place}:\n{stderr}"
        );
    }
}

#[test]
fn deeply_nested_conditions_are_checked_quickly() {
    // Each level is an optional condition; a mistake at the bottom once
    // made the checker try every level twice.
    let mut when = String::from("{has: a, colour: red}");
    for _ in 0..60 {
        when = format!("{{not: {when}}}");
    }
    let yaml = format!(
        "sources:\n  s: {{allow: [127.0.0.1]}}\ntargets:\n  t: {{url: \"http://127.0.0.1:9/\"}}\nroutes:\n  - to: [t]\n    when: {when}\n"
    );
    let started = std::time::Instant::now();
    let all = problems(&yaml);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(all[0].place.ends_with(".not.colour"), "{}", all[0]);
}

#[test]
fn a_wrong_optional_value_does_not_make_its_parent_wrong_too() {
    // `equals: [1]` is one mistake: the answer condition still has its test.
    let yaml = "\
sources:
  s:
    allow: 127.0.0.1
    verify: {hmac: {header: X-Sig, algorithm: sha1, secret: x}}
targets:
  t: {url: \"http://127.0.0.1:9/\"}
routes:
  - to: [t]
    when: {topic: [a, [b]], answer: {question: q, equals: [1]}}
";
    let all = problems(yaml);
    assert_eq!(
        places(&all),
        [
            at("sources.s.allow", yaml, "127.0.0.1\n"),
            at("sources.s.verify.hmac.algorithm", yaml, "sha1"),
            at("routes[0].when.topic[1]", yaml, "[b]"),
            at("routes[0].when.answer.equals", yaml, "[1]"),
        ],
        "{all:#?}"
    );
    assert!(
        all[1]
            .message
            .contains("expected `sha256` or `sha512`, found `sha1`"),
        "{}",
        all[1]
    );
}
