//! [`Core`]: what the ingress, the admin API and the signal handlers share,
//! and putting a re-read config in force (SIGHUP, `POST /api/reload`).
//!
//! A reload either replaces the whole snapshot or changes nothing: the old
//! config stays in force on any problem, and every problem is logged and
//! kept for the status API. Must not start or stop anything but what the
//! new config's targets need (`Dispatcher::sync`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{LoadError, Options, load};
use crate::admin::{Control, PauseError, ReloadStatus};
use crate::dispatch::Dispatcher;
use crate::dispatch::controls::{ProbeError, Probed};
use crate::dispatch::series::Series;
use crate::ingress::Ingress;
use crate::runtime::{Runtime, Snapshot};
use crate::spool::{Backend, LedgerBackend, Pending, Spool, SpoolError};
use crate::stamp::Stamp;
use crate::tail::{Event, Tail};

/// What the ingress, the admin API and the signal handlers share.
pub struct Core {
    /// How to re-read the config.
    pub options: Options,
    /// The config in force.
    pub snapshot: Arc<Snapshot>,
    /// The spool.
    pub spool: Arc<Backend>,
    /// The operator's view of the spool, on a connection of its own (the
    /// admin API's, and where pauses are kept).
    pub ledger: LedgerBackend,
    /// The live tail.
    pub tail: Tail,
    /// Ingress state (draining flag).
    pub ingress: Arc<Ingress<Backend>>,
    /// The per-target workers.
    pub dispatcher: Arc<Dispatcher<Backend>>,
    /// The last reload's outcome.
    pub last_reload: std::sync::Mutex<Option<ReloadStatus>>,
    /// The files the last reload read or tried to, with their versions then,
    /// whether it was put in force or not (so that `server.watch_config`
    /// does not retry a rejected version, and does retry when a secret a
    /// rejected config lacked appears).
    pub attempted: std::sync::Mutex<Vec<(PathBuf, Stamp)>>,
}

impl Core {
    /// See [`super::Relay::reload`].
    pub async fn reload(&self) -> Result<(), LoadError> {
        let result = self.next().await;
        let at_ms = crate::time::now_ms();
        crate::metrics::reload(result.is_ok(), at_ms as f64 / 1000.0);
        match result {
            Ok(next) => {
                let next = Arc::new(next);
                crate::metrics::known(&next);
                self.snapshot.store(next.clone());
                // A target the new config adds may have been paused before.
                self.follow_paused().await;
                self.dispatcher.sync(&next);
                self.record(at_ms, true, Vec::new());
                tracing::info!(
                    routes = next.routes.0.len(),
                    targets = next.targets.len(),
                    sources = next.sources.len(),
                    "reloaded config"
                );
                Ok(())
            }
            Err(error) => {
                let problems: Vec<String> = match &error {
                    LoadError::Invalid(problems) => {
                        problems.iter().map(ToString::to_string).collect()
                    }
                    other => vec![other.to_string()],
                };
                for problem in &problems {
                    tracing::error!(%problem, "reload rejected; the previous config stays in force");
                }
                self.record(at_ms, false, problems);
                Err(error)
            }
        }
    }

    /// The config file read again, if it may replace the one in force.
    async fn next(&self) -> Result<Runtime, LoadError> {
        let current = self.snapshot.load();
        let env = (self.options.env)();
        let next = load(&self.options.config, &env, Some(&current));
        *self.attempted.lock().unwrap_or_else(|e| e.into_inner()) = env.files();
        let next = next?;
        if next.server.listen != current.server.listen {
            return Err(LoadError::ListenChanged {
                from: current.server.listen,
                to: next.server.listen,
            });
        }
        if next.server.spool != current.server.spool
            || next.server.admin_listen != current.server.admin_listen
        {
            return Err(LoadError::SpoolChanged);
        }
        // Deliveries of targets the new config drops become dead letters
        // before it is in force, so none is left waiting for a target that
        // no longer exists.
        self.spool
            .dead_letter_others(next.targets.keys().cloned().collect())
            .await
            .map_err(LoadError::Spool)?;
        Ok(next)
    }

    /// The files `server.watch_config` watches, with the versions last
    /// read: those the last reload tried, then those of the config in force
    /// it did not read.
    pub fn watched(&self) -> Vec<(PathBuf, Stamp)> {
        let mut files = self
            .attempted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (file, stamp) in &self.snapshot.load().files {
            if !files.iter().any(|(f, _)| f == file) {
                files.push((file.clone(), *stamp));
            }
        }
        files
    }

    /// Keeps a reload's outcome for the status API, and tells the tail.
    fn record(&self, at_ms: i64, ok: bool, problems: Vec<String>) {
        self.tail.publish(|| Event::Reload {
            ok,
            problems: problems.clone(),
            at_ms,
        });
        *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(ReloadStatus {
            at_ms,
            ok,
            problems,
        });
    }
}

/// The admin API's view of the relay.
impl Control for Core {
    fn runtime(&self) -> Arc<Runtime> {
        self.snapshot.load()
    }

    fn draining(&self) -> bool {
        self.ingress.is_draining()
    }

    fn pending(&self) -> Pending {
        self.spool.pending()
    }

    async fn flush(&self) -> Result<(), SpoolError> {
        self.spool.flush().await
    }

    fn wake_dispatch(&self) {
        self.dispatcher.wake_all();
    }

    fn pending_moved(&self, entered: Pending, left: Pending) {
        self.spool.pending_moved(entered, left);
    }

    fn forget(&self, ids: &[i64]) {
        self.dispatcher.forget(ids);
    }

    fn circuits(&self) -> HashMap<String, crate::dispatch::circuit::Status> {
        self.dispatcher.circuits()
    }

    fn window_bytes(&self) -> HashMap<String, u64> {
        self.dispatcher.window_bytes()
    }

    async fn reload(&self) -> bool {
        Core::reload(self).await.is_ok()
    }

    fn last_reload(&self) -> Option<ReloadStatus> {
        self.last_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn paused(&self) -> HashSet<String> {
        self.dispatcher.paused()
    }

    async fn set_paused(
        &self,
        target: &str,
        paused: bool,
        by: Option<String>,
    ) -> Result<bool, PauseError> {
        self.pause(target, paused, by).await
    }

    async fn probe(&self, target: &str) -> Result<oneshot::Receiver<Probed>, ProbeError> {
        self.probe_now(target).await
    }

    fn series(&self, target: &str) -> Option<Arc<Series>> {
        self.dispatcher.series(target)
    }

    fn tail(&self) -> Tail {
        self.tail.clone()
    }

    fn config_path(&self) -> std::path::PathBuf {
        self.options.config.clone()
    }

    fn ingress(&self) -> HashMap<String, crate::ingress::tally::Figures> {
        let runtime = self.snapshot.load();
        self.ingress
            .tally
            .figures(runtime.sources.keys(), crate::time::now_ms())
    }
}
