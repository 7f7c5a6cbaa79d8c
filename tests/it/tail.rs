//! The live tail: `GET /api/tail` shows a new webhook and its attempt at
//! once, filtered on the server; a client that stops reading is dropped
//! without slowing acceptance; `switchboard tap` prints a line per event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::common::{FakeTarget, TestRelay, WAIT};
use switchboard::cli::args::TapArgs;

fn config(prefix: &str, url: &str, server: &str, targets: usize) -> String {
    let names: Vec<String> = (0..targets).map(|n| format!("{prefix}t{n}")).collect();
    let defs: String = names
        .iter()
        .map(|n| format!("  {n}: {{url: \"{url}\"}}\n"))
        .collect();
    format!(
        "server: {{{server}}}\nsources:\n  {prefix}src: {{allow: [127.0.0.1], keys: {{n: n}}}}\n  {prefix}other: {{allow: [127.0.0.1]}}\ntargets:\n{defs}routes:\n  - name: all\n    to: [{}]\n",
        names.join(", ")
    )
}

/// An open tail: the response, and what was read of it.
struct Tail {
    response: reqwest::Response,
    text: String,
}

impl Tail {
    async fn open(relay: &TestRelay, query: &str) -> Tail {
        let response = relay
            .client
            .get(relay.admin(&format!("/api/tail{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Tail {
            response,
            text: String::new(),
        }
    }

    /// Reads until the text holds `needle`, within `within`.
    async fn until(&mut self, needle: &str, within: Duration) {
        let found = tokio::time::timeout(within, async {
            while !self.text.contains(needle) {
                let chunk = self.response.chunk().await.unwrap().expect("stream ended");
                self.text.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        assert!(
            found.is_ok(),
            "no `{needle}` within {within:?}; read:\n{}",
            self.text
        );
    }
}

#[tokio::test]
async fn the_tail_shows_a_new_webhook_within_a_second() {
    let crm = FakeTarget::start().await;
    let relay = TestRelay::start(&config("tl_", &crm.url("/crm"), "", 1)).await;
    let mut tail = Tail::open(&relay, "?source=tl_src").await;
    tail.until(": switchboard tail", WAIT).await;
    let id = relay.accept_id("tl_src", r#"{"n": 1}"#).await;
    let sent = Instant::now();
    tail.until(&format!("\"id\":\"{id}\""), Duration::from_secs(1))
        .await;
    assert!(sent.elapsed() < Duration::from_secs(1));
    assert!(
        tail.text.contains("\"keys\":{\"n\":\"1\"}"),
        "{}",
        tail.text
    );
    assert!(
        tail.text
            .contains("event: accepted\ndata: {\"type\":\"accepted\""),
        "{}",
        tail.text
    );
    // Its attempt follows, under the same source filter.
    tail.until("event: attempt", WAIT).await;
    assert!(
        tail.text.contains("\"outcome\":\"delivered\""),
        "{}",
        tail.text
    );
    // Another source's webhook is filtered out on the server.
    let other = relay.accept("tl_other", r#"{"n": 2}"#).await["id"].clone();
    let third = relay.accept("tl_src", r#"{"n": 3}"#).await["id"].clone();
    tail.until(&format!("\"id\":{third}"), WAIT).await;
    assert!(
        !tail.text.contains(other.as_str().unwrap()),
        "{}",
        tail.text
    );
    // Operators' actions show too.
    let paused = relay
        .client
        .post(relay.admin("/api/targets/tl_t0/pause"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 200);
    let mut all = Tail::open(&relay, "").await;
    all.until(": switchboard tail", WAIT).await;
    let resumed = relay
        .client
        .post(relay.admin("/api/targets/tl_t0/resume"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    all.until(
        "event: resumed\ndata: {\"type\":\"resumed\",\"target\":\"tl_t0\"",
        WAIT,
    )
    .await;
}

#[tokio::test]
async fn dead_letters_and_reloads_show_in_the_tail() {
    let crm = FakeTarget::start().await;
    crm.respond(400);
    let relay = TestRelay::start(&config("td_", &crm.url("/crm"), "", 1)).await;
    let mut dead = Tail::open(&relay, "?target=td_t0&outcome=dead").await;
    dead.until(": switchboard tail", WAIT).await;
    let id = relay.accept("td_src", r#"{"n": 1}"#).await["id"].clone();
    dead.until("event: dead_letter", WAIT).await;
    assert!(dead.text.contains(&format!("\"id\":{id}")), "{}", dead.text);
    assert!(dead.text.contains("\"status\":400"), "{}", dead.text);
    assert!(!dead.text.contains("event: accepted"), "{}", dead.text);

    let mut all = Tail::open(&relay, "?target=td_t0").await;
    all.until(": switchboard tail", WAIT).await;
    relay
        .reload_with(&config("td_", &crm.url("/crm"), "", 1))
        .await
        .unwrap();
    all.until(
        "event: reload\ndata: {\"type\":\"reload\",\"ok\":true",
        WAIT,
    )
    .await;
}

#[tokio::test]
async fn a_bad_filter_is_refused() {
    let crm = FakeTarget::start().await;
    let relay = TestRelay::start(&config("tb_", &crm.url("/crm"), "", 1)).await;
    let response = relay
        .client
        .get(relay.admin("/api/tail?outcome=gone"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(
        answer["error"].as_str().unwrap().contains("outcome"),
        "{answer}"
    );
}

/// Webhooks sent while a tail client stalls.
const FLOOD: usize = 1500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tail_client_is_dropped_without_slowing_acceptance() {
    let crm = FakeTarget::start().await;
    // Four targets and many routes with long names: five events per
    // webhook, some large, so that the stalled client falls behind every
    // buffer (the kernel's, the listener's, the hub's) well before the end.
    let mut yaml = config("ts_", &crm.url("/crm"), "body_timeout: 1s", 4);
    for n in 0..32 {
        yaml.push_str(&format!(
            "  - name: a-route-with-a-long-name-so-that-accepted-events-are-large-{n}\n    to: [ts_t0, ts_t1, ts_t2, ts_t3]\n"
        ));
    }
    let relay = Arc::new(TestRelay::start(&yaml).await);
    // A client that asks for the tail with a small receive buffer and
    // never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket
        .connect(relay.relay.admin_addr().unwrap())
        .await
        .unwrap();
    let request = format!(
        "GET /api/tail HTTP/1.1\r\nHost: {}\r\n\r\n",
        relay.relay.admin_addr().unwrap()
    );
    stalled.write_all(request.as_bytes()).await.unwrap();

    let started = Instant::now();
    let mut senders = Vec::new();
    for worker in 0..8 {
        let relay = relay.clone();
        senders.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for n in (worker..FLOOD).step_by(8) {
                let sent = Instant::now();
                relay.accept("ts_src", format!("{{\"n\": {n}}}")).await;
                slowest = slowest.max(sent.elapsed());
            }
            slowest
        }));
    }
    let mut slowest = Duration::ZERO;
    for sender in senders {
        slowest = slowest.max(sender.await.unwrap());
    }
    // Every webhook was answered 202 (`accept` asserts it), none slowly.
    assert!(
        slowest < Duration::from_secs(2),
        "slowest answer {slowest:?}"
    );
    crm.wait_for(FLOOD * 4, WAIT * 3).await;
    eprintln!("{FLOOD} webhooks in {:?}", started.elapsed());

    // The stalled client was dropped: told it missed events, or its
    // connection closed by the write deadline. Either way it got far less
    // than was published.
    let mut got = Vec::new();
    let ended = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 64 * 1024];
        loop {
            let from = got.len().saturating_sub(13);
            match stalled.read(&mut buf).await {
                Ok(0) | Err(_) => return "closed",
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got[from..].windows(13).any(|w| w == b"event: missed") {
                return "missed";
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got);
    eprintln!(
        "stalled client: {ended:?} after {} bytes, {} accepted and {} attempt events",
        got.len(),
        text.matches("event: accepted").count(),
        text.matches("event: attempt").count()
    );
    assert!(
        ended.is_ok(),
        "the stalled client was neither told nor closed; read {} bytes",
        got.len()
    );
    let attempts = text.matches("event: attempt").count();
    assert!(
        attempts < FLOOD * 4,
        "{:?}: all {attempts} attempts arrived",
        ended
    );
}

/// A writer the test can read while `tap` writes to it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `tap` with `json` against `relay` and posts webhooks until it
/// printed a line with the webhook's id; returns that line.
async fn tap_line(relay: &TestRelay, json: bool) -> String {
    let args = TapArgs {
        admin: format!("http://{}", relay.relay.admin_addr().unwrap()),
        source: Some("tp_src".to_owned()),
        target: None,
        outcome: None,
        json,
    };
    let out = Shared::default();
    let mut writer = out.clone();
    let tap =
        tokio::spawn(async move { switchboard::cli::tap::tap(&args, None, &mut writer).await });
    // The tap subscribes when its request arrives: post until it shows one.
    let line = tokio::time::timeout(WAIT, async {
        loop {
            let id = relay.accept_id("tp_src", r#"{"n": 0}"#).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(line) = out.text().lines().find(|l| l.contains(&id)) {
                return line.to_owned();
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("tap printed nothing: {}", out.text()));
    tap.abort();
    line
}

#[tokio::test]
async fn tap_prints_a_line_per_event() {
    let crm = FakeTarget::start().await;
    let relay = TestRelay::start(&config("tp_", &crm.url("/crm"), "", 1)).await;
    let line = tap_line(&relay, false).await;
    assert!(
        line.contains(" accepted ") && line.contains("source=tp_src routes=all targets=tp_t0"),
        "{line}"
    );
    let line = tap_line(&relay, true).await;
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["source"], "tp_src", "{line}");
}
