//! Wiring: the accept loop, reload and shutdown.
//!
//! `main` and the tests start the relay the same way: with a bound listener,
//! a compiled runtime and the way to re-read the config. Everything the relay
//! spawns is tracked, so [`Relay::shutdown`] can stop accepting, finish what
//! was accepted within the grace period, and return.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::interpolate::Env;
use crate::dispatch::Dispatcher;
use crate::dispatch::deliver::USER_AGENT;
use crate::ingress::{self, Ingress};
use crate::runtime::{Runtime, Snapshot};
use crate::spool::{Backend, Spool, SpoolError};
use crate::trace::Tracer;

mod controls;
mod load;
mod reload;
mod watch;

pub use load::{LoadError, load};
pub use reload::Core;

/// Reads the environment afresh; called at every load.
pub type EnvSource = Arc<dyn Fn() -> Env + Send + Sync>;

/// How the relay finds its config again on reload.
#[derive(Clone)]
pub struct Options {
    /// The config file.
    pub config: PathBuf,
    /// The environment for `${NAME}`.
    pub env: EnvSource,
}

/// A running relay.
pub struct Relay {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    core: Arc<Core>,
    stop: CancellationToken,
    /// Stops the span exporter, after shutdown's last flush.
    exporter: CancellationToken,
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
        let client = http_client()?;
        let metrics = crate::metrics::install();
        let spool = open_spool(&runtime).await?;
        let ledger = spool.ledger(&runtime.server.spool)?;
        // Read before the workers start: a paused target sends nothing.
        let paused = controls::paused(&ledger).await?;
        crate::metrics::known(&runtime);
        let snapshot = Arc::new(Snapshot::new(runtime));
        let tail = spool.tail();
        let (tracer, spans) = Tracer::new(snapshot.clone());
        let exporter = CancellationToken::new();
        tokio::spawn(crate::trace::export::run(
            spans,
            snapshot.clone(),
            client.clone(),
            exporter.clone(),
        ));
        let dispatcher = Dispatcher::new(
            spool.clone(),
            client,
            snapshot.clone(),
            tail.clone(),
            paused,
            tracer.clone(),
        );
        let ingress = Arc::new(Ingress::new(snapshot.clone(), spool.clone(), tracer));
        let core = Arc::new(Core {
            options,
            snapshot: snapshot.clone(),
            spool,
            ledger,
            tail,
            ingress: ingress.clone(),
            dispatcher,
            last_reload: std::sync::Mutex::new(None),
            attempted: std::sync::Mutex::new(Vec::new()),
        });
        let stop = CancellationToken::new();
        tokio::spawn(prune_client_limits(snapshot.clone(), stop.clone()));
        tokio::spawn(controls::follow(core.clone(), stop.clone()));
        tokio::spawn(watch::watch(core.clone(), stop.clone()));
        let server = serve_ingress(listener, ingress, &snapshot, stop.clone());
        tracing::info!(%addr, "listening");
        let admin = match (admin, admin_addr) {
            (Some(listener), Some(at)) => {
                Some(serve_admin(&core, listener, at, metrics, stop.clone()))
            }
            _ => None,
        };
        Ok(Relay {
            addr,
            admin_addr,
            core,
            stop,
            exporter,
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
        // Watchers of the live tail are let go, so their connections end.
        core.tail.close();
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
        // The last spans (answers and attempts just made) go out, within a
        // bound: a collector that hangs must not hold the shutdown.
        let flushed = tokio::time::timeout(Duration::from_secs(5), core.ingress.tracer.flush());
        if flushed.await.is_err() {
            tracing::warn!("the trace collector did not take the last spans in time");
        }
        self.exporter.cancel();
        tracing::info!(
            pending = core.spool.pending().deliveries,
            "stopped; pending deliveries stay in the spool"
        );
    }
}

/// Starts the webhook listener.
fn serve_ingress(
    listener: TcpListener,
    ingress: Arc<Ingress<Backend>>,
    snapshot: &Snapshot,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let server = &snapshot.load().server;
    tokio::spawn(crate::ingress::listener::serve(
        "ingress",
        listener,
        limits(server, server.max_connections),
        move |peer| ingress::filter(ingress.clone(), peer),
        stop,
    ))
}

/// Starts the admin listener (`at` being its address), reading the spool
/// through the relay's own connection to it (the ledger's).
fn serve_admin(
    core: &Arc<Core>,
    listener: TcpListener,
    at: SocketAddr,
    metrics: PrometheusHandle,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let api = crate::admin::Admin::new(core.clone(), core.ledger.clone(), metrics, at);
    tracing::info!(addr = %at, "admin listening");
    let server = &core.snapshot.load().server;
    tokio::spawn(crate::admin::serve(
        listener,
        api,
        limits(server, server.admin_max_connections),
        stop,
    ))
}

/// The client every delivery goes out through.
fn http_client() -> Result<reqwest::Client, StartError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        // A webhook is not re-sent somewhere a 3xx points to (SSRF).
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(StartError::Client)
}

/// Opens the spool and dead-letters the deliveries of targets the config
/// no longer has.
async fn open_spool(runtime: &Runtime) -> Result<Arc<Backend>, StartError> {
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
    Ok(spool)
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
