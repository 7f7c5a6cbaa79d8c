//! The real `switchboard` binary for tests that kill, signal and restart
//! it: spawned with JSON logs, its stderr drained on a thread so the pipe
//! never fills, its log lines awaited under a timeout.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use serde_json::Value;
use tokio::sync::mpsc;

use super::WAIT;

/// The relay binary, killed if the test ends without stopping it.
pub struct Binary {
    child: Option<Child>,
    pub pid: String,
    /// The ingress address from the `listening` line.
    pub addr: String,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Every JSON log line read so far.
    pub seen: Vec<Value>,
}

impl Binary {
    /// Starts `switchboard --log-format json serve` and waits for `listening`.
    pub async fn start(config: &Path) -> Binary {
        Binary::start_in(config, Path::new(".")).await
    }

    /// [`Binary::start`] with `dir` as the working directory.
    pub async fn start_in(config: &Path, dir: &Path) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["--log-format", "json", "serve", "--config"])
            .arg(config)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::unbounded_channel::<Value>();
        let stderr = child.stderr.take().unwrap();
        // Drains stderr for the process's whole life, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                match serde_json::from_str(&line) {
                    Ok(v) => {
                        let _ = tx.send(v);
                    }
                    Err(_) => eprintln!("relay (not JSON): {line}"),
                }
            }
        });
        let mut binary = Binary {
            pid: child.id().to_string(),
            child: Some(child),
            addr: String::new(),
            lines,
            seen: Vec::new(),
        };
        binary.addr = binary.wait_log("listening").await["fields"]["addr"]
            .as_str()
            .unwrap()
            .to_owned();
        binary
    }

    /// Waits (bounded) for a log line with this message.
    pub async fn wait_log(&mut self, message: &str) -> Value {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let line =
                    self.lines.recv().await.unwrap_or_else(|| {
                        panic!("the relay exited early; its log: {:#?}", self.seen)
                    });
                self.seen.push(line.clone());
                if line["fields"]["message"] == message {
                    return line;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no log line {message:?}"))
    }

    /// A field of the first log line with this message read so far.
    pub fn logged(&self, message: &str, field: &str) -> Value {
        self.seen
            .iter()
            .find(|l| l["fields"]["message"] == message)
            .map_or(Value::Null, |l| l["fields"][field].clone())
    }

    /// Warnings and errors logged so far.
    pub fn problems(&mut self) -> Vec<String> {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen
            .iter()
            .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR")
            .map(Value::to_string)
            .collect()
    }

    /// Sends a signal, e.g. `-KILL`, `-TERM`, `-HUP`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {}: {status:?}", self.pid);
    }

    /// Waits (bounded) for the process to exit.
    pub async fn exited(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("already waited for");
        let waited =
            tokio::time::timeout(WAIT, tokio::task::spawn_blocking(move || child.wait())).await;
        match waited {
            Ok(status) => status.unwrap().unwrap(),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &self.pid]).status();
                panic!("relay {} did not exit within {WAIT:?}", self.pid);
            }
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A finished `switchboard` command.
pub struct Run {
    /// The exit code; `None` if a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `switchboard ARGS…` in `dir` to the end.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S], dir: &Path) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
