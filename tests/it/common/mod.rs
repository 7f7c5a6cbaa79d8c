#![allow(dead_code, unused_imports)]
//! Shared test harness: the relay in-process on 127.0.0.1:0, configured from
//! a YAML string written to a temporary file, and fake downstreams.

pub mod binary;
pub mod collector;
pub mod fake;
pub mod mixed;
pub mod pg;
pub mod tools;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::config::interpolate::Env;
use switchboard::relay::{self, LoadError, Options, Relay};

pub use fake::{FakeTarget, Reply};

/// Long enough for a loaded CI machine, short enough to fail fast.
pub const WAIT: Duration = Duration::from_secs(10);

/// A fixture's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture parsed.
pub fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// A relay running in this process.
pub struct TestRelay {
    pub relay: Relay,
    pub config: PathBuf,
    pub env: Arc<Mutex<HashMap<String, String>>>,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl TestRelay {
    /// Starts a relay on `yaml`, panicking with the problems if it is invalid.
    pub async fn start(yaml: &str) -> TestRelay {
        Self::start_with_env(yaml, &[]).await
    }

    /// Starts a relay on `yaml` with these environment variables (and no others).
    pub async fn start_with_env(yaml: &str, vars: &[(&str, &str)]) -> TestRelay {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("routes.yaml");
        let spool = dir.path().join("spool.db");
        let yaml = with_spool(yaml, &spool);
        std::fs::write(&config, &yaml).unwrap();
        Self::start_on(dir, config, vars).await
    }

    /// Starts a relay on a config file already in `dir` (which it keeps),
    /// with these environment variables (and no others).
    pub async fn start_on(
        dir: tempfile::TempDir,
        config: PathBuf,
        vars: &[(&str, &str)],
    ) -> TestRelay {
        let env: Arc<Mutex<HashMap<String, String>>> = Arc::new(Mutex::new(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        let env_source = {
            let env = env.clone();
            Arc::new(move || Env::from_map(env.lock().unwrap().clone()))
        };
        let runtime = relay::load(&config, &env_source(), None)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay::start(
            listener,
            Some(admin),
            runtime,
            Options {
                config: config.clone(),
                env: env_source,
            },
        )
        .await
        .unwrap();
        TestRelay {
            relay,
            config,
            env,
            client: reqwest::Client::builder().timeout(WAIT).build().unwrap(),
            _dir: dir,
        }
    }

    /// Shuts the relay down (SIGTERM's path) and starts a new one on the same
    /// config file and spool, as a restart would.
    pub async fn restart(self) -> TestRelay {
        self.restart_with(|| {}).await
    }

    /// [`TestRelay::restart`], running `between` after the shutdown and
    /// before the new start (to change files a running relay holds).
    pub async fn restart_with(self, between: impl FnOnce()) -> TestRelay {
        let TestRelay {
            relay,
            config,
            env,
            client,
            _dir,
        } = self;
        relay.shutdown().await;
        between();
        let env_source = {
            let env = env.clone();
            Arc::new(move || Env::from_map(env.lock().unwrap().clone()))
        };
        let runtime = relay::load(&config, &env_source(), None).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = Options {
            config: config.clone(),
            env: env_source,
        };
        let relay = Relay::start(listener, Some(admin), runtime, options)
            .await
            .unwrap();
        TestRelay {
            relay,
            config,
            env,
            client,
            _dir,
        }
    }

    /// Starts SIGTERM's path in the background; the task ends when the
    /// relay has stopped.
    pub fn terminate(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let TestRelay { relay, _dir, .. } = self;
            relay.shutdown().await;
            drop(_dir);
        })
    }

    /// `http://127.0.0.1:PORT{path}` on the admin listener.
    pub fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.relay.admin_addr().unwrap())
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let answer = self.client.get(self.admin("/metrics")).send().await;
        answer.unwrap().text().await.unwrap()
    }

    /// GETs a path of the admin listener (no token) as JSON.
    pub async fn admin_json(&self, path: &str) -> serde_json::Value {
        self.client
            .get(self.admin(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The value of the `/metrics` series written `series` (name and
    /// labels, e.g. `switchboard_target_paused{target="crm"}`), if present.
    pub async fn metric(&self, series: &str) -> Option<String> {
        let text = self.metrics().await;
        let series = format!("{series} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series).map(str::to_owned))
    }

    /// `http://127.0.0.1:PORT/hooks/{source}`.
    pub fn hook(&self, source: &str) -> String {
        format!("http://{}/hooks/{source}", self.relay.local_addr())
    }

    /// POSTs a JSON body to a source.
    pub async fn post(&self, source: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.hook(source))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs and asserts 202; returns the response JSON.
    pub async fn accept(&self, source: &str, body: impl Into<reqwest::Body>) -> serde_json::Value {
        let response = self.post(source, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 202, "expected 202, got {status}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Waits until a search by `key=value` (with this admin token, if the
    /// relay has tokens) finds webhook `id`: the key index is written a
    /// moment after the commit (the 202).
    pub async fn wait_indexed(&self, key: &str, value: &str, id: &str, token: Option<&str>) {
        let path = self.admin(&format!("/api/events?key.{key}={value}&limit=100"));
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let mut ask = self.client.get(&path);
                if let Some(token) = token {
                    ask = ask.bearer_auth(token);
                }
                let page: serde_json::Value = ask.send().await.unwrap().json().await.unwrap();
                if page["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|e| e["id"] == id))
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(found.is_ok(), "{key}={value} never found {id}");
    }

    /// The id of a webhook POSTed to `source`, asserting a 202.
    pub async fn accept_id(&self, source: &str, body: impl Into<reqwest::Body>) -> String {
        let answer = self.accept(source, body).await;
        answer["id"].as_str().unwrap().to_owned()
    }

    /// Replaces the config file and reloads, as SIGHUP would.
    pub async fn reload_with(&self, yaml: &str) -> Result<(), LoadError> {
        let spool = self.config.with_file_name("spool.db");
        std::fs::write(&self.config, with_spool(yaml, &spool)).unwrap();
        self.relay.reload().await
    }
}

/// Puts `server.spool` into a test config that does not set it, so every
/// test has its own spool in its temporary directory.
pub fn with_spool(yaml: &str, spool: &Path) -> String {
    if yaml.contains("spool:") {
        return yaml.to_owned();
    }
    let path = spool.display();
    if let Some(at) = yaml.find("server:\n") {
        let (head, tail) = yaml.split_at(at + "server:\n".len());
        format!("{head}  spool: \"{path}\"\n{tail}")
    } else if yaml.contains("server: {") {
        yaml.replacen("server: {", &format!("server: {{spool: \"{path}\", "), 1)
    } else {
        format!("server: {{spool: \"{path}\"}}\n{yaml}")
    }
}
