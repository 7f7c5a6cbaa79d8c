//! Hostile input: none of it may crash the relay, block other clients or
//! get anything forwarded. Each gets a defined answer.

use std::time::Duration;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config(url: &str, server_extra: &str, source_extra: &str) -> String {
    format!(
        "server:\n  header_timeout: 1s\n{server_extra}sources:\n  s:\n    allow: [127.0.0.1]\n{source_extra}targets:\n  t: {{url: \"{url}\"}}\nroutes:\n  - to: [t]\n"
    )
}

/// Sends raw bytes and returns the status line (or "" if the connection
/// was closed without an answer).
async fn raw(relay: &TestRelay, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(relay.relay.local_addr()).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

async fn error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, text)
}

#[tokio::test]
async fn slow_headers_are_cut_off_and_others_are_served_meanwhile() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "", "")).await;
    let mut slow = TcpStream::connect(relay.relay.local_addr()).await.unwrap();
    slow.write_all(b"POST /hooks/s HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Meanwhile a normal client is served at once.
    relay.accept("s", fixture("minimal.json")).await;
    // header_timeout is 1 s: the slow connection is closed, not kept.
    let started = tokio::time::Instant::now();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(WAIT, slow.read(&mut buf))
        .await
        .expect("slow client was never cut off");
    assert!(started.elapsed() < Duration::from_secs(5));
    let answer = String::from_utf8_lossy(&buf[..n.unwrap_or(0)]).to_string();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    target.wait_for(1, WAIT).await;
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "  max_connections: 1\n", "")).await;
    // The only slot: a connection that sent nothing yet.
    let holder = TcpStream::connect(relay.relay.local_addr()).await.unwrap();
    let waiting = relay.post("s", fixture("minimal.json"));
    tokio::pin!(waiting);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut waiting)
            .await
            .is_err(),
        "a second connection was served while the only slot was taken"
    );
    drop(holder);
    // The holder is closed by the peer (or cut off by header_timeout): the
    // waiting request is then served.
    let response = tokio::time::timeout(WAIT, waiting).await.unwrap();
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn a_client_over_the_source_rate_gets_429_with_retry_after() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "", "    rate: 2/min\n")).await;
    relay.accept("s", fixture("minimal.json")).await;
    relay.accept("s", fixture("minimal.json")).await;
    let response = relay.post("s", fixture("minimal.json")).await;
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    target.wait_for(2, WAIT).await;
    target.assert_quiet(2, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn malformed_bodies_get_400_and_nothing_is_forwarded() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "", "")).await;
    let deep = "[".repeat(500) + &"]".repeat(500);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "duplicate keys",
            br#"{"call": {"id": "a", "id": "b"}}"#.to_vec(),
            "duplicate key `id`",
        ),
        ("deep nesting", deep.into_bytes(), "recursion limit"),
        (
            "huge number",
            b"{\"n\": 1e999}".to_vec(),
            "number out of range",
        ),
        ("invalid UTF-8", b"{\"s\": \"\xff\xfe\"}".to_vec(), "line 1"),
        ("trailing data", b"{} {\"x\": 1}".to_vec(), "trailing"),
    ];
    for (what, body, expect) in cases {
        let (status, text) = error(relay.post("s", body).await).await;
        assert_eq!(status, 400, "{what}: {text}");
        assert!(text.contains(expect), "{what}: {text}");
    }
    target.assert_quiet(0, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn header_floods_and_huge_urls_get_a_4xx() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "", "")).await;
    let mut flood = String::from("POST /hooks/s HTTP/1.1\r\nHost: x\r\n");
    for i in 0..500 {
        flood.push_str(&format!("X-Flood-{i}: {}\r\n", "v".repeat(10)));
    }
    flood.push_str("Content-Length: 2\r\n\r\n{}");
    let status = raw(&relay, flood.as_bytes()).await;
    assert!(
        status.starts_with("HTTP/1.1 431"),
        "header flood: {status:?}"
    );

    let long = format!(
        "POST /hooks/s?{} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}",
        "a".repeat(1 << 20)
    );
    let status = raw(&relay, long.as_bytes()).await;
    assert!(status.starts_with("HTTP/1.1 4"), "1 MiB URL: {status:?}");

    let absolute = raw(
        &relay,
        b"GET http://elsewhere.example/hooks/s HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n",
    )
    .await;
    assert!(
        absolute.starts_with("HTTP/1.1 200"),
        "absolute-form is served like origin-form: {absolute:?}"
    );

    // And the relay still serves.
    relay.accept("s", fixture("minimal.json")).await;
    target.wait_for(1, WAIT).await;
}
