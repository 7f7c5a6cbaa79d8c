//! The `switchboard` command: CLI, logging, signals, exit codes. No logic.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::signal::unix::{SignalKind, signal};

use switchboard::interpolate::Env;
use switchboard::relay::{self, LoadError, Options, Relay};
use switchboard::spool::DeadFilter;
use switchboard::spool::sqlite::dlq;

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
    /// Dead letters in the spool: list, replay or purge them.
    ///
    /// Works on the spool file directly, also while the relay runs: a running
    /// relay picks replayed deliveries up within a few seconds.
    ///
    /// Examples:
    ///   switchboard dlq list --config routes.yaml --target crm
    ///   switchboard dlq replay --config routes.yaml --target crm
    ///   switchboard dlq purge --config routes.yaml --before 7d
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
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

#[derive(Subcommand)]
enum DlqAction {
    /// List dead letters, oldest first.
    ///
    /// Example: switchboard dlq list --config routes.yaml --target crm --json
    List {
        #[command(flatten)]
        select: DlqSelect,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make dead letters due again (attempts reset); the relay sends them.
    ///
    /// Example: switchboard dlq replay --config routes.yaml --id 019a...
    Replay {
        #[command(flatten)]
        select: DlqSelect,
    },
    /// Delete dead letters for good.
    ///
    /// Example: switchboard dlq purge --config routes.yaml --before 30d
    Purge {
        #[command(flatten)]
        select: DlqSelect,
    },
}

#[derive(clap::Args)]
struct DlqSelect {
    /// Path of routes.yaml (names the spool file).
    #[arg(long, short)]
    config: PathBuf,
    /// Only this target.
    #[arg(long)]
    target: Option<String>,
    /// Only these webhook ids (repeatable).
    #[arg(long = "id")]
    ids: Vec<String>,
    /// Only dead letters older than this: a duration ago (`7d`, `24h`) or an
    /// RFC 3339 time (`2026-11-01T00:00:00Z`).
    #[arg(long)]
    before: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Dlq { action } => match dlq(action) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("switchboard: {error:#}");
                ExitCode::from(1)
            }
        },
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

fn dlq(action: DlqAction) -> anyhow::Result<()> {
    let select = match &action {
        DlqAction::List { select, .. }
        | DlqAction::Replay { select }
        | DlqAction::Purge { select } => select,
    };
    let runtime = relay::load(&select.config, &Env::from_process(), None)
        .map_err(|e| anyhow::anyhow!("{}: {e}", select.config.display()))?;
    let conn = dlq::open(&runtime.server.spool)?;
    let before_ms = select.before.as_deref().map(parse_before).transpose()?;
    let filter = DeadFilter {
        target: select.target.clone(),
        events: select.ids.clone(),
        before_ms,
    };
    match action {
        DlqAction::List { json, .. } => {
            let dead = dlq::list(&conn, &filter)?;
            if json {
                for letter in &dead {
                    println!("{}", serde_json::to_string(letter)?);
                }
            } else {
                println!(
                    "{:<36}  {:<12}  {:>8}  {:>6}  {:<20}  ERROR",
                    "WEBHOOK", "TARGET", "ATTEMPTS", "STATUS", "DEAD SINCE"
                );
                for d in &dead {
                    let status = d
                        .last_status
                        .map_or_else(|| "-".to_owned(), |s| s.to_string());
                    println!(
                        "{:<36}  {:<12}  {:>8}  {:>6}  {:<20}  {}",
                        d.event,
                        d.target,
                        d.attempts,
                        status,
                        time(d.dead_ms),
                        d.last_error.as_deref().unwrap_or("")
                    );
                }
                eprintln!(
                    "{} dead letter{}",
                    dead.len(),
                    if dead.len() == 1 { "" } else { "s" }
                );
            }
        }
        DlqAction::Replay { .. } => {
            println!("{} dead letter(s) due again", dlq::replay(&conn, &filter)?)
        }
        DlqAction::Purge { .. } => {
            println!("{} dead letter(s) purged", dlq::purge(&conn, &filter)?)
        }
    }
    Ok(())
}

/// `7d` (that long ago) or an RFC 3339 time, as unix milliseconds.
fn parse_before(text: &str) -> anyhow::Result<i64> {
    let now = std::time::SystemTime::now();
    let at = match switchboard::units::duration(text) {
        Ok(ago) => now - ago,
        Err(_) => humantime::parse_rfc3339_weak(text)
            .map_err(|_| anyhow::anyhow!("--before `{text}`: not a duration (7d, 24h) or an RFC 3339 time (2026-11-01T00:00:00Z)"))?,
    };
    Ok(switchboard::deliver::unix_ms(at))
}

fn time(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
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
