//! Wiring: the accept loop, reload and shutdown.
//!
//! `main` and the tests start the relay the same way: with a bound listener,
//! a compiled runtime and the way to re-read the config. Everything the relay
//! spawns is tracked, so [`Relay::shutdown`] can stop accepting, finish what
//! was accepted within the grace period, and return.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::{Control, ReloadStatus};
use crate::config::interpolate::Env;
use crate::config::problems::Problems;
use crate::config::{Config, ParseError};
use crate::dispatch::Dispatcher;
use crate::dispatch::deliver::USER_AGENT;
use crate::ingress::{self, Ingress};
use crate::runtime::{Runtime, Snapshot};
use crate::spool::{Backend, Pending, Spool, SpoolError};

/// Reads the environment afresh; called at every load.
pub type EnvSource = Arc<dyn Fn() -> Env + Send + Sync>;

/// Why a config could not be put in force.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Invalid(Problems),
    #[error(
        "server.listen changed from {from} to {to}; a reload cannot move the listener, restart instead"
    )]
    ListenChanged { from: SocketAddr, to: SocketAddr },
    #[error(
        "server.spool or server.admin_listen changed; a reload cannot move them, restart instead"
    )]
    SpoolChanged,
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Parses and compiles the config file. `previous` lends unchanged rate
/// limiters to the new runtime. A relative SQLite `server.spool` is taken
/// relative to the file's directory.
pub fn load(
    path: &std::path::Path,
    env: &Env,
    previous: Option<&Runtime>,
) -> Result<Runtime, LoadError> {
    let parsed = Config::read(&crate::config::read_file(path)?);
    if parsed.config.is_none() {
        return Err(ParseError::Invalid(parsed.problems).into());
    }
    let mut runtime = Runtime::from_parsed(parsed, env, previous).map_err(LoadError::Invalid)?;
    // The same file whatever directory a command runs in (`serve` from a
    // unit file, `dlq` from a shell).
    if let Some(dir) = path.parent() {
        runtime.server.spool = runtime.server.spool.relative_to(dir);
    }
    Ok(runtime)
}

/// How the relay finds its config again on reload.
#[derive(Clone)]
pub struct Options {
    /// The config file.
    pub config: PathBuf,
    /// The environment for `${NAME}`.
    pub env: EnvSource,
}

/// What the ingress, the admin API and the signal handlers share.
pub struct Core {
    /// How to re-read the config.
    pub options: Options,
    /// The config in force.
    pub snapshot: Arc<Snapshot>,
    /// The spool.
    pub spool: Arc<Backend>,
    /// Ingress state (draining flag).
    pub ingress: Arc<Ingress<Backend>>,
    /// The per-target workers.
    pub dispatcher: Arc<Dispatcher<Backend>>,
    /// The last reload's outcome.
    pub last_reload: std::sync::Mutex<Option<ReloadStatus>>,
}

/// A running relay.
pub struct Relay {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    core: Arc<Core>,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    admin: Option<tokio::task::JoinHandle<()>>,
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot read the listener's address: {0}")]
    Listener(#[source] std::io::Error),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

impl Relay {
    /// Opens the spool, starts dispatching what it holds, and serves
    /// `listener` (webhooks) and `admin` (metrics, health, API) with
    /// `runtime`.
    pub async fn start(
        listener: TcpListener,
        admin: Option<TcpListener>,
        runtime: Runtime,
        options: Options,
    ) -> Result<Relay, StartError> {
        let addr = listener.local_addr().map_err(StartError::Listener)?;
        let admin_addr = admin
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()
            .map_err(StartError::Listener)?;
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            // A webhook is not re-sent somewhere a 3xx points to (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(StartError::Client)?;
        let metrics = crate::metrics::install();
        let spool = Arc::new(
            Backend::open(
                &runtime.server.spool,
                runtime.server.commit_batch,
                runtime.server.retention,
                runtime.server.lease,
            )
            .await?,
        );
        let pending = spool.pending();
        tracing::info!(spool = %runtime.server.spool, pending = pending.deliveries, "spool open");
        spool
            .dead_letter_others(runtime.targets.keys().cloned().collect())
            .await?;
        let spool_location = runtime.server.spool.clone();
        let snapshot = Arc::new(Snapshot::new(runtime));
        let dispatcher = Dispatcher::new(spool.clone(), client, snapshot.clone());
        let ingress = Arc::new(Ingress::new(snapshot.clone(), spool.clone()));
        let core = Arc::new(Core {
            options,
            snapshot: snapshot.clone(),
            spool,
            ingress: ingress.clone(),
            dispatcher,
            last_reload: std::sync::Mutex::new(None),
        });
        let stop = CancellationToken::new();
        tokio::spawn(prune_client_limits(snapshot.clone(), stop.clone()));
        let server = {
            let ingress = ingress.clone();
            tokio::spawn(crate::ingress::listener::serve(
                "ingress",
                listener,
                limits(
                    &snapshot.load().server,
                    snapshot.load().server.max_connections,
                ),
                move |peer| ingress::filter(ingress.clone(), peer),
                stop.clone(),
            ))
        };
        tracing::info!(%addr, "listening");
        let admin = match admin {
            Some(listener) => {
                let ledger = core.spool.ledger(&spool_location)?;
                let api = crate::admin::Admin::new(
                    core.clone(),
                    ledger,
                    metrics,
                    listener.local_addr().map_err(StartError::Listener)?,
                );
                let server = &core.snapshot.load().server;
                if let Some(admin_addr) = admin_addr {
                    tracing::info!(addr = %admin_addr, "admin listening");
                }
                Some(tokio::spawn(crate::admin::serve(
                    listener,
                    api,
                    limits(server, server.admin_max_connections),
                    stop.clone(),
                )))
            }
            None => None,
        };
        Ok(Relay {
            addr,
            admin_addr,
            core,
            stop,
            server,
            admin,
        })
    }

    /// The ingress address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin listener's address, if it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The runtime in force.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.core.snapshot.load()
    }

    /// Re-reads the config file and the environment, and puts the result in
    /// force if it is valid; otherwise the old config stays and every problem
    /// is logged and returned. What SIGHUP does.
    pub async fn reload(&self) -> Result<(), LoadError> {
        self.core.reload().await
    }

    /// Drains, then stops. While in-flight attempts finish (up to
    /// `server.shutdown_grace`) both listeners stay open: new webhooks are
    /// answered 503 with `Retry-After`, `/readyz` 503 and `/healthz` 200, so
    /// a load balancer sees the relay leave instead of refused connections.
    /// Then the listeners close and open requests finish. Everything not yet
    /// delivered stays in the spool for the next start.
    pub async fn shutdown(self) {
        let core = &self.core;
        let grace = core.snapshot.load().server.shutdown_grace;
        core.ingress.drain();
        let pending = core.spool.pending().deliveries;
        tracing::info!(
            pending,
            grace_secs = grace.as_secs(),
            "draining: new webhooks are answered 503 while in-flight attempts finish"
        );
        if core.dispatcher.drain(grace).await {
            tracing::info!("in-flight attempts finished");
        } else {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "grace period over; unfinished attempts will be repeated after restart"
            );
        }
        self.stop.cancel();
        if let Err(error) = self.server.await {
            tracing::error!(%error, "the accept loop ended abnormally");
        }
        if let Some(admin) = self.admin
            && let Err(error) = admin.await
        {
            tracing::error!(%error, "the admin listener ended abnormally");
        }
        if let Err(error) = core.spool.close().await {
            tracing::error!(%error, "could not flush the spool; the last outcomes will be repeated after restart");
        }
        tracing::info!(
            pending = core.spool.pending().deliveries,
            "stopped; pending deliveries stay in the spool"
        );
    }
}

impl Core {
    /// See [`Relay::reload`].
    pub async fn reload(&self) -> Result<(), LoadError> {
        let current = self.snapshot.load();
        let result =
            load(&self.options.config, &(self.options.env)(), Some(&current)).and_then(|next| {
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
                Ok(next)
            });
        // Deliveries of targets the new config drops become dead letters
        // before it is in force, so none is left waiting for a target that
        // no longer exists.
        let result = match result {
            Ok(next) => match self
                .spool
                .dead_letter_others(next.targets.keys().cloned().collect())
                .await
            {
                Ok(_) => Ok(next),
                Err(error) => Err(LoadError::Spool(error)),
            },
            Err(error) => Err(error),
        };
        let at_ms = crate::time::now_ms();
        crate::metrics::reload(result.is_ok(), at_ms as f64 / 1000.0);
        let status = |ok: bool, problems: Vec<String>| {
            Some(ReloadStatus {
                at_ms,
                ok,
                problems,
            })
        };
        match result {
            Ok(next) => {
                let next = Arc::new(next);
                self.snapshot.store(next.clone());
                self.dispatcher.sync(&next);
                *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) =
                    status(true, Vec::new());
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
                *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) =
                    status(false, problems);
                Err(error)
            }
        }
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

    fn circuits(&self) -> HashMap<String, &'static str> {
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
}

/// Forgets idle clients of the per-source rate limits once a minute, so
/// their memory stays bounded by the clients of the last minute.
async fn prune_client_limits(snapshot: Arc<Snapshot>, stop: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = stop.cancelled() => return,
        }
        for source in snapshot.load().sources.values() {
            if let Some(limit) = &source.limit {
                limit.prune();
            }
        }
    }
}

/// A listener's limits from the server settings, with its own cap.
fn limits(
    server: &crate::runtime::Server,
    max_connections: usize,
) -> crate::ingress::listener::Limits {
    crate::ingress::listener::Limits {
        max_connections,
        header_timeout: server.header_timeout,
        body_timeout: server.body_timeout,
        grace: server.shutdown_grace,
    }
}
