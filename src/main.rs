//! The `switchboard` command: CLI, logging, signals, exit codes. No logic.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::signal::unix::{SignalKind, signal};

use switchboard::admin::dead_letters::{SelectError, Selection, Use};
use switchboard::cli::explain;
use switchboard::config::interpolate::Env;
use switchboard::config::{Config, ParseError};
use switchboard::relay::{self, LoadError, Options, Relay};
use switchboard::runtime::Runtime;
use switchboard::spool::{Ledger, LedgerBackend};

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
    /// Works on the spool (the SQLite file or the PostgreSQL database)
    /// directly, also while relays run: they pick replayed deliveries up
    /// within a few seconds.
    #[command(after_long_help = DLQ_EXAMPLES)]
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Validate a config and print every problem; exits 1 if there are any.
    ///
    /// Each problem is printed as `FILE:LINE:COLUMN: KEY: what is wrong`.
    ///
    /// Example: switchboard check --config routes.yaml
    Check {
        /// Path of routes.yaml.
        #[arg(long, short)]
        config: PathBuf,
        /// Check structure and rules without the deployment's environment
        /// and secrets (for CI): `${NAME}` without a default and
        /// `{file: ...}` secrets are not read, and not errors.
        #[arg(long)]
        no_env: bool,
    },
    /// Show what the relay would do with one payload, and why.
    ///
    /// Runs the routing and transforms `serve` runs, and sends nothing: every
    /// route in order with each condition's verdict and evidence, then each
    /// target that would receive the webhook, with the route that chose it,
    /// the exact body and the headers (configured values print as
    /// <redacted>, URLs as their origin).
    #[command(after_long_help = EXPLAIN_EXAMPLES)]
    Explain {
        /// Path of routes.yaml.
        #[arg(long, short)]
        config: PathBuf,
        /// The webhook body (a JSON file); `-` reads standard input.
        payload: PathBuf,
        /// The source it arrives on. Default: the only source.
        #[arg(long)]
        source: Option<String>,
        /// A request header for `header` conditions and the source's token,
        /// `Name: value`; repeatable.
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of routes.yaml, for editors and CI.
    ///
    /// Derived from the same types the relay parses: every key with its
    /// meaning and default, unknown keys rejected.
    #[command(after_long_help = SCHEMA_EXAMPLE)]
    Schema,
}

// Examples in `after_long_help`: clap joins the lines of a doc paragraph.
const DLQ_EXAMPLES: &str = "\
Examples:
  switchboard dlq list --config routes.yaml --target crm
  switchboard dlq replay --config routes.yaml --target crm
  switchboard dlq purge --config routes.yaml --before 7d";

const EXPLAIN_EXAMPLES: &str = "\
Examples:
  switchboard explain --config routes.yaml payload.json
  switchboard explain --config routes.yaml payload.json --source sipgate \\
      --header 'X-Agent: reception' --json
  jq '.call.from = \"anonymous\"' payload.json | switchboard explain -c routes.yaml -";

const SCHEMA_EXAMPLE: &str = "\
Example:
  switchboard schema > routes.schema.json
  # then, as the first line of routes.yaml (yaml-language-server, VS Code):
  # yaml-language-server: $schema=./routes.schema.json";

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
    /// Needs a selector (--target, --id, --before) or --all. Example:
    /// switchboard dlq replay --config routes.yaml --id 019a...
    Replay {
        #[command(flatten)]
        select: DlqSelect,
        /// Every dead letter (instead of a selector).
        #[arg(long, conflicts_with_all = ["target", "ids", "before"])]
        all: bool,
    },
    /// Delete dead letters for good.
    ///
    /// Needs a selector (--target, --id, --before) or --all. Example:
    /// switchboard dlq purge --config routes.yaml --before 30d
    Purge {
        #[command(flatten)]
        select: DlqSelect,
        /// Every dead letter (instead of a selector).
        #[arg(long, conflicts_with_all = ["target", "ids", "before"])]
        all: bool,
    },
}

#[derive(clap::Args)]
struct DlqSelect {
    /// Path of routes.yaml (names the spool; a relative SQLite path is
    /// relative to this file's directory).
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
    // Held to the end of main: dropping it flushes the log lines still queued.
    let _log_flush = init_logging(cli.log_format);
    match cli.command {
        Command::Check { config, no_env } => check(&config, no_env),
        Command::Explain {
            config,
            payload,
            source,
            headers,
            json,
        } => explain(&config, &payload, source.as_deref(), &headers, json),
        Command::Schema => match serde_json::to_string_pretty(&Config::schema()) {
            Ok(schema) => {
                println!("{schema}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("switchboard: {error}");
                ExitCode::from(1)
            }
        },
        Command::Dlq { action } => match dlq(action) {
            Ok(()) => ExitCode::SUCCESS,
            // `dlq list | head`: the reader has what it wanted.
            Err(error) if broken_pipe(&error) => ExitCode::SUCCESS,
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

/// Logs go to stderr through a writer thread: handlers format a line but do
/// not make the write syscall (with synchronous writes, logging at info cost
/// about 15% of the CPU per webhook against warn in bench/run.sh; now about
/// 5%). Not lossy: a full buffer slows the logger down rather than dropping
/// lines.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Buffered: the writer thread drains every line waiting, then flushes,
    // so a burst costs one write instead of one per line, and a quiet relay
    // still shows each line at once.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    // Colours only for a person at a terminal: a journal, a file or a log
    // shipper gets plain text (and the escape codes cost time per line).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    // Logged values carry input (source names, addresses, parse errors,
    // target answers): escaped, so that none can start a forged line.
    match format {
        LogFormat::Text => builder
            .fmt_fields(switchboard::logs::EscapedFields)
            .with_writer(writer)
            .init(),
        LogFormat::Json => builder
            .event_format(switchboard::logs::JsonLines)
            .with_writer(switchboard::logs::JsonSafe(writer))
            .init(),
    }
    guard
}

fn check(path: &std::path::Path, no_env: bool) -> ExitCode {
    if no_env {
        let checked = switchboard::config::read_file(path)
            .map_err(LoadError::Parse)
            .and_then(|text| Runtime::check_without_env(&text).map_err(LoadError::Invalid));
        return match checked {
            Ok(summary) => {
                println!(
                    "{}: ok ({} sources, {} targets, {} routes; environment variables and secrets files not read)",
                    path.display(),
                    summary.sources,
                    summary.targets,
                    summary.routes
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                report(path, &error);
                ExitCode::from(1)
            }
        };
    }
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

fn explain(
    config: &std::path::Path,
    payload: &std::path::Path,
    source: Option<&str>,
    headers: &[String],
    json: bool,
) -> ExitCode {
    let runtime = match relay::load(config, &Env::from_process(), None) {
        Ok(runtime) => runtime,
        Err(error) => {
            report(config, &error);
            return ExitCode::from(1);
        }
    };
    let run = || -> anyhow::Result<String> {
        let mut map = http::HeaderMap::new();
        for text in headers {
            let (name, value) = explain::parse_header(text)?;
            map.append(name, value);
        }
        let raw = if payload == std::path::Path::new("-") {
            let mut raw = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut raw)
                .context("cannot read the payload from standard input")?;
            raw
        } else {
            std::fs::read(payload).with_context(|| format!("cannot read {}", payload.display()))?
        };
        let explanation = explain::explain(&runtime, source, &map, &raw.into())
            .with_context(|| payload.display().to_string())?;
        Ok(if json {
            serde_json::to_string_pretty(&explanation)? + "\n"
        } else {
            explanation.to_string()
        })
    };
    match run() {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("switchboard: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn dlq(action: DlqAction) -> anyhow::Result<()> {
    let (select, all, used, verb) = match &action {
        DlqAction::List { select, .. } => (select, false, Use::List, "list"),
        DlqAction::Replay { select, all } => (select, *all, Use::Change, "replay"),
        DlqAction::Purge { select, all } => (select, *all, Use::Change, "purge"),
    };
    let runtime = relay::load(&select.config, &Env::from_process(), None)
        .map_err(|e| anyhow::anyhow!("{}: {e}", select.config.display()))?;
    let selection = Selection {
        target: select.target.clone(),
        ids: select.ids.clone(),
        before_ms: select.before.as_deref().map(parse_before).transpose()?,
        all,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let ledger = rt
        .block_on(LedgerBackend::open(&runtime.server.spool))
        .with_context(|| format!("cannot open the spool {}", runtime.server.spool))?;
    let filter = rt
        .block_on(selection.check(used, &runtime, || ledger.backlog()))
        .map_err(|e| match e {
            SelectError::Nothing => anyhow::anyhow!(
                "refusing to {verb} every dead letter: select some with --target, --id or --before, or pass --all"
            ),
            other => other.into(),
        })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match action {
        DlqAction::List { json, .. } => {
            let dead = rt.block_on(ledger.dead_letters(&filter))?;
            if json {
                for letter in &dead {
                    writeln!(out, "{}", serde_json::to_string(letter)?)?;
                }
            } else {
                writeln!(
                    out,
                    "{:<36}  {:<12}  {:>8}  {:>6}  {:<20}  ERROR",
                    "WEBHOOK", "TARGET", "ATTEMPTS", "STATUS", "DEAD SINCE"
                )?;
                for d in &dead {
                    let status = d
                        .last_status
                        .map_or_else(|| "-".to_owned(), |s| s.to_string());
                    writeln!(
                        out,
                        "{:<36}  {:<12}  {:>8}  {:>6}  {:<20}  {}",
                        d.event,
                        d.target,
                        d.attempts,
                        status,
                        time(d.dead_ms),
                        d.last_error.as_deref().unwrap_or("")
                    )?;
                }
                out.flush()?;
                eprintln!(
                    "{} dead letter{}",
                    dead.len(),
                    if dead.len() == 1 { "" } else { "s" }
                );
            }
        }
        DlqAction::Replay { .. } => writeln!(
            out,
            "{} dead letter(s) due again",
            rt.block_on(ledger.replay(&filter))?
        )?,
        DlqAction::Purge { .. } => writeln!(
            out,
            "{} dead letter(s) purged",
            rt.block_on(ledger.purge(&filter))?
        )?,
    }
    out.flush()?;
    Ok(())
}

/// Whether writing to stdout failed because its reader has gone.
fn broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `7d` (that long ago) or an RFC 3339 time, as unix milliseconds.
fn parse_before(text: &str) -> anyhow::Result<i64> {
    let now = std::time::SystemTime::now();
    let at = match switchboard::config::units::duration(text) {
        Ok(ago) => now - ago,
        Err(_) => humantime::parse_rfc3339_weak(text)
            .map_err(|_| anyhow::anyhow!("--before `{text}`: not a duration (7d, 24h) or an RFC 3339 time (2026-11-01T00:00:00Z)"))?,
    };
    Ok(switchboard::time::unix_ms(at))
}

fn time(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

fn report(path: &std::path::Path, error: &LoadError) {
    match error {
        LoadError::Invalid(problems) | LoadError::Parse(ParseError::Invalid(problems)) => {
            let n = problems.iter().count();
            eprintln!(
                "{}: {n} problem{}:",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            for problem in problems.iter() {
                eprintln!("  {}", problem.in_file(path));
            }
        }
        other => eprintln!("{}: {other}", path.display()),
    }
}

/// Raises glibc's malloc thresholds the one way safe code can: freeing a
/// block that was mapped on its own moves the mmap threshold up to its size
/// and the trim threshold to twice that (mallopt(3), M_MMAP_THRESHOLD,
/// "dynamic adjustment").
///
/// With the defaults (128 KiB), the spool writer's every commit ended by
/// freeing the copies of its batch's bodies, finding more than 128 KiB free
/// at the top of its arena and handing it back with `madvise`, only to fault
/// it in again for the next batch: 8% of the relay's CPU at half load, plus
/// TLB flushes on the other cores. After this, up to 32 MiB free per arena is
/// kept for reuse. Other allocators just map and unmap 16 MiB once.
fn raise_malloc_thresholds() {
    // Zeroed (calloc: fresh mapped pages, not written) and seen by
    // `black_box`, so that the compiler cannot leave the allocation out.
    let mut block = vec![0u8; 16 << 20];
    std::hint::black_box(&mut block);
    drop(block);
}

fn serve(config: PathBuf) -> anyhow::Result<ExitCode> {
    raise_malloc_thresholds();
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
        match switchboard::descriptors::fit(&compiled) {
            Ok(limit) => tracing::debug!(limit, "open-file limit"),
            Err(error) => {
                eprintln!("{}: {error}", config.display());
                return Ok(ExitCode::from(2));
            }
        }
        let listen = compiled.server.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let options = Options {
            config,
            env: Arc::new(Env::from_process),
        };
        let admin = match compiled.server.admin_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (server.admin_listen)"))?,
            ),
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
    })
}
