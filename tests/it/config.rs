//! Config validation as an operator sees it: the example config works as
//! shipped, every mistake is reported with its place (and line/column where
//! the parser knows it), all at once, and `switchboard check` prints them.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::fixture_json;
use http::HeaderMap;
use switchboard::config::interpolate::Env;
use switchboard::config::problems::Problem;
use switchboard::config::{Config, ParseError};
use switchboard::rules::Event;
use switchboard::runtime::Runtime;

/// A small valid config that the rejection tests break one piece at a time.
const BASE: &str = r#"
sources:
  sipgate:
    allow: [127.0.0.1]
targets:
  crm:
    url: http://127.0.0.1:9101/crm
  archive:
    url: http://127.0.0.1:9101/archive
routes:
  - name: summaries
    when: { has: assist.summary }
    to: [crm]
  - to: [archive]
"#;

// ---------------------------------------------------------------- helpers

/// `BASE` with its only occurrence of `find` replaced.
fn edit(find: &str, replace: &str) -> String {
    assert_eq!(
        BASE.matches(find).count(),
        1,
        "`{find}` must occur once in BASE"
    );
    BASE.replacen(find, replace, 1)
}

/// `BASE` with `lines` (already indented by 4) added to target `crm`.
fn crm_with(lines: &str) -> String {
    edit("/crm\n", &format!("/crm\n{lines}"))
}

/// `BASE` with the first route's `when` replaced by `condition`.
fn when(condition: &str) -> String {
    edit("{ has: assist.summary }", condition)
}

/// `BASE` with `server:` settings (already indented by 2) in front.
fn server_with(lines: &str) -> String {
    format!("server:\n{lines}{BASE}")
}

/// 1-based line and column of the only occurrence of `needle` in `yaml`.
fn pos(yaml: &str, needle: &str) -> Option<(u64, u64)> {
    assert_eq!(
        yaml.matches(needle).count(),
        1,
        "`{needle}` must occur once in:\n{yaml}"
    );
    let at = yaml.find(needle).unwrap();
    let line = yaml[..at].matches('\n').count() + 1;
    let column = at - yaml[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    Some((line as u64, column as u64))
}

fn compile(yaml: &str, env: &Env) -> Result<Runtime, Vec<Problem>> {
    let config = Config::parse(yaml).unwrap_or_else(|e| panic!("does not parse: {e}\n{yaml}"));
    Runtime::compile(config, env, None).map_err(|p| p.iter().cloned().collect())
}

/// Every problem of a config that must parse but not compile.
fn problems_with(yaml: &str, env: &Env) -> Vec<Problem> {
    match compile(yaml, env) {
        Ok(_) => panic!("compiled, but should have been rejected:\n{yaml}"),
        Err(problems) => problems,
    }
}

fn problems(yaml: &str) -> Vec<Problem> {
    problems_with(yaml, &Env::default())
}

/// The one problem of a config with exactly one mistake.
fn only_problem(yaml: &str) -> Problem {
    let mut all = problems(yaml);
    assert_eq!(all.len(), 1, "expected exactly one problem, got {all:#?}");
    all.remove(0)
}

#[track_caller]
fn assert_problem(
    problem: &Problem,
    place: &str,
    position: Option<(u64, u64)>,
    fragments: &[&str],
) {
    assert_eq!(problem.place, place, "place of: {problem}");
    assert_eq!(problem.position, position, "position of: {problem}");
    for fragment in fragments {
        assert!(
            problem.message.contains(fragment),
            "message lacks `{fragment}`: {problem}"
        );
    }
}

/// The parser's one problem for a config with one mistake in its shape.
fn parse_error(yaml: &str) -> Problem {
    match Config::parse(yaml) {
        Ok(_) => panic!("parsed, but should have been rejected:\n{yaml}"),
        Err(ParseError::Invalid(problems)) => {
            let mut all: Vec<Problem> = problems.into_iter().collect();
            assert_eq!(all.len(), 1, "expected exactly one problem, got {all:#?}");
            all.remove(0)
        }
        Err(other) => panic!("not a YAML error: {other}"),
    }
}

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.example.yaml")
}

fn example_yaml() -> String {
    std::fs::read_to_string(example_path()).unwrap()
}

/// Targets chosen for a fixture posted to `source`, with the route that chose each.
fn chosen(runtime: &Runtime, source: &str, fixture: &str) -> (Vec<String>, Vec<(String, String)>) {
    let source = &runtime.sources[source];
    let body = fixture_json(fixture);
    let headers = HeaderMap::new();
    let event = Event {
        source: &source.name,
        fields: &source.fields,
        headers: &headers,
        body: &body,
    };
    let decision = runtime.routes.select(&event);
    (
        decision.matched.iter().map(|r| (*r).to_owned()).collect(),
        decision
            .choices
            .iter()
            .map(|c| (c.target.to_owned(), c.route.to_owned()))
            .collect(),
    )
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// `switchboard check --config <yaml in a temp file>` with an empty environment.
fn check(yaml: &str) -> (Output, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    std::fs::write(&path, yaml).unwrap();
    let output = run_check(&path);
    (output, path, dir)
}

fn run_check(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check", "--config"])
        .arg(path)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------- valid configs

#[test]
fn base_config_is_valid() {
    let runtime = compile(BASE, &Env::default()).unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(runtime.sources.len(), 1);
    assert_eq!(runtime.targets.len(), 2);
    assert_eq!(runtime.routes.0.len(), 2);
}

#[test]
fn example_compiles_without_any_environment_variable() {
    let config = Config::load(&example_path()).unwrap_or_else(|e| panic!("{e}"));
    let runtime = Runtime::compile(config, &Env::default(), None).unwrap_or_else(|p| panic!("{p}"));

    assert_eq!(runtime.sources.len(), 1);
    assert!(runtime.sources.contains_key("sipgate"));
    let names: Vec<&str> = runtime.targets.keys().map(String::as_str).collect();
    assert_eq!(names, ["crm", "tickets", "chat", "archive"]);
    let routes: Vec<&str> = runtime.routes.0.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        routes,
        [
            "complaints",
            "service-requests",
            "urgent",
            "summaries",
            "long-inbound-calls",
            "archive"
        ]
    );
    // Every `${NAME:-default}` fell back to the local sink.
    for (name, target) in &runtime.targets {
        assert_eq!(target.url.as_str(), format!("http://127.0.0.1:9101/{name}"));
    }
    assert_eq!(
        runtime.targets["crm"].headers["authorization"],
        "Bearer dev-token"
    );
    assert_eq!(runtime.targets["crm"].concurrency_max, 4);
    let limit = runtime.targets["crm"].limit.as_ref().unwrap();
    assert_eq!((limit.rate.count.get(), limit.burst), (10, 10));
    assert_eq!(runtime.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(runtime.server.max_body, 1 << 20);
}

#[test]
fn example_takes_urls_and_secrets_from_the_environment() {
    let env: Env = [
        ("CRM_URL", "https://crm.example.com/api/calls"),
        ("CRM_TOKEN", "t0ps3cret"),
    ]
    .into_iter()
    .collect();
    let runtime = compile(&example_yaml(), &env).unwrap_or_else(|p| panic!("{p:#?}"));
    let crm = &runtime.targets["crm"];
    assert_eq!(crm.url.as_str(), "https://crm.example.com/api/calls");
    assert_eq!(crm.headers["authorization"], "Bearer t0ps3cret");
    assert_eq!(
        runtime.targets["tickets"].url.as_str(),
        "http://127.0.0.1:9101/tickets"
    );
}

#[test]
fn example_routes_a_rescheduling_call_to_tickets_crm_and_archive() {
    let runtime = compile(&example_yaml(), &Env::default()).unwrap_or_else(|p| panic!("{p:#?}"));
    let (matched, choices) = chosen(&runtime, "sipgate", "full.json");
    assert_eq!(matched, ["service-requests", "summaries", "archive"]);
    assert_eq!(
        choices,
        pairs(&[
            ("tickets", "service-requests"),
            ("crm", "summaries"),
            ("archive", "archive")
        ])
    );
}

#[test]
fn example_routes_a_billing_complaint_to_tickets_and_chat_first() {
    let runtime = compile(&example_yaml(), &Env::default()).unwrap_or_else(|p| panic!("{p:#?}"));
    let (matched, choices) = chosen(&runtime, "sipgate", "multiple-playbooks.json");
    assert_eq!(
        matched,
        ["complaints", "service-requests", "summaries", "archive"]
    );
    // tickets is named by two matching routes; the first one wins.
    assert_eq!(
        choices,
        pairs(&[
            ("tickets", "complaints"),
            ("chat", "complaints"),
            ("crm", "summaries"),
            ("archive", "archive"),
        ])
    );
}

#[test]
fn example_routes_a_long_inbound_call_and_a_bare_one() {
    let runtime = compile(&example_yaml(), &Env::default()).unwrap_or_else(|p| panic!("{p:#?}"));
    let (matched, choices) = chosen(&runtime, "sipgate", "large-transcription.json");
    assert_eq!(matched, ["summaries", "long-inbound-calls", "archive"]);
    assert_eq!(
        choices,
        pairs(&[("crm", "summaries"), ("archive", "archive")])
    );

    let (matched, choices) = chosen(&runtime, "sipgate", "minimal.json");
    assert_eq!(matched, ["archive"]);
    assert_eq!(choices, pairs(&[("archive", "archive")]));
}

// ---------------------------------------------------------------- parse errors

#[test]
fn rejects_unknown_key_with_its_line_and_the_valid_keys() {
    let yaml = crm_with("    heders: { X-Api-Key: abc }\n");
    let problem = parse_error(&yaml);
    assert_problem(
        &problem,
        "targets.crm.heders",
        pos(&yaml, "heders"),
        &["unknown key `heders`", "did you mean `headers`?"],
    );
    assert!(
        problem.message.contains("url, method, headers, sign"),
        "should list the valid keys: {problem}"
    );
}

#[test]
fn rejects_duplicate_key() {
    let yaml = crm_with("    url: http://127.0.0.1:9101/crm2\n");
    let problem = parse_error(&yaml);
    let (line, column) = pos(&yaml, "url: http://127.0.0.1:9101/crm\n").unwrap();
    assert_problem(
        &problem,
        "targets.crm.url",
        pos(&yaml, "url: http://127.0.0.1:9101/crm2"),
        &[
            "duplicate key `url`",
            &format!("first set at line {line} column {column}"),
        ],
    );
    assert!(!problem.message.contains("DuplicateKeyPolicy"), "{problem}");
}

#[test]
fn rejects_duplicate_target_name() {
    let yaml = edit("  archive:\n", "  crm:\n");
    let problem = parse_error(&yaml);
    assert_problem(
        &problem,
        "targets.crm",
        pos(&yaml, "  crm:\n    url: http://127.0.0.1:9101/archive").map(|(l, c)| (l, c + 2)),
        &["duplicate key `crm`"],
    );
}

#[test]
fn rejects_yaml_syntax_error() {
    let yaml = edit(
        "url: http://127.0.0.1:9101/crm",
        "url: \"http://127.0.0.1:9101/crm",
    );
    let problem = parse_error(&yaml);
    assert_eq!(problem.position, pos(&yaml, "\"http"), "{problem}");
    assert!(problem.message.contains("unclosed quote"), "{problem}");
}

// ---------------------------------------------------------------- routes

#[test]
fn rejects_route_naming_unknown_target() {
    let yaml = format!("{BASE}  - to: [billing]\n");
    let problem = only_problem(&yaml);
    let (line, column) = pos(&yaml, "billing").unwrap();
    assert_problem(
        &problem,
        "routes[2].to[0]",
        Some((line, column)),
        &["unknown target \"billing\"", "crm, archive"],
    );
    let shown = problem.to_string();
    assert!(
        shown.starts_with("routes[2].to[0]: unknown target \"billing\""),
        "{shown}"
    );
    assert!(
        shown.ends_with(&format!("(line {line} column {column})")),
        "{shown}"
    );
}

#[test]
fn unknown_target_message_says_when_no_target_is_defined() {
    let yaml = edit(
        "targets:\n  crm:\n    url: http://127.0.0.1:9101/crm\n  archive:\n    url: http://127.0.0.1:9101/archive\n",
        "",
    );
    let all = problems(&yaml);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_problem(
        &all[0],
        "routes[0].to[0]",
        pos(&yaml, "crm"),
        &["unknown target \"crm\"", "no target"],
    );
    assert!(!all[0].message.contains("(targets: )"), "{}", all[0]);
}

#[test]
fn rejects_route_without_targets() {
    let yaml = edit("to: [archive]", "to: []");
    assert_problem(
        &only_problem(&yaml),
        "routes[1].to",
        None,
        &["names no target"],
    );
}

// ---------------------------------------------------------------- targets

#[test]
fn rejects_malformed_url() {
    let yaml = edit("http://127.0.0.1:9101/crm", "not a url");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.url",
        pos(&yaml, "not a url"),
        &["not a valid URL", "e.g. https://"],
    );
}

#[test]
fn rejects_url_with_non_http_scheme() {
    let yaml = edit("http://127.0.0.1:9101/crm", "ftp://127.0.0.1/crm");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.url",
        pos(&yaml, "ftp://"),
        &["scheme `ftp` is not http or https"],
    );
}

#[test]
fn rejects_url_naming_a_missing_variable() {
    let yaml = edit("http://127.0.0.1:9101/crm", "${CRM_URL}");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.url",
        pos(&yaml, "${CRM_URL}"),
        &["CRM_URL is not set", "${CRM_URL:-default}"],
    );
}

#[test]
fn rejects_rate_with_unknown_period() {
    let yaml = crm_with("    rate: 10/fortnight\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.rate",
        pos(&yaml, "10/fortnight"),
        &["unknown period `fortnight`", "10/s"],
    );
}

#[test]
fn rejects_rate_of_zero() {
    let yaml = crm_with("    rate: 0/s\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.rate",
        pos(&yaml, "0/s"),
        &["`0/s`", "above 0"],
    );
}

#[test]
fn rejects_rate_too_high_at_the_rate() {
    let yaml = crm_with("    rate: 2000000000/s\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.rate",
        pos(&yaml, "2000000000/s"),
        &["too high"],
    );
}

#[test]
fn rejects_burst_without_rate() {
    let problem = only_problem(&crm_with("    burst: 5\n"));
    assert_problem(
        &problem,
        "targets.crm.burst",
        None,
        &["`burst` needs a `rate`"],
    );
}

#[test]
fn rejects_burst_of_zero() {
    let problem = only_problem(&crm_with("    rate: 10/s\n    burst: 0\n"));
    assert_problem(&problem, "targets.crm.burst", None, &["at least 1"]);
}

#[test]
fn rejects_a_sources_burst_of_zero_like_a_targets() {
    let yaml = edit(
        "allow: [127.0.0.1]\n",
        "allow: [127.0.0.1]\n    rate: 10/s\n    burst: 0\n",
    );
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "sources.sipgate.burst",
        None,
        &["must be at least 1"],
    );
}

#[test]
fn rejects_zero_concurrency() {
    let problem = only_problem(&crm_with("    concurrency: 0\n"));
    assert_problem(&problem, "targets.crm.concurrency", None, &["at least 1"]);
}

#[test]
fn rejects_malformed_duration() {
    let yaml = crm_with("    timeout: 10 parsecs\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.timeout",
        pos(&yaml, "10 parsecs"),
        &["`10 parsecs`", "no known unit", "10s"],
    );
}

#[test]
fn rejects_invalid_method() {
    let yaml = crm_with("    method: \"GE T\"\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.method",
        pos(&yaml, "\"GE T\""),
        &["`GE T` is not an HTTP method"],
    );
}

#[test]
fn rejects_invalid_header_name() {
    let yaml = crm_with("    headers:\n      \"Bad Header\": some-value\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.headers.Bad Header",
        pos(&yaml, "some-value"),
        &["`Bad Header` is not a valid header name"],
    );
}

#[test]
fn rejects_missing_variable_in_header_without_revealing_other_secrets() {
    let yaml = crm_with("    headers:\n      X-Api-Key: \"${API_KEY}\"\n      Authorization: \"Bearer ${CRM_TOKEN}\"\n")
        .replace("allow: [127.0.0.1]", "token: { header: X-Token, value: \"${SIPGATE_TOKEN}\" }");
    let env: Env = [
        ("API_KEY", "k3y-hunter2"),
        ("SIPGATE_TOKEN", "s1pgate-hunter2"),
        ("UNRELATED", "unrelated-hunter2"),
    ]
    .into_iter()
    .collect();
    let all = problems_with(&yaml, &env);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_problem(
        &all[0],
        "targets.crm.headers.Authorization",
        pos(&yaml, "\"Bearer ${CRM_TOKEN}\""),
        &["CRM_TOKEN is not set"],
    );
    let everything = format!("{all:?} {}", all[0]);
    assert!(
        !everything.contains("hunter2"),
        "a secret leaked: {everything}"
    );
}

#[test]
fn rejects_header_value_with_a_newline_without_echoing_it() {
    let yaml = crm_with("    headers:\n      Authorization: \"Bearer ${CRM_TOKEN}\"\n");
    let env: Env = [("CRM_TOKEN", "line1-hunter2\nline2")]
        .into_iter()
        .collect();
    let all = problems_with(&yaml, &env);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_problem(
        &all[0],
        "targets.crm.headers.Authorization",
        pos(&yaml, "\"Bearer"),
        &["characters a header cannot carry"],
    );
    assert!(
        !format!("{all:?}").contains("hunter2"),
        "the value leaked: {all:?}"
    );
}

#[test]
fn rejects_jq_transform_that_does_not_compile() {
    let yaml = crm_with("    transform: { jq: 'nosuchfn(1)' }\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.transform.jq",
        pos(&yaml, "'nosuchfn(1)'"),
        &["jq program does not compile", "nosuchfn"],
    );
}

#[test]
fn rejects_malformed_path_in_select() {
    let yaml = crm_with("    transform: { select: [call.id, \"call..from\"] }\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "targets.crm.transform.select[1]",
        pos(&yaml, "\"call..from\""),
        &["invalid path `call..from`", "empty key"],
    );
}

#[test]
fn rejects_malformed_path_in_route_omit() {
    let yaml = edit(
        "to: [archive]",
        "to: [archive]\n    transform: { omit: [\"call[x]\"] }",
    );
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "routes[1].transform.omit[0]",
        pos(&yaml, "\"call[x]\""),
        &["invalid path `call[x]`", "index"],
    );
}

// ---------------------------------------------------------------- conditions

#[test]
fn rejects_invalid_regex_in_matches() {
    let yaml = when("{ field: call.from, matches: \"(unclosed\" }");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "routes[0].when.matches",
        pos(&yaml, "\"(unclosed\""),
        &["invalid regex", "unclosed"],
    );
}

#[test]
fn regex_problem_fits_on_one_line() {
    let problem = only_problem(&when("{ field: call.from, matches: \"(unclosed\" }"));
    assert!(!problem.message.contains('\n'), "{problem}");
    assert!(problem.message.contains("unclosed group"), "{problem}");
    assert!(
        problem.message.contains("`(unclosed`"),
        "names the pattern: {problem}"
    );
}

#[test]
fn rejects_jq_condition_that_does_not_parse() {
    let yaml = when("{ jq: '.a +' }");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "routes[0].when.jq",
        pos(&yaml, "'.a +'"),
        &["jq program does not parse"],
    );
}

#[test]
fn jq_errors_read_like_sentences() {
    let parse = only_problem(&when("{ jq: '.a +' }"));
    assert!(parse.message.contains("expected"), "{parse}");
    let undefined = only_problem(&crm_with("    transform: { jq: 'nosuchfn(1)' }\n"));
    assert!(undefined.message.contains("undefined"), "{undefined}");
    assert!(undefined.message.contains("nosuchfn"), "{undefined}");
    for problem in [parse, undefined] {
        assert!(!problem.message.contains("File {"), "{problem}");
        assert!(!problem.message.contains("path: ()"), "{problem}");
    }
}

#[test]
fn rejects_malformed_path_in_has() {
    let yaml = when("{ has: a..b }");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "routes[0].when.has",
        pos(&yaml, "a..b"),
        &[
            "invalid path `a..b`",
            "empty key",
            "assist.summary.topics[*]",
        ],
    );
}

#[test]
fn rejects_field_without_operator() {
    let yaml = when("{ field: call.direction }");
    let problem = &problems(&yaml)[0];
    assert_problem(
        problem,
        "routes[0].when.field",
        pos(&yaml, "call.direction"),
        &[
            "exactly one of equals, in, contains, matches, gt, lt",
            "found 0",
        ],
    );
}

#[test]
fn rejects_field_with_two_operators() {
    let yaml = when("{ field: call.direction, equals: IN, contains: I }");
    let problem = &problems(&yaml)[0];
    assert_problem(
        problem,
        "routes[0].when.field",
        pos(&yaml, "call.direction"),
        &["exactly one of", "found 2"],
    );
}

#[test]
fn rejects_operator_without_field() {
    let yaml = when("{ equals: IN }");
    let all = problems(&yaml);
    assert_problem(
        &all[0],
        "routes[0].when",
        None,
        &["compare a `field`", "add `field: some.path`"],
    );
}

#[test]
fn misused_field_or_operator_is_one_problem_not_also_an_empty_condition() {
    for condition in [
        "{ equals: IN }",
        "{ field: call.direction }",
        "{ field: call.direction, equals: IN, contains: I }",
    ] {
        let all = problems(&when(condition));
        assert_eq!(all.len(), 1, "{condition}: {all:#?}");
    }
}

#[test]
fn rejects_empty_condition() {
    let problem = only_problem(&when("{}"));
    assert_problem(
        &problem,
        "routes[0].when",
        None,
        &["empty condition", "topic, playbook"],
    );
    let nested = only_problem(&when("{ any: [{ has: call.id }, {}] }"));
    assert_problem(&nested, "routes[0].when.any[1]", None, &["empty condition"]);
}

#[test]
fn rejects_answer_condition_without_a_test() {
    let yaml = when("{ answer: { question: Urgency } }");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "routes[0].when.answer",
        pos(&yaml, "{ question"),
        &["needs exactly one of equals, in, matches"],
    );
}

#[test]
fn rejects_answer_condition_with_two_tests() {
    let yaml = when("{ answer: { question: Urgency, equals: high, matches: \"h.*\" } }");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "routes[0].when.answer",
        pos(&yaml, "{ question"),
        &["needs exactly one of equals, in, matches"],
    );
}

#[test]
fn rejects_header_condition_without_a_test() {
    let yaml = when("{ header: { name: X-Env } }");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "routes[0].when.header",
        pos(&yaml, "{ name"),
        &["needs exactly one of equals", "matches"],
    );
}

#[test]
fn rejects_header_condition_with_two_tests() {
    let yaml = when("{ header: { name: X-Env, equals: prod, matches: \"p.*\" } }");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "routes[0].when.header",
        pos(&yaml, "{ name"),
        &["needs exactly one of equals", "matches"],
    );
}

#[test]
fn header_condition_message_offers_only_what_header_accepts() {
    let problem = only_problem(&when("{ header: { name: X-Env } }"));
    assert!(
        problem.message.contains("equals, matches")
            || problem.message.contains("equals or matches"),
        "{problem}"
    );
    assert!(!problem.message.contains(" in,"), "{problem}");
}

#[test]
fn rejects_invalid_header_name_in_condition() {
    let yaml = when("{ header: { name: \"X Env\", equals: prod } }");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "routes[0].when.header.name",
        pos(&yaml, "{ name"),
        &["`X Env` is not a valid header name"],
    );
}

// ---------------------------------------------------------------- sources and server

#[test]
fn rejects_bad_address_in_allow() {
    let yaml = edit("allow: [127.0.0.1]", "allow: [127.0.0.1, 300.1.1.1]");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "sources.sipgate.allow[1]",
        pos(&yaml, "300.1.1.1"),
        &["`300.1.1.1` is not an IP address or CIDR", "10.0.0.0/8"],
    );
}

#[test]
fn rejects_bad_cidr_in_trusted_proxies() {
    let yaml = server_with("  trusted_proxies: [10.0.0.0/8, 10.0.0.0/33]\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "server.trusted_proxies[1]",
        pos(&yaml, "10.0.0.0/33"),
        &["`10.0.0.0/33` is not an IP address or CIDR"],
    );
}

#[test]
fn rejects_source_name_that_is_not_a_url_segment() {
    let yaml = edit("  sipgate:\n", "  sip/gate:\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "sources.sip/gate",
        None,
        &["letters, digits, `-` and `_`", "URL segment"],
    );
}

#[test]
fn rejects_config_without_sources() {
    let yaml = edit("sources:\n  sipgate:\n    allow: [127.0.0.1]\n", "");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "sources",
        None,
        &["no source is defined", "sources: {"],
    );
    let empty = only_problem(&edit(
        "sources:\n  sipgate:\n    allow: [127.0.0.1]\n",
        "sources: {}\n",
    ));
    assert_eq!(empty.place, "sources");
}

#[test]
fn reports_missing_sources_alongside_other_problems() {
    let yaml = server_with("  max_body: 1TB\n")
        .replace("sources:\n  sipgate:\n    allow: [127.0.0.1]\n", "");
    let places: Vec<String> = problems(&yaml).into_iter().map(|p| p.place).collect();
    assert_eq!(places, ["server.max_body", "sources"]);
}

#[test]
fn rejects_empty_token() {
    let yaml = edit(
        "allow: [127.0.0.1]",
        "token: { header: X-Token, value: \"${SIPGATE_TOKEN:-}\" }",
    );
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "sources.sipgate.token.value",
        pos(&yaml, "\"${SIPGATE_TOKEN"),
        &["the token is empty"],
    );
}

#[test]
fn rejects_malformed_size() {
    let yaml = server_with("  max_body: 1TB\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "server.max_body",
        pos(&yaml, "1TB"),
        &["`1TB` has no known unit", "1MiB"],
    );
}

#[test]
fn rejects_listen_address_without_port() {
    let yaml = server_with("  listen: localhost\n");
    let problem = only_problem(&yaml);
    assert_problem(
        &problem,
        "server.listen",
        pos(&yaml, "localhost"),
        &["`localhost` is not an address with a port", "0.0.0.0:8080"],
    );
}

// ---------------------------------------------------------------- all at once

/// Seven independent mistakes, in the order `compile` finds them.
const MANY_MISTAKES: &str = r#"
server:
  listen: localhost
  max_body: 1TB
sources:
  sipgate:
    allow: [300.1.1.1]
targets:
  crm:
    url: ftp://127.0.0.1/crm
    rate: 10/fortnight
routes:
  - when: { has: call..from }
    to: [crm]
  - to: [billing]
"#;

const MANY_PLACES: [(&str, &str); 7] = [
    ("server.listen", "localhost"),
    ("server.max_body", "1TB"),
    ("sources.sipgate.allow[0]", "300.1.1.1"),
    ("targets.crm.url", "ftp://"),
    ("targets.crm.rate", "10/fortnight"),
    ("routes[0].when.has", "call..from"),
    ("routes[1].to[0]", "billing"),
];

#[test]
fn reports_every_problem_at_once_each_with_its_place() {
    let all = problems(MANY_MISTAKES);
    let found: Vec<(&str, Option<(u64, u64)>)> =
        all.iter().map(|p| (p.place.as_str(), p.position)).collect();
    let expected: Vec<(&str, Option<(u64, u64)>)> = MANY_PLACES
        .iter()
        .map(|(place, needle)| (*place, pos(MANY_MISTAKES, needle)))
        .collect();
    assert_eq!(found, expected, "{all:#?}");
}

// ---------------------------------------------------------------- `switchboard check`

#[test]
fn check_accepts_the_example_with_an_empty_environment() {
    let (output, path, _dir) = check(&example_yaml());
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout.contains(&format!("{}: ok", path.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 sources, 4 targets, 6 routes"),
        "{stdout}"
    );
}

#[test]
fn check_prints_every_problem_with_its_place_and_exits_1() {
    let (output, path, _dir) = check(MANY_MISTAKES);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(!text(&output.stdout).contains("ok"), "{output:?}");
    assert!(
        stderr.contains(&format!("{}: 7 problems:", path.display())),
        "{stderr}"
    );
    // `FILE:LINE:COLUMN: KEY: message`, as editors and CI read it.
    for (place, needle) in MANY_PLACES {
        let (line, column) = pos(MANY_MISTAKES, needle).unwrap();
        let start = format!("  {}:{line}:{column}: {place}: ", path.display());
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with(&start)).count(),
            1,
            "{start} not printed once:\n{stderr}"
        );
    }
    assert!(stderr.contains("unknown target \"billing\""), "{stderr}");
}

#[test]
fn check_prints_a_parse_error_with_its_line_and_exits_1() {
    let yaml = crm_with("    heders: { X-Api-Key: abc }\n");
    let (output, path, _dir) = check(&yaml);
    let stderr = text(&output.stderr);
    let (line, column) = pos(&yaml, "heders").unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr.starts_with(&format!("{}: ", path.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "  {}:{line}:{column}: targets.crm.heders: unknown key `heders`, did you mean `headers`?",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn check_reports_a_missing_file_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.yaml");
    let output = run_check(&path);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(text(&output.stderr).contains("cannot read"), "{output:?}");
}
