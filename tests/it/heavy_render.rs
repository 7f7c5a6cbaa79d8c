//! One heavy webhook must not hold up the others (issue 13, item 4): a
//! large body is routed and rendered off the async worker, so a small
//! webhook on another connection is accepted while the heavy one renders.

use crate::common::{FakeTarget, TestRelay, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Items in the heavy body: about 80 KB, over the inline limit (64 KiB).
const ITEMS: usize = 40_000;
/// Work per item in the jq program: the heavy render takes seconds in a
/// debug build, the small one (no items) none.
const WORK: usize = 25;

fn heavy_body() -> String {
    let items = vec!["0"; ITEMS].join(",");
    format!(r#"{{"items":[{items}]}}"#)
}

/// POSTs `body` on a connection of its own, says when the request is
/// written, and returns the status line.
async fn post_raw(
    addr: std::net::SocketAddr,
    body: &str,
    sent: tokio::sync::oneshot::Sender<()>,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /hooks/s HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let _ = sent.send(());
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

// One worker thread: on code that renders on the worker, the heavy render
// holds the only worker, and the small webhook waits for it to finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_small_webhook_is_accepted_while_a_heavy_one_renders() {
    let target = FakeTarget::start().await;
    let yaml = format!(
        r#"
sources:
  s: {{allow: [127.0.0.1]}}
targets:
  counter:
    url: {url}
    transform:
      jq: '{{n: reduce (.items // [])[] as $x (0; . + ([range(0; {WORK})] | length))}}'
routes:
  - name: all
    to: [counter]
"#,
        url = target.url("/count"),
    );
    let relay = TestRelay::start(&yaml).await;
    let addr = relay.relay.local_addr();
    let (done, mut order) = mpsc::unbounded_channel::<(&str, String)>();

    let (heavy_sent, heavy_on_wire) = tokio::sync::oneshot::channel();
    let heavy = {
        let done = done.clone();
        let body = heavy_body();
        tokio::spawn(async move {
            let status = post_raw(addr, &body, heavy_sent).await;
            done.send(("heavy", status)).unwrap();
        })
    };
    // The heavy request is written before the small one starts.
    tokio::time::timeout(WAIT, heavy_on_wire)
        .await
        .unwrap()
        .unwrap();
    let small = tokio::spawn(async move {
        let (sent, _) = tokio::sync::oneshot::channel();
        let status = post_raw(addr, r#"{"call": {"id": "small"}}"#, sent).await;
        done.send(("small", status)).unwrap();
    });

    let mut arrived = Vec::new();
    for _ in 0..2 {
        let (which, status) = tokio::time::timeout(WAIT, order.recv())
            .await
            .expect("both webhooks answered in time")
            .unwrap();
        assert!(status.contains(" 202 "), "{which}: {status}");
        arrived.push(which);
    }
    assert_eq!(
        arrived,
        ["small", "heavy"],
        "the small webhook waited for the heavy one's render"
    );
    heavy.await.unwrap();
    small.await.unwrap();

    // The heavy body was rendered in full, off the worker.
    let got = target.wait_for(2, WAIT).await;
    let mut counts: Vec<u64> = got
        .iter()
        .map(|r| r.json()["n"].as_u64().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [0, (ITEMS * WORK) as u64]);
}
