//! Input cannot forge a log line (issue 13, item 6): the real binary, in
//! both log formats, gets a body whose duplicate key holds a newline, an
//! ESC sequence and a C1 control (the parse error quotes the key), and a
//! source path spelled with the same; every log line stays one line, with
//! no raw control character in it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::{FakeTarget, WAIT};
use tokio::sync::mpsc;

/// The forged line a hostile key tries to start.
const FORGED: &str = "FORGED ERROR all deleted";

/// The relay binary with `--log-format <format>`, its stderr read line by
/// line on a thread.
struct Relay {
    child: Child,
    addr: String,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Relay {
    async fn start(format: &str, config: &std::path::Path) -> Relay {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["--log-format", format, "serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            // Split on '\n' only, keeping bytes as they are: a raw '\r' or
            // ESC must reach the assertions, not be lost to decoding.
            for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
            }
        });
        let mut relay = Relay {
            child,
            addr: String::new(),
            lines,
            seen: Vec::new(),
        };
        let listening = relay.wait_for("listening").await;
        // `... listening addr=127.0.0.1:PORT` or `"addr":"127.0.0.1:PORT"`.
        let at = listening.find("127.0.0.1:").unwrap();
        relay.addr = listening[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
            .collect();
        relay
    }

    /// Waits (bounded) for a line containing `text`.
    async fn wait_for(&mut self, text: &str) -> String {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let line =
                    self.lines.recv().await.unwrap_or_else(|| {
                        panic!("the relay exited early; its log: {:#?}", self.seen)
                    });
                self.seen.push(line.clone());
                if line.contains(text) {
                    return line;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no log line with {text:?} in {:#?}", self.seen))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends the hostile requests, then a good webhook whose `accepted` line
/// (written after theirs) says every line about them is in; returns the
/// lines.
async fn hostile_run(format: &str) -> Vec<String> {
    let target = FakeTarget::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0", spool: "{spool}"}}
sources:
  s: {{allow: [127.0.0.1]}}
targets:
  t: {{url: "{url}"}}
routes:
  - to: [t]
"#,
            spool = dir.path().join("spool.db").display(),
            url = target.url("/t"),
        ),
    )
    .unwrap();
    let mut relay = Relay::start(format, &config).await;
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let hook = |path: &str| format!("http://{}/hooks/{path}", relay.addr);

    // A duplicate key: the parse error quotes it. JSON escapes in the key
    // become the raw characters once parsed.
    let key = format!(r"k\n{FORGED}\r\u001b[2J\u001b]0;owned\u0007\u009b31m\u2028x");
    let body = format!(r#"{{"{key}": 1, "{key}": 2}}"#);
    let response = client
        .post(hook("s"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // A source name from the URL path, percent-encoded controls.
    let response = client
        .post(hook("s%0aFORGED%1b%5b2J%c2%9b"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let response = client
        .post(hook("s"))
        .header("content-type", "application/json")
        .body(r#"{"marker": true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    relay.wait_for("accepted").await;
    relay.seen.clone()
}

/// Checks that hold in both formats.
fn assert_lines_are_clean(lines: &[String]) {
    for line in lines {
        assert!(
            !line
                .chars()
                .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
            "a raw control character in the log: {line:?}"
        );
        assert!(!line.starts_with("FORGED"), "a forged line: {line:?}");
    }
}

#[tokio::test]
async fn text_logs_escape_controls_in_every_value() {
    let lines = hostile_run("text").await;
    assert_lines_are_clean(&lines);
    let rejected = lines
        .iter()
        .find(|l| l.contains("rejected: body is not JSON"))
        .unwrap_or_else(|| panic!("no rejection line in {lines:#?}"));
    // The key is there, escaped, on the rejection's own line.
    assert!(
        rejected.contains(&format!(r"k\n{FORGED}\r\u{{1b}}[2J")),
        "{rejected}"
    );
    assert!(rejected.contains(r"\u{9b}31m\u{2028}x"), "{rejected}");
}

#[tokio::test]
async fn json_logs_escape_controls_and_keep_the_value() {
    let lines = hostile_run("json").await;
    assert_lines_are_clean(&lines);
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not one JSON line ({e}): {line:?}"));
    }
    let rejected = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["fields"]["message"] == "rejected: body is not JSON")
        .unwrap();
    // Parsed back, the error holds the key's characters exactly.
    let error = rejected["fields"]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "k\n{FORGED}\r\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}31m\u{2028}x"
        )),
        "{error:?}"
    );
}
