//! Debian's `chromium`, headless, for the console's browser tests: started
//! as its own process group with a fresh profile in a temporary directory
//! and a DevTools port the kernel picks (read back from the profile's
//! `DevToolsActivePort`), driven over the DevTools protocol by
//! chromiumoxide, and killed by its process group's id when dropped.
//!
//! One browser per test, one test at a time ([`Chromium::start`] holds a
//! lock until the browser is dropped): a test binary runs its tests on
//! many runtimes, and chromiumoxide's handler lives on the one it is
//! spawned on.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chromiumoxide::Browser;
use futures_util::StreamExt;
use tokio::sync::{Mutex, MutexGuard};

/// How long Chromium may take to open its DevTools port.
const START: Duration = Duration::from_secs(30);

/// One browser test at a time: each has a Chromium of its own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// A running headless Chromium.
pub struct Chromium {
    pub browser: Browser,
    child: Child,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

/// The Chromium binary: `SWITCHBOARD_CHROMIUM` or Debian's.
fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SWITCHBOARD_CHROMIUM") {
        return Some(path.into());
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Chromium {
    /// Starts Chromium, or `None` (the test skips, saying so) when it is
    /// not installed outside CI. In CI (`CI` set) a missing browser fails:
    /// `scripts/test` installs it.
    pub async fn start(test: &str) -> Option<Chromium> {
        let Some(binary) = binary() else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{test}: chromium is not installed; scripts/test installs it (apt-get install chromium)"
                );
            }
            eprintln!(
                "skipping {test}: chromium is not installed (apt-get install chromium, or run scripts/test as root)"
            );
            return None;
        };
        let turn = ONE_AT_A_TIME.lock().await;
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--hide-scrollbars",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut chromium = Guard(Some(child));
        let url = devtools_url(&profile.path().join("DevToolsActivePort")).await;
        let (browser, mut handler) = Browser::connect(url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to chromium's DevTools: {e}"));
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Some(Chromium {
            browser,
            child: chromium.0.take().unwrap(),
            handler,
            _profile: profile,
            _turn: turn,
        })
    }
}

/// The DevTools WebSocket URL, once Chromium has written its port.
async fn devtools_url(file: &std::path::Path) -> String {
    tokio::time::timeout(START, async {
        loop {
            if let Ok(text) = std::fs::read_to_string(file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    return format!("ws://127.0.0.1:{port}{path}");
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("chromium did not open its DevTools port within {START:?}"))
}

/// Kills Chromium's process group (the browser and its renderers) and
/// reaps the browser.
fn kill(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills Chromium if starting it fails half way.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            kill(child);
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        self.handler.abort();
        kill(&mut self.child);
    }
}
