//! Ingress over real sockets: who may send, body limits, probes, errors.

use std::time::Duration;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(archive: &str, source_extra: &str, server_extra: &str) -> String {
    format!(
        r#"
server:
  max_body: 64KiB
{server_extra}
sources:
  sipgate:
    allow: [127.0.0.1]
{source_extra}
  elsewhere:
    allow: [10.1.2.3, "2001:db8::/32"]
targets:
  archive:
    url: {archive}
routes:
  - to: [archive]
"#
    )
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn accepts_a_fixture_and_forwards_it() {
    let archive = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&archive.url("/a"), "", "")).await;
    let answer = relay.accept("sipgate", fixture("full.json")).await;
    assert_eq!(answer["deliveries"], 1);
    let id = answer["id"].as_str().unwrap();
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(uuid.get_version_num(), 7, "ids are time-ordered UUIDv7");
    let got = archive.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("webhook-id"), Some(id));
}

#[tokio::test]
async fn unknown_source_is_404() {
    let archive = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&archive.url("/a"), "", "")).await;
    let (status, message) = error_of(relay.post("nope", fixture("full.json")).await).await;
    assert_eq!(status, 404);
    assert!(message.contains("unknown source `nope`"), "{message}");
    let (status, _) = error_of(
        relay
            .client
            .post(format!("http://{}/other", relay.relay.local_addr()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    archive.assert_quiet(0, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn address_outside_the_allow_list_is_403() {
    let archive = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&archive.url("/a"), "", "")).await;
    let (status, message) = error_of(relay.post("elsewhere", fixture("full.json")).await).await;
    assert_eq!(status, 403);
    assert!(message.contains("may not send"), "{message}");
    archive.assert_quiet(0, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn missing_or_wrong_token_is_401() {
    let archive = FakeTarget::start().await;
    let token = "    token: { header: X-Switchboard-Token, value: \"${TOKEN}\" }";
    let relay = TestRelay::start_with_env(
        &config(&archive.url("/a"), token, ""),
        &[("TOKEN", "t0ps3cret")],
    )
    .await;
    let (status, _) = error_of(relay.post("sipgate", fixture("full.json")).await).await;
    assert_eq!(status, 401);
    // (Trailing whitespace is not part of an HTTP header value, so "t0ps3cret " is the token.)
    for wrong in ["t0ps3cre", "t0ps3cret2", "T0PS3CRET", ""] {
        let response = relay
            .client
            .post(relay.hook("sipgate"))
            .header("x-switchboard-token", wrong)
            .body(fixture("full.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "token {wrong:?}");
    }
    let response = relay
        .client
        .post(relay.hook("sipgate"))
        .header("x-switchboard-token", "t0ps3cret")
        .body(fixture("full.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(archive.wait_for(1, WAIT).await.len(), 1);
    archive.assert_quiet(1, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn body_over_the_limit_is_413_with_or_without_content_length() {
    let archive = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&archive.url("/a"), "", "")).await;
    // 213 KB against a 64 KiB limit, with Content-Length.
    let (status, message) = error_of(
        relay
            .post("sipgate", fixture("large-transcription.json"))
            .await,
    )
    .await;
    assert_eq!(status, 413);
    assert!(message.contains("65536"), "{message}");

    // The same body chunked, with no Content-Length, as sipgate sends it.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = fixture("large-transcription.json")
        .chunks(4096)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = relay
        .client
        .post(relay.hook("sipgate"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, 413);
    archive.assert_quiet(0, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn chunked_body_under_the_limit_is_accepted_intact() {
    let archive = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&archive.url("/a"), "", "")).await;
    let raw = fixture("german-unicode.json");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        raw.chunks(100).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = relay
        .client
        .post(relay.hook("sipgate"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let got = archive.wait_for(1, WAIT).await;
    assert_eq!(got[0].body.as_ref(), raw.as_slice());
}

#[tokio::test]
async fn malformed_json_is_400_with_line_and_column() {
    let archive = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&archive.url("/a"), "", "")).await;
    let (status, message) = error_of(
        relay
            .post("sipgate", "{\n  \"call\": {\"id\": 1,}\n}")
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("line 2 column"), "{message}");
    let (status, message) = error_of(relay.post("sipgate", "{\"call\": ").await).await;
    assert_eq!(status, 400);
    assert!(message.contains("ends early"), "{message}");
    archive.assert_quiet(0, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn probes_get_200_and_forward_nothing() {
    let archive = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&archive.url("/a"), "", "")).await;
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let response = relay
            .client
            .request(method.clone(), relay.hook("sipgate"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method}");
    }
    for body in ["", "{}", "null", " { } \n"] {
        assert_eq!(relay.post("sipgate", body).await.status(), 200, "{body:?}");
    }
    // A probe to an unknown source is still 404, from a wrong address 403.
    assert_eq!(
        relay
            .client
            .get(relay.hook("nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        relay
            .client
            .get(relay.hook("elsewhere"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    archive.assert_quiet(0, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn other_methods_are_405() {
    let archive = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&archive.url("/a"), "", "")).await;
    let response = relay
        .client
        .put(relay.hook("sipgate"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, 405);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let archive = FakeTarget::start().await;
    // "elsewhere" allows 10.1.2.3; the test connects from 127.0.0.1.
    let untrusted = TestRelay::start(&config(&archive.url("/a"), "", "")).await;
    let spoofed = untrusted
        .client
        .post(untrusted.hook("elsewhere"))
        .header("x-forwarded-for", "10.1.2.3")
        .body(fixture("full.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        spoofed.status(),
        403,
        "a forwarded header from an untrusted peer must be ignored"
    );

    let trusted = TestRelay::start(&config(
        &archive.url("/a"),
        "",
        "  trusted_proxies: [127.0.0.1]",
    ))
    .await;
    let via_proxy = |xff: &'static str| {
        trusted
            .client
            .post(trusted.hook("elsewhere"))
            .header("x-forwarded-for", xff)
            .body(fixture("full.json"))
            .send()
    };
    assert_eq!(via_proxy("10.1.2.3").await.unwrap().status(), 202);
    // The client tried to spoof the left entry; the proxy appended the real one.
    assert_eq!(
        via_proxy("10.1.2.3, 198.51.100.7").await.unwrap().status(),
        403
    );
    // Only the configured header (x-forwarded-for by default) is read; a
    // `Forwarded` from the client is ignored even via a trusted proxy
    // (tests/proxy.rs covers `client_ip_header: forwarded`).
    let forwarded = trusted
        .client
        .post(trusted.hook("elsewhere"))
        .header("forwarded", "for=\"[2001:db8::5]:1234\"")
        .body(fixture("full.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), 403);
    assert_eq!(archive.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn connect_request_gets_an_answer_not_a_panic() {
    let archive = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&archive.url("/a"), "", "")).await;
    let mut stream = tokio::net::TcpStream::connect(relay.relay.local_addr())
        .await
        .unwrap();
    stream
        .write_all(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 4"), "{head}");
    // And the relay still serves.
    assert_eq!(
        relay
            .post("sipgate", fixture("minimal.json"))
            .await
            .status(),
        202
    );
}
