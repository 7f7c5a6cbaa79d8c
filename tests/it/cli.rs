//! The operator's commands, run as the binary: `explain` on every fixture
//! with the example config, `schema` against the example, `check`'s
//! did-you-mean, `sink` receiving a delivery, and `--help` / `--version`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// A secret the example config reads as `${CRM_TOKEN}`; it must never show.
const SECRET: &str = "secret-xyz";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.example.yaml")
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn switchboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("CRM_TOKEN", SECRET)
        .env("TICKETS_API_KEY", SECRET)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `explain` and returns stdout, asserting success and no secret.
fn explain(config: &Path, fixture: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "explain",
        "--config",
        config.to_str().unwrap(),
        fixture.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = switchboard(&args);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "a secret leaked:\n{stdout}"
    );
    stdout
}

/// (target, the route that chose it).
type Chosen = &'static [(&'static str, &'static str)];

/// The routes of `routes.example.yaml` each fixture matches, and the route
/// that chose each target.
const EXPECTED: &[(&str, &[&str], Chosen)] = &[
    (
        "full.json",
        &["service-requests", "summaries", "archive"],
        &[
            ("tickets", "service-requests"),
            ("crm", "summaries"),
            ("archive", "archive"),
        ],
    ),
    (
        "german-unicode.json",
        &["summaries", "archive"],
        &[("crm", "summaries"), ("archive", "archive")],
    ),
    (
        "large-transcription.json",
        &["summaries", "long-inbound-calls", "archive"],
        &[("crm", "summaries"), ("archive", "archive")],
    ),
    (
        "legacy-labs-format.json",
        &["archive"],
        &[("archive", "archive")],
    ),
    ("minimal.json", &["archive"], &[("archive", "archive")]),
    (
        "multiple-playbooks.json",
        &["complaints", "service-requests", "summaries", "archive"],
        &[
            ("tickets", "complaints"),
            ("chat", "complaints"),
            ("crm", "summaries"),
            ("archive", "archive"),
        ],
    ),
    (
        "no-call-scenarios.json",
        &["summaries", "archive"],
        &[("crm", "summaries"), ("archive", "archive")],
    ),
    ("no-summary.json", &["archive"], &[("archive", "archive")]),
    (
        "nulls-and-unknown-fields.json",
        &["archive"],
        &[("archive", "archive")],
    ),
    (
        "transcription-only.json",
        &["archive"],
        &[("archive", "archive")],
    ),
];

/// `select` of plain key paths, written independently of the relay's.
fn select(doc: &Value, paths: &[&str]) -> Value {
    let mut out = json!({});
    for path in paths {
        let keys: Vec<&str> = path.split('.').collect();
        let Some(value) = keys.iter().try_fold(doc, |v, k| v.get(k)) else {
            continue;
        };
        let mut node = &mut out;
        for key in &keys[..keys.len() - 1] {
            node = node
                .as_object_mut()
                .unwrap()
                .entry(key.to_string())
                .or_insert_with(|| json!({}));
        }
        node.as_object_mut()
            .unwrap()
            .insert(keys[keys.len() - 1].to_string(), value.clone());
    }
    out
}

fn expected_body(target: &str, route: &str, raw: &str, doc: &Value) -> Value {
    match (target, route) {
        ("tickets", "complaints") => select(
            doc,
            &[
                "call.id",
                "call.from",
                "call.startTime",
                "assist.summary",
                "assist.callScenarios",
            ],
        ),
        ("tickets", "service-requests") => {
            select(doc, &["call.id", "call.from", "assist.callScenarios"])
        }
        ("chat", _) => {
            let content = doc["assist"]["summary"]["content"]
                .as_str()
                .or(doc["assist"]["callHeadline"]["content"].as_str())
                .unwrap_or("no summary");
            json!({"text": format!("Call from {}: {content}", doc["call"]["from"].as_str().unwrap())})
        }
        ("crm", _) => {
            let mut doc = doc.clone();
            doc["assist"]
                .as_object_mut()
                .unwrap()
                .remove("transcription");
            doc
        }
        ("archive", _) => serde_json::from_str(raw).unwrap(),
        other => panic!("unexpected delivery {other:?}"),
    }
}

#[test]
fn explain_json_shows_routes_choices_and_bodies_for_every_fixture() {
    let mut seen = 0;
    for (fixture, matched, chosen) in EXPECTED {
        let path = fixture_path(fixture);
        let raw = std::fs::read_to_string(&path).unwrap();
        let doc: Value = serde_json::from_str(&raw).unwrap();
        let out: Value = serde_json::from_str(&explain(&example(), &path, &["--json"])).unwrap();

        assert_eq!(out["source"], "sipgate", "{fixture}");
        let routes = out["routes"].as_array().unwrap();
        let names: Vec<&str> = routes.iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "complaints",
                "service-requests",
                "urgent",
                "summaries",
                "long-inbound-calls",
                "archive"
            ]
        );
        let got: Vec<&str> = routes
            .iter()
            .filter(|r| r["matched"] == true)
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, *matched, "{fixture}");
        for route in routes {
            // A route's verdict is its condition's; only `archive` has none.
            match route.get("when") {
                Some(when) => {
                    assert_eq!(when["matched"], route["matched"], "{fixture}");
                    assert!(when["detail"].as_str().unwrap().contains(':'));
                }
                None => assert_eq!(route["name"], "archive"),
            }
        }

        let deliveries = out["deliveries"].as_array().unwrap();
        let pairs: Vec<(&str, &str)> = deliveries
            .iter()
            .map(|d| (d["target"].as_str().unwrap(), d["route"].as_str().unwrap()))
            .collect();
        assert_eq!(pairs, *chosen, "{fixture}");
        for d in deliveries {
            let (target, route) = (d["target"].as_str().unwrap(), d["route"].as_str().unwrap());
            let body = d["body"].as_str().unwrap();
            if target == "archive" {
                assert_eq!(d["transform"], "none");
                assert_eq!(body, raw, "{fixture}: the archive gets the original bytes");
            }
            let body: Value = serde_json::from_str(body).unwrap();
            assert_eq!(
                body,
                expected_body(target, route, &raw, &doc),
                "{fixture} -> {target}"
            );
            let headers: Vec<(&str, &str)> = d["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h["name"].as_str().unwrap(), h["value"].as_str().unwrap()))
                .collect();
            assert!(headers.contains(&("content-type", "application/json")));
            assert!(headers.iter().any(|(name, _)| *name == "webhook-id"));
            let configured = match target {
                "crm" => Some("authorization"),
                "tickets" => Some("x-api-key"),
                _ => None,
            };
            if let Some(name) = configured {
                assert!(headers.contains(&(name, "<redacted>")), "{headers:?}");
            }
            assert!(
                d["url"]
                    .as_str()
                    .unwrap()
                    .starts_with("http://127.0.0.1:9101/")
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 18);
}

#[test]
fn explain_text_says_why_each_route_matched_or_not() {
    let out = explain(&example(), &fixture_path("multiple-playbooks.json"), &[]);
    for line in [
        "source: sipgate",
        "  ✓ complaints -> tickets, chat",
        r#"      ✓ topic [complaint, billing complaint, invoice]: matched "Invoice" at assist.summary.topics[0]"#,
        "  ✗ urgent -> chat",
        r#"    ✗ answer "urgency" in ["high", "urgent"]: answered "medium", "low""#,
        "      ✗ field call.duration gt 600000: found 71213 at call.duration",
        "  ✓ archive -> archive (no `when`: every webhook)",
        "deliveries: tickets, chat, crm, archive",
        "=== chat (route complaints, transform jq)",
        "authorization: <redacted>",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing line {line:?} in:\n{out}"
        );
    }

    let raw = std::fs::read_to_string(fixture_path("no-summary.json")).unwrap();
    let out = explain(&example(), &fixture_path("no-summary.json"), &[]);
    assert!(out.contains("    ✗ has assist.summary: absent\n"), "{out}");
    // Untransformed, the body is printed byte for byte.
    assert!(out.contains(&raw), "{out}");
}

/// A config with a token, a header condition and two sources.
const TWO_SOURCES: &str = r#"
sources:
  a: {token: {header: X-Token, value: "${CRM_TOKEN}"}}
  b: {}
targets:
  t: {url: "http://127.0.0.1:9/hook?key=abc", headers: {Authorization: "Bearer ${CRM_TOKEN}"}}
routes:
  - name: reception
    when: {header: {name: X-Agent, equals: reception}}
    to: [t]
"#;

fn two_sources() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    std::fs::write(&path, TWO_SOURCES).unwrap();
    (dir, path)
}

#[test]
fn explain_uses_headers_and_names_the_source() {
    let (_dir, config) = two_sources();
    let payload = fixture_path("minimal.json");
    let out: Value = serde_json::from_str(&explain(
        &config,
        &payload,
        &["--source", "a", "--header", "X-Agent: reception", "--json"],
    ))
    .unwrap();
    assert_eq!(out["routes"][0]["matched"], true);
    assert_eq!(
        out["routes"][0]["when"]["detail"],
        r#"header x-agent equals "reception": matched "reception""#
    );
    assert_eq!(out["deliveries"][0]["url"], "http://127.0.0.1:9/<redacted>");
    let note = out["notes"][0].as_str().unwrap();
    assert!(note.contains("x-token") && note.contains("401"), "{note}");

    let out: Value =
        serde_json::from_str(&explain(&config, &payload, &["--source", "b", "--json"])).unwrap();
    assert_eq!(
        out["routes"][0]["when"]["detail"],
        r#"header x-agent equals "reception": absent"#
    );
    assert_eq!(out["deliveries"], json!([]));
    assert!(out.get("notes").is_none(), "{out}");

    // `{}` is what ingress answers as a probe, before any routing.
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("probe.json");
    std::fs::write(&probe, " { }\n").unwrap();
    let out = explain(&config, &probe, &["--source", "b"]);
    assert!(out.contains("reachability probe"), "{out}");
    assert!(
        out.contains("no target would receive this webhook"),
        "{out}"
    );
}

#[test]
fn explain_rejects_an_unknown_or_missing_source_and_a_bad_payload() {
    let (dir, config) = two_sources();
    let payload = fixture_path("minimal.json");
    let run = |args: &[&str]| {
        let mut all = vec!["explain", "--config", config.to_str().unwrap()];
        all.extend_from_slice(args);
        let output = switchboard(&all);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        text(&output.stderr)
    };
    let payload = payload.to_str().unwrap();
    let stderr = run(&[payload, "--source", "nope"]);
    assert!(
        stderr.contains(r#"unknown source "nope" (sources: a, b)"#),
        "{stderr}"
    );
    let stderr = run(&[payload]);
    assert!(
        stderr.contains("2 sources (a, b); name one with --source"),
        "{stderr}"
    );
    let stderr = run(&[payload, "--source", "a", "--header", "no colon"]);
    assert!(stderr.contains("expected `Name: value`"), "{stderr}");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"call\": ").unwrap();
    let stderr = run(&[broken.to_str().unwrap(), "--source", "a"]);
    assert!(stderr.contains("not JSON"), "{stderr}");
}

fn schema() -> Value {
    let output = switchboard(&["schema"]);
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn schema_accepts_the_example_and_rejects_a_typo() {
    let schema = schema();
    jsonschema::meta::validate(&schema).unwrap();
    assert_eq!(
        schema["$defs"]["TargetConfig"]["properties"]["timeout"]["description"],
        "Time for one attempt, from connect to the last response byte.\nDefault `10s`."
    );
    let validator = jsonschema::validator_for(&schema).unwrap();

    let yaml = std::fs::read_to_string(example()).unwrap();
    let instance: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(errors(&validator, &instance), Vec::<String>::new());

    let typo: Value =
        serde_saphyr::from_str(&yaml.replacen("    headers:", "    heders:", 1)).unwrap();
    let found = errors(&validator, &typo);
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("/targets/crm") && e.contains("heders")),
        "{found:?}"
    );

    let nested: Value =
        serde_saphyr::from_str(&yaml.replacen("cooldown: 30s", "cooldwn: 30s", 1)).unwrap();
    assert!(!validator.is_valid(&nested));
}

#[test]
fn check_suggests_the_key_a_typo_meant() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(example()).unwrap();
    for (from, to, hint) in [
        (
            "    headers:",
            "    heders:",
            "targets.crm.heders: unknown key `heders`",
        ),
        (
            "      select: [call.id, call.from, assist.callScenarios]",
            "      selct: [call.id, call.from, assist.callScenarios]",
            ".transform.selct: unknown key `selct`",
        ),
        (
            "    attempts: 12",
            "    atempts: 12",
            ".retry.atempts: unknown key `atempts`",
        ),
    ] {
        let path = dir.path().join("routes.yaml");
        std::fs::write(&path, yaml.replacen(from, to, 1)).unwrap();
        let output = switchboard(&["check", "--config", path.to_str().unwrap()]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with(&format!("{}: 1 problem:\n", path.display())),
            "{stderr}"
        );
        let line = stderr.lines().nth(1).unwrap();
        let want = from.split(':').next().unwrap().trim();
        assert!(line.contains(hint), "{line}");
        assert!(
            line.contains(&format!("{hint}, did you mean `{want}`?")),
            "{line}"
        );
    }

    // A word that is not near any key gets the list, not a guess.
    let path = dir.path().join("routes.yaml");
    std::fs::write(
        &path,
        yaml.replacen("    headers:", "    colour: red\n    headers:", 1),
    )
    .unwrap();
    let stderr = text(&switchboard(&["check", "--config", path.to_str().unwrap()]).stderr);
    assert!(
        stderr.contains("unknown key `colour` (valid keys here: url, method, headers,"),
        "{stderr}"
    );
    assert!(!stderr.contains("did you mean"), "{stderr}");
}

#[test]
fn every_subcommand_help_shows_an_example() {
    for command in ["serve", "check", "explain", "schema", "dlq", "sink"] {
        let output = switchboard(&["help", command]);
        let stdout = text(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        assert!(stdout.contains("Example"), "{command}:\n{stdout}");
        // A command line other than the usage line.
        assert!(
            stdout
                .lines()
                .any(|l| !l.starts_with("Usage:") && l.contains(&format!("switchboard {command} "))),
            "{command}:\n{stdout}"
        );
    }
    let stdout = text(&switchboard(&["help", "explain"]).stdout);
    assert!(stdout.contains("--header <NAME: VALUE>"), "{stdout}");
    assert!(
        stdout.contains("switchboard explain --config routes.yaml payload.json"),
        "{stdout}"
    );

    let output = switchboard(&["--version"]);
    assert!(output.status.success());
    assert_eq!(
        text(&output.stdout).trim(),
        format!("switchboard {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn explain_agrees_with_the_library_decision() {
    // The binary's verdicts are `Routes::select`'s: same config, same payload.
    use switchboard::config::interpolate::Env;
    let runtime =
        switchboard::relay::load(&example(), &Env::from_iter([("CRM_TOKEN", SECRET)]), None)
            .unwrap();
    let raw = bytes::Bytes::from(common::fixture("multiple-playbooks.json"));
    let explanation =
        switchboard::cli::explain::explain(&runtime, None, &http::HeaderMap::new(), &raw).unwrap();
    let doc = common::fixture_json("multiple-playbooks.json");
    let source = &runtime.sources["sipgate"];
    let headers = http::HeaderMap::new();
    let decision = runtime.routes.select(&switchboard::rules::Event {
        source: &source.name,
        fields: &source.fields,
        headers: &headers,
        body: &doc,
    });
    let matched: Vec<&str> = explanation
        .routes
        .iter()
        .filter(|r| r.matched)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(matched, decision.matched);
}

/// A `switchboard sink` on a free port: the child, its address, and its
/// standard output line by line.
struct Sink {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Sink {
    fn start(args: &[&str]) -> Sink {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["sink", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        // "sink listening on http://127.0.0.1:PORT (status ...)"
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .parse()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Sink { child, addr, lines }
    }

    /// POSTs `body` to `path` and returns the response's status line.
    fn post(&self, path: &str, body: &[u8]) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: sink\r\ncontent-type: application/json\r\n\
             authorization: Bearer {SECRET}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response.lines().next().unwrap_or_default().to_owned()
    }

    /// The lines printed for one request (up to the blank line after it).
    fn printed(&self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("the sink printed only {lines:?}"));
            if line.is_empty() {
                return lines;
            }
            lines.push(line);
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sink_prints_the_whole_body_and_answers_the_scripted_status() {
    let raw = std::fs::read(fixture_path("large-transcription.json")).unwrap();
    let doc: Value = serde_json::from_slice(&raw).unwrap();
    assert!(raw.len() > 2000, "a large body: {}", raw.len());

    let sink = Sink::start(&[]);
    assert_eq!(sink.post("/crm", &raw), "HTTP/1.1 200 OK");
    let printed = sink.printed();
    assert_eq!(printed[0], "POST /crm -> 200");
    assert!(
        printed.contains(&"content-type: application/json".to_owned()),
        "{printed:?}"
    );
    assert!(
        printed.contains(&"authorization: <redacted>".to_owned()),
        "{printed:?}"
    );
    assert!(!printed.iter().any(|l| l.contains(SECRET)), "{printed:?}");
    // The body whole, pretty-printed, after the headers.
    let start = printed.iter().position(|l| l == "{").unwrap();
    let body = printed[start..].join("\n");
    assert_eq!(body, serde_json::to_string_pretty(&doc).unwrap());

    let failing = Sink::start(&["--status", "503"]);
    assert_eq!(
        failing.post("/tickets", b"not json"),
        "HTTP/1.1 503 Service Unavailable"
    );
    let printed = failing.printed();
    assert_eq!(printed[0], "POST /tickets -> 503");
    assert_eq!(printed.last().unwrap(), "not json");
}
