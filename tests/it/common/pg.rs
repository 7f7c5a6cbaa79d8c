//! A throwaway PostgreSQL server for tests: `initdb` into a temporary
//! directory, the server on a free loopback port (and a socket in that
//! directory), with `fsync` off. Nothing depends on a system service.
//!
//! The server outlives no test process: a small watcher (started with it)
//! stops it and removes its directory once the test process is gone, since
//! Rust's test harness runs no destructors for statics.
//!
//! As root, `initdb` and `postgres` run as the `postgres` user (they refuse
//! root). Tests that need PostgreSQL fail with a clear message when it cannot
//! be started; locally, `SWITCHBOARD_SKIP_PG=1` skips them instead (never
//! under `CI`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One running server.
pub struct PgServer {
    dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PgServer {
    /// Initialises a data directory and starts a server on a free port.
    pub fn start() -> Result<PgServer, String> {
        let bin = binaries()?;
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "switchboard-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "cannot hand {} to the postgres user (is there one?)",
                    dir.display()
                ));
            }
        }
        let data = dir.join("data");
        let server = PgServer {
            dir,
            data,
            bin,
            port: 0,
            as_postgres,
        };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )?;
        server.watch();
        let mut server = server;
        let mut last = String::new();
        for _ in 0..3 {
            server.port = free_port();
            match server.resume() {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/{db}`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database; returns its URL.
    pub async fn database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("connect to the test PostgreSQL: {e}"));
        let task = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        drop(client);
        let _ = task.await;
        self.url(&name)
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        let data = self.data.display().to_string();
        if let Err(e) = self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]) {
            panic!("stopping the test PostgreSQL: {e}");
        }
    }

    /// Starts it (again) on its port.
    pub fn resume(&self) -> Result<(), String> {
        let data = self.data.display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        )
        .map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(10).collect();
            format!(
                "{e}\nserver log (last lines, newest first):\n{}",
                tail.join("\n")
            )
        })
    }

    /// Runs one of the server's programs, as `postgres` when we are root.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new(runuser());
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {} failed ({}): {}{}",
                path.display(),
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// Stops the server and removes its directory once this process is gone.
    fn watch(&self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; \
             '{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data.display(),
            dir = self.dir.display(),
        );
        let mut command = if self.as_postgres {
            let mut c = Command::new(runuser());
            c.args(["-u", "postgres", "--", "sh", "-c", &script]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        };
        // Not waited for: it must outlive us. Its exit is reaped by init.
        let _ = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The server shared by a test binary's tests, or `None` (skip) when
/// `SWITCHBOARD_SKIP_PG=1` outside CI. Panics, saying how to fix it, when
/// PostgreSQL cannot be started.
pub fn shared(test: &str) -> Option<&'static PgServer> {
    static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
    if skip(test) {
        return None;
    }
    match SERVER.get_or_init(PgServer::start) {
        Ok(server) => Some(server),
        Err(reason) => unavailable(reason),
    }
}

/// A server of the test's own (to stop and start), with the same rules as
/// [`shared`].
pub fn own(test: &str) -> Option<PgServer> {
    if skip(test) {
        return None;
    }
    match PgServer::start() {
        Ok(server) => Some(server),
        Err(reason) => unavailable(&reason),
    }
}

fn skip(test: &str) -> bool {
    let asked = std::env::var("SWITCHBOARD_SKIP_PG").is_ok_and(|v| v == "1");
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if asked && ci {
        eprintln!(
            "{test}: SWITCHBOARD_SKIP_PG=1 is ignored under CI: PostgreSQL tests always run there"
        );
        return false;
    }
    if asked {
        eprintln!("SKIPPED {test}: SWITCHBOARD_SKIP_PG=1 (a PostgreSQL test; unset it to run)");
    }
    asked
}

fn unavailable(reason: &str) -> ! {
    panic!(
        "this test needs PostgreSQL, which could not be started: {reason}\n\
         Install it (`apt-get install -y postgresql`; .ci/run does), or set \
         SWITCHBOARD_SKIP_PG=1 to skip the PostgreSQL tests locally."
    )
}

/// The directory holding `initdb` and `pg_ctl`: the newest
/// /usr/lib/postgresql/*/bin, else wherever `PATH` finds `initdb`.
fn binaries() -> Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        .ok_or_else(|| "no initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH".to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn runuser() -> &'static Path {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .unwrap_or(Path::new("runuser"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(54_329)
}
