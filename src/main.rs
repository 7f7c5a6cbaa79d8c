//! The `switchboard` command: CLI, logging, signals, exit codes. No logic.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::signal::unix::{SignalKind, signal};

use switchboard::interpolate::Env;
use switchboard::relay::{self, LoadError, Options, Relay};

/// Webhook fan-out relay: receives webhooks, routes them by YAML rules, and
/// forwards the payload or a transformed subset to several targets.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay. SIGHUP reloads the config; SIGTERM drains and stops.
    ///
    /// Example: switchboard serve --config routes.yaml
    Serve {
        /// Path of routes.yaml.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config and print every problem; exits 1 if there are any.
    ///
    /// Example: switchboard check --config routes.yaml
    Check {
        /// Path of routes.yaml.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Serve { config } => match serve(config) {
            Ok(code) => code,
            Err(error) => {
                tracing::error!("{error:#}");
                eprintln!("switchboard: {error:#}");
                ExitCode::from(1)
            }
        },
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match relay::load(path, &Env::from_process(), None) {
        Ok(runtime) => {
            println!(
                "{}: ok ({} sources, {} targets, {} routes)",
                path.display(),
                runtime.sources.len(),
                runtime.targets.len(),
                runtime.routes.0.len()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            report(path, &error);
            ExitCode::from(1)
        }
    }
}

fn report(path: &std::path::Path, error: &LoadError) {
    match error {
        LoadError::Invalid(problems) => {
            let n = problems.iter().count();
            eprintln!(
                "{}: {n} problem{}:",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            for problem in problems.iter() {
                eprintln!("  {problem}");
            }
        }
        other => eprintln!("{}: {other}", path.display()),
    }
}

fn serve(config: PathBuf) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Registered first: until then SIGHUP's default action would kill us.
        let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;

        let compiled = match relay::load(&config, &Env::from_process(), None) {
            Ok(compiled) => compiled,
            Err(error) => {
                report(&config, &error);
                return Ok(ExitCode::from(2));
            }
        };
        let listen = compiled.server.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let options = Options {
            config,
            env: Arc::new(Env::from_process),
        };
        let relay = Relay::start(listener, compiled, options).await?;
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
    })
}
