//! Connections that a client opens and does not use: silent, partial,
//! HTTP/2 prefaces, trickled bodies, idle keep-alives. Each is closed within
//! its time limit on both listeners, so a handful of them cannot lock
//! everyone else out.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config(url: &str, server_extra: &str) -> String {
    format!(
        "server:\n  header_timeout: 1s\n  body_timeout: 1s\n{server_extra}sources:\n  s:\n    allow: [127.0.0.1]\ntargets:\n  t: {{url: \"{url}\"}}\nroutes:\n  - to: [t]\n"
    )
}

/// The HTTP/2 client preface followed by an empty SETTINGS frame.
const H2_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Opens a connection and sends `first` (maybe nothing).
async fn open(addr: SocketAddr, first: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    if !first.is_empty() {
        stream.write_all(first).await.unwrap();
    }
    stream
}

/// Reads until the relay closes the connection (bounded by `WAIT`), and
/// returns what it sent before closing.
async fn closed_by_relay(stream: &mut TcpStream, what: &str) -> String {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "{what}: the relay never closed the connection"
    );
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn unused_connections_are_cut_so_a_full_listener_frees_up() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "  max_connections: 4\n")).await;
    let addr = relay.relay.local_addr();
    // Every slot taken by a connection that will never finish a request.
    let mut holders = vec![
        ("nothing", open(addr, b"").await),
        ("one byte", open(addr, b"P").await),
        (
            "a partial HTTP/2 preface",
            open(addr, b"PRI * HTTP/2.0\r\n").await,
        ),
        (
            "the HTTP/2 preface and SETTINGS",
            open(addr, H2_PREFACE_AND_SETTINGS).await,
        ),
    ];
    // A real sender is served once the holders are cut (header_timeout 1s).
    let response = relay.post("s", fixture("minimal.json")).await;
    assert_eq!(response.status(), 202);
    for (what, stream) in &mut holders {
        let answer = closed_by_relay(stream, what).await;
        if what.contains("SETTINGS") {
            // HTTP/2 is not served: closed, unanswered.
            assert_eq!(answer, "", "{what}");
        }
    }
    target.wait_for(1, WAIT).await;
}

#[tokio::test]
async fn a_trickled_body_is_answered_408_after_body_timeout() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "")).await;
    let mut stream = open(
        relay.relay.local_addr(),
        b"POST /hooks/s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await;
    // One byte every 300 ms: each arrives well within any per-read limit,
    // the whole body never within body_timeout (1s).
    let (mut read, mut write) = stream.split();
    let trickle = async {
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if write.write_all(b" ").await.is_err() {
                return;
            }
        }
    };
    let answer = async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&seen).into_owned(),
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    let answer = tokio::select! {
        answer = answer => answer,
        () = trickle => panic!("the trickled body was never cut off"),
    };
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    target.assert_quiet(0, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "")).await;
    let body = fixture("minimal.json");
    let mut request = format!(
        "POST /hooks/s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let mut stream = open(relay.relay.local_addr(), &request).await;
    // The answer comes, then the connection idles until header_timeout.
    let seen = closed_by_relay(&mut stream, "idle keep-alive").await;
    assert!(seen.starts_with("HTTP/1.1 202"), "{seen}");
    target.wait_for(1, WAIT).await;
}

#[tokio::test]
async fn the_admin_listener_cuts_unused_connections_and_is_capped() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "  admin_max_connections: 2\n")).await;
    let admin = relay.relay.admin_addr().unwrap();
    let mut holders = vec![
        ("nothing", open(admin, b"").await),
        (
            "a partial request",
            open(admin, b"GET /healthz HTTP/1.1\r\n").await,
        ),
    ];
    // While both slots are held, a third connection waits in the backlog.
    let health = relay.client.get(relay.admin("/healthz")).send();
    tokio::pin!(health);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut health)
            .await
            .is_err(),
        "a third admin connection was served beyond admin_max_connections: 2"
    );
    for (what, stream) in &mut holders {
        closed_by_relay(stream, what).await;
    }
    let health = tokio::time::timeout(WAIT, health).await.unwrap().unwrap();
    assert_eq!(health.status(), 200);
}

/// Runs the real binary under `ulimit` (a shell builtin), until it exits or
/// logs that it listens; returns whether it started and its stderr so far.
fn serve_under_ulimit(ulimit: &str, yaml: &str) -> (bool, String) {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.yaml");
    std::fs::write(
        &config,
        common::with_spool(yaml, &dir.path().join("spool.db")),
    )
    .unwrap();
    let mut child = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit {ulimit} && exec \"$0\" serve --config \"$1\""
        ))
        .arg(env!("CARGO_BIN_EXE_switchboard"))
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = String::new();
    let started = loop {
        match rx.recv_timeout(WAIT) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("listening") {
                    break true;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("no answer: {seen}"),
        }
    };
    let _ = child.kill();
    let status = child.wait().unwrap();
    if !started {
        assert_eq!(status.code(), Some(2), "{seen}");
    }
    (started, seen)
}

#[test]
fn the_relay_refuses_to_start_when_its_connections_cannot_fit_in_the_open_file_limit() {
    let yaml = "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\nsources:\n  s: {allow: [127.0.0.1]}\ntargets:\n  t: {url: \"http://127.0.0.1:1/\"}\nroutes:\n  - to: [t]\n";
    // Soft and hard limit 512: the default max_connections (1024) cannot fit.
    let (started, log) = serve_under_ulimit("-n 512", yaml);
    assert!(!started, "{log}");
    assert!(log.contains("open-file limit is 512"), "{log}");
    assert!(log.contains("server.max_connections 1024"), "{log}");
    // Only the soft limit low (systemd's default 1024 is the same case): the
    // relay raises it to the hard limit and starts.
    let (started, log) = serve_under_ulimit("-S -n 256 && ulimit -H -n 4096", yaml);
    assert!(started, "{log}");
    // With caps that fit, 512 is enough.
    let small = yaml.replace(
        "server:\n",
        "server:\n  max_connections: 300\n  admin_max_connections: 16\n",
    );
    let (started, log) = serve_under_ulimit("-n 512", &small);
    assert!(started, "{log}");
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_cut_after_body_timeout() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "  max_connections: 1\n")).await;
    let mut flood = open(relay.relay.local_addr(), b"").await;
    // Pipelined requests whose 404 answers (several times their size) fill
    // both sides' buffers; the client reads none of them. Bounded: 8 MB.
    let writer = tokio::spawn(async move {
        let request = b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n".repeat(1024);
        for _ in 0..256 {
            if flood.write_all(&request).await.is_err() {
                break;
            }
        }
        flood
    });
    // The only slot is held by the flood until its stalled write times out.
    let response = relay.post("s", fixture("minimal.json")).await;
    assert_eq!(response.status(), 202);
    writer.abort();
    target.wait_for(1, WAIT).await;
}
