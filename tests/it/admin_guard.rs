//! The admin API cannot be driven by another web page (DNS rebinding, a
//! cross-site form or `fetch`), and answers every mistake with JSON and the
//! status that fits. Requests are written by hand over TCP, so that `Host`,
//! `Origin` and `Content-Type` are exactly what a browser would send.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer: status, headers (names lower case) and the body as JSON (as
/// a JSON string if it is not JSON).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    json: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn error(&self) -> &str {
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no JSON error in {}", self.json))
    }
}

/// Sends `method path` with exactly `headers` (plus `Host` unless given)
/// and `body`, and reads the answer to the end.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let raw = tokio::time::timeout(WAIT, async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        raw
    })
    .await
    .expect("no answer in time");
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let is_json = headers
        .iter()
        .any(|(n, v)| n == "content-type" && v == "application/json");
    let json = if is_json {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
    } else {
        Value::String(body.to_owned())
    };
    Answer {
        status: status.parse().unwrap(),
        headers,
        json,
    }
}

fn config(target: &str, server_extra: &str) -> String {
    format!(
        "server:\n  window: 4\n{server_extra}sources: {{s: {{}}}}\ntargets:\n  t: {{url: \"{target}\", retry: {{attempts: 1}}}}\nroutes:\n  - to: [t]\n"
    )
}

/// Sends two webhooks that die at the target (400) and waits for both dead
/// letters.
async fn two_dead_letters(relay: &TestRelay, target: &FakeTarget) {
    target.respond(400);
    relay.accept("s", fixture("minimal.json")).await;
    relay.accept("s", fixture("minimal.json")).await;
    target.wait_for(2, WAIT).await;
    tokio::time::timeout(WAIT, async {
        while dead_letters(relay).await < 2 {
            // The outcome is written just after the attempt: look again.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("two dead letters never showed");
}

async fn dead_letters(relay: &TestRelay) -> usize {
    let answer = send(admin(relay), "GET", "/api/dead-letters", &[], "").await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json["dead_letters"].as_array().unwrap().len()
}

fn admin(relay: &TestRelay) -> SocketAddr {
    relay.relay.admin_addr().unwrap()
}

#[tokio::test]
async fn a_cross_site_form_post_cannot_reload() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "")).await;
    let addr = admin(&relay);
    // What a hidden form on another site sends.
    let form = send(
        addr,
        "POST",
        "/api/reload",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", "http://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        "x=1",
    )
    .await;
    assert_eq!(form.status, 403, "{}", form.json);
    assert!(form.error().contains("cross-site"), "{}", form.json);
    // A browser that sends only one of the two headers is refused too.
    for header in [
        ("Origin", "http://evil.example"),
        ("Origin", "null"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
    ] {
        let answer = send(
            addr,
            "POST",
            "/api/reload",
            &[("Content-Type", "application/json"), header],
            "{}",
        )
        .await;
        assert_eq!(answer.status, 403, "{header:?}: {}", answer.json);
    }
    let status = send(addr, "GET", "/api/status", &[], "").await;
    assert_eq!(
        status.json["last_reload"],
        Value::Null,
        "a refused request reloaded"
    );

    // The listener's own page (the coming console) may.
    let origin = format!("http://{addr}");
    let own = send(
        addr,
        "POST",
        "/api/reload",
        &[
            ("Content-Type", "application/json"),
            ("Origin", &origin),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        "",
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.json);
    assert_eq!(own.json["ok"], true);
}

#[tokio::test]
async fn a_post_without_json_content_type_deletes_nothing() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "")).await;
    two_dead_letters(&relay, &target).await;
    let addr = admin(&relay);
    // `fetch(url, {method: "POST", body: "{}"})` sends text/plain, which
    // needs no CORS preflight.
    for headers in [&[][..], &[("Content-Type", "text/plain;charset=UTF-8")][..]] {
        let answer = send(addr, "POST", "/api/dead-letters/purge", headers, "{}").await;
        assert_eq!(answer.status, 415, "{}", answer.json);
        assert!(
            answer.error().contains("application/json"),
            "{}",
            answer.json
        );
    }
    assert_eq!(dead_letters(&relay).await, 2);
}

#[tokio::test]
async fn purge_and_replay_need_a_selector_or_all() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "")).await;
    two_dead_letters(&relay, &target).await;
    let addr = admin(&relay);
    let json = [("Content-Type", "application/json")];
    for path in ["/api/dead-letters/purge", "/api/dead-letters/replay"] {
        let answer = send(addr, "POST", path, &json, "{}").await;
        assert_eq!(answer.status, 400, "{}", answer.json);
        assert!(
            answer.error().contains("no dead letters selected")
                && answer.error().contains(r#"{"all": true}"#),
            "{}",
            answer.json
        );
        let answer = send(addr, "POST", path, &json, r#"{"all": true, "target": "t"}"#).await;
        assert_eq!(answer.status, 400, "{}", answer.json);
    }
    assert_eq!(dead_letters(&relay).await, 2);

    let answer = send(
        addr,
        "POST",
        "/api/dead-letters/purge",
        &json,
        r#"{"target": "nope"}"#,
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.json);
    assert!(
        answer.error().contains("unknown target \"nope\"") && answer.error().contains("t"),
        "{}",
        answer.json
    );
    let answer = send(
        addr,
        "POST",
        "/api/dead-letters/purge",
        &json,
        r#"{"ids": ["not-an-id"]}"#,
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.json);
    assert!(
        answer.error().contains("\"not-an-id\" is not a webhook id"),
        "{}",
        answer.json
    );
    let answer = send(addr, "GET", "/api/dead-letters?target=nope", &[], "").await;
    assert_eq!(answer.status, 400, "{}", answer.json);
    assert_eq!(dead_letters(&relay).await, 2);

    let answer = send(
        addr,
        "POST",
        "/api/dead-letters/purge",
        &json,
        r#"{"all": true}"#,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["purged"], 2);
    assert_eq!(dead_letters(&relay).await, 0);
}

#[tokio::test]
async fn a_rebound_host_cannot_read_the_api_but_probes_answer_any_host() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(
        &target.url("/t"),
        "  admin_hosts: [relay.internal, Switchboard.Example:8443]\n",
    ))
    .await;
    let addr = admin(&relay);
    let port = addr.port();
    let evil = format!("evil.example:{port}");
    let answer = send(addr, "GET", "/api/status", &[("Host", &evil)], "").await;
    assert_eq!(answer.status, 403, "{}", answer.json);
    assert!(
        answer.error().contains(&evil) && answer.error().contains("server.admin_hosts"),
        "{}",
        answer.json
    );
    let localhost = format!("localhost:{port}");
    let v6 = format!("[::1]:{port}");
    let own = addr.to_string();
    for host in [
        own.as_str(),
        localhost.as_str(),
        v6.as_str(),
        "relay.internal",
        "switchboard.example:8443",
    ] {
        let answer = send(addr, "GET", "/api/status", &[("Host", host)], "").await;
        assert_eq!(answer.status, 200, "Host {host}: {}", answer.json);
    }
    for host in [
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        format!("relay.internal:{port}"),
    ] {
        let answer = send(addr, "GET", "/api/status", &[("Host", &host)], "").await;
        assert_eq!(answer.status, 403, "Host {host}: {}", answer.json);
    }

    // Probes and scrapers reach these under any name or address (kubelet
    // sends `Host: <pod-ip>:port`).
    for path in ["/healthz", "/readyz", "/metrics"] {
        let answer = send(addr, "GET", path, &[("Host", "10.1.2.3:9090")], "").await;
        assert_eq!(answer.status, 200, "{path}");
    }
}

#[tokio::test]
async fn mistakes_are_answered_with_json_and_the_right_status() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "")).await;
    let addr = admin(&relay);
    let json = [("Content-Type", "application/json")];

    for (method, path) in [
        ("GET", "/nope"),
        ("POST", "/nope"),
        ("GET", "/api/nope"),
        ("DELETE", "/api/dead-letters/other"),
    ] {
        let answer = send(addr, method, path, &json, "").await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.json);
        assert!(answer.error().contains("no such path"), "{}", answer.json);
    }
    for (method, path, allow) in [
        ("POST", "/api/status", "GET, HEAD"),
        ("DELETE", "/api/dead-letters", "GET, HEAD"),
        ("POST", "/healthz", "GET, HEAD"),
        ("GET", "/api/reload", "POST"),
        ("GET", "/api/dead-letters/purge", "POST"),
    ] {
        let answer = send(addr, method, path, &json, "").await;
        assert_eq!(answer.status, 405, "{method} {path}: {}", answer.json);
        assert_eq!(answer.header("allow"), Some(allow), "{method} {path}");
        assert!(answer.error().contains(allow), "{}", answer.json);
    }
    let answer = send(
        addr,
        "POST",
        "/api/dead-letters/replay",
        &[("Content-Type", "application/xml")],
        "<all/>",
    )
    .await;
    assert_eq!(answer.status, 415);
    assert!(
        answer
            .error()
            .contains("send `Content-Type: application/json` (got `application/xml`)"),
        "{}",
        answer.json
    );
    for (body, says) in [
        ("", "the body is empty"),
        ("{not json", "key must be a string"),
        (r#"{"target": 5}"#, "invalid type: integer `5`"),
        (r#"{"tagret": "t"}"#, "unknown field `tagret`"),
    ] {
        let answer = send(addr, "POST", "/api/dead-letters/replay", &json, body).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.json);
        assert!(answer.error().contains(says), "{body}: {}", answer.json);
        assert!(!answer.error().contains("Rejection"), "{}", answer.json);
    }
    let huge = format!(r#"{{"target": "{}"}}"#, "t".repeat(70 * 1024));
    let answer = send(addr, "POST", "/api/dead-letters/replay", &json, &huge).await;
    assert_eq!(answer.status, 413, "{}", answer.json);
    assert!(answer.error().contains("larger than"), "{}", answer.json);
    let answer = send(addr, "POST", "/api/reload", &json, r#"{"now": true}"#).await;
    assert_eq!(answer.status, 400, "{}", answer.json);
    assert!(
        answer.error().contains("unknown field `now`"),
        "{}",
        answer.json
    );
    let answer = send(addr, "GET", "/api/dead-letters?tagret=t", &[], "").await;
    assert_eq!(answer.status, 400, "{}", answer.json);
    assert!(answer.error().contains("`tagret`"), "{}", answer.json);
}

#[test]
fn a_malformed_admin_host_is_refused() {
    let yaml = "server: {admin_hosts: [relay.internal, \"http://relay.internal/\", \"me@relay.internal\"]}\nsources: {s: {}}\ntargets: {t: {url: \"http://127.0.0.1:9/\"}}\nroutes: [{to: [t]}]\n";
    let config = switchboard::config::Config::parse(yaml).unwrap();
    let problems = switchboard::runtime::Runtime::compile(config, &Default::default(), None)
        .unwrap_err()
        .to_string();
    for i in [1, 2] {
        assert!(
            problems.contains(&format!("server.admin_hosts[{i}]"))
                && problems.contains("is not a host with an optional port, as a Host header carries it (e.g. relay.internal:9090)"),
            "{problems}"
        );
    }
    assert!(!problems.contains("admin_hosts[0]"), "{problems}");
}
