//! The `switchboard` command: parse the arguments, set up logging, run the
//! subcommand, turn its result into an exit code. No logic: each
//! subcommand lives in `switchboard::cli`.

use std::process::ExitCode;

use clap::Parser;

use switchboard::cli::args::{Cli, Command, LogFormat};
use switchboard::cli::explain::command as explain_cmd;
use switchboard::cli::{check, dlq, events, health, schema, serve, sink, tap};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end of main: dropping it flushes the log lines still queued.
    let _log_flush = init_logging(cli.log_format);
    match cli.command {
        Command::Check { config, no_env } => check::run(&config, no_env),
        Command::Explain {
            config,
            payload,
            source,
            headers,
            json,
        } => explain_cmd::run(&explain_cmd::Request {
            config: &config,
            payload: &payload,
            source: source.as_deref(),
            headers: &headers,
            json,
        })
        .unwrap_or_else(|error| fail(error.into())),
        Command::Schema => schema::run(),
        Command::Dlq { action } => match dlq::run(action) {
            Ok(()) => ExitCode::SUCCESS,
            // `dlq list | head`: the reader has what it wanted.
            Err(error) if error.broken_pipe() => ExitCode::SUCCESS,
            Err(error) => fail(error.into()),
        },
        Command::Events { action } => match events::run(*action) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) if error.broken_pipe() => ExitCode::SUCCESS,
            Err(error) => fail(error.into()),
        },
        Command::Serve { config } => serve::run(config).unwrap_or_else(|error| {
            let error = anyhow::Error::from(error);
            tracing::error!("{error:#}");
            fail(error)
        }),
        Command::Sink(args) => match sink::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(error.into()),
        },
        Command::Health(args) => health::run(&args),
        Command::Tap(args) => match tap::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) if error.broken_pipe() => ExitCode::SUCCESS,
            Err(error) => fail(error.into()),
        },
    }
}

/// Prints `error` with its causes on standard error; exit code 1.
fn fail(error: anyhow::Error) -> ExitCode {
    eprintln!("switchboard: {error:#}");
    ExitCode::from(1)
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
