//! `switchboard serve`: load the config, bind the listeners, run the relay
//! until SIGTERM or SIGINT, reload on SIGHUP.
//!
//! The relay itself is [`crate::relay`]; this module owns the process's
//! side: the async runtime, the signals, the listening sockets and the exit
//! code. A config that does not load exits 2 before anything is bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::cli::check::report;
use crate::cli::malloc;
use crate::config::interpolate::Env;
use crate::relay::{self, Options, Relay, StartError};

/// Why the relay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen for {name}")]
    Signal {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}{what}")]
    Listen {
        addr: SocketAddr,
        /// Which listener, when not the webhooks'.
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Start(#[from] StartError),
}

/// Runs the relay on the config at `config` until stopped; exits 0 after a
/// drain, 2 when the config does not load or does not fit the open-file
/// limit.
pub fn run(config: PathBuf) -> Result<ExitCode, ServeError> {
    malloc::raise_thresholds();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(serve(config))
}

async fn serve(config: PathBuf) -> Result<ExitCode, ServeError> {
    // Registered first: until then SIGHUP's default action would kill us.
    let mut hangup = listen_for(SignalKind::hangup(), "SIGHUP")?;
    let mut terminate = listen_for(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = listen_for(SignalKind::interrupt(), "SIGINT")?;

    let compiled = match relay::load(&config, &Env::from_process(), None) {
        Ok(compiled) => compiled,
        Err(error) => {
            report(&config, &error);
            return Ok(ExitCode::from(2));
        }
    };
    match crate::descriptors::fit(&compiled) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => {
            eprintln!("{}: {error}", config.display());
            return Ok(ExitCode::from(2));
        }
    }
    let listener = bind(compiled.server.listen, "").await?;
    let options = Options {
        config,
        env: Arc::new(Env::from_process),
    };
    let admin = match compiled.server.admin_listen {
        Some(addr) => Some(bind(addr, " (server.admin_listen)").await?),
        None => None,
    };
    let relay = Relay::start(listener, admin, compiled, options).await?;
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading");
                // Problems are logged by reload; the old config stays.
                let _ = relay.reload().await;
            }
            _ = terminate.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = interrupt.recv() => { tracing::info!("SIGINT: shutting down"); break; }
        }
    }
    relay.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn listen_for(kind: SignalKind, name: &'static str) -> Result<Signal, ServeError> {
    signal(kind).map_err(|source| ServeError::Signal { name, source })
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, what, source })
}
