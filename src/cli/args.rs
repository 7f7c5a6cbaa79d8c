//! The command line's shape: every subcommand, its arguments and its help
//! text (`clap` derives parsing and `--help` from these types).
//!
//! Only declarations: what each subcommand does lives in its own module
//! (`check`, `dlq`, `events`, `explain::command`, `schema`, `serve`,
//! `sink`, `tap`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Webhook fan-out relay: receives webhooks, routes them by YAML rules, and
/// forwards the payload or a transformed subset to several targets.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
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
    /// The delivery history: find webhooks, see what became of them, replay
    /// or cancel their deliveries by a filter.
    ///
    /// Reads a running relay's admin API (--admin URL, the token from
    /// SWITCHBOARD_ADMIN_TOKEN) or the spool directly (--config names it,
    /// --spool is a SQLite file).
    #[command(after_long_help = EVENTS_EXAMPLES)]
    Events {
        #[command(subcommand)]
        action: Box<crate::cli::events::EventsAction>,
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
    /// A local downstream to try routes with: prints every request it gets
    /// and answers it.
    ///
    /// Prints each request's method, path, the headers a delivery carries
    /// and its whole body (JSON pretty-printed), and answers with --status.
    /// `GET /count` answers `{"requests": N, "bytes": N}` for its address and
    /// `POST /reset` sets both to zero (neither is printed or counted).
    /// Ctrl-C stops it.
    #[command(after_long_help = SINK_EXAMPLES)]
    Sink(SinkArgs),
    /// Watch a running relay live: one line per accepted webhook, attempt,
    /// dead letter, pause and reload.
    ///
    /// Reads the admin API's live tail (`GET /api/tail`); the token comes
    /// from SWITCHBOARD_ADMIN_TOKEN. Filters apply on the relay. A tap that
    /// reads too slowly is dropped by the relay (it never slows it down).
    #[command(after_long_help = TAP_EXAMPLES)]
    Tap(TapArgs),
    /// Ask a running relay whether it is ready (GET /readyz) or alive
    /// (--live, GET /healthz); exit 0 on a 200, 1 otherwise.
    ///
    /// For container health checks, where there is no curl: the image's
    /// HEALTHCHECK runs it against the admin listener on loopback.
    #[command(after_long_help = HEALTH_EXAMPLES)]
    Health(HealthArgs),
}

// Examples in `after_long_help`: clap joins the lines of a doc paragraph.
const DLQ_EXAMPLES: &str = "\
Examples:
  switchboard dlq list --config routes.yaml --target crm
  switchboard dlq replay --config routes.yaml --target crm
  switchboard dlq purge --config routes.yaml --before 7d";

const EVENTS_EXAMPLES: &str = "\
Examples:
  switchboard events search --admin http://127.0.0.1:9090 --key call=pbx-123
  switchboard events search --config routes.yaml --target crm --state dead --since 2h
  switchboard events show --config routes.yaml 019ae3c4-5b1a-7d2e-8f00-0123456789ab";

const EXPLAIN_EXAMPLES: &str = "\
Examples:
  switchboard explain --config routes.yaml payload.json
  switchboard explain --config routes.yaml payload.json --source sipgate \\
      --header 'X-Agent: reception' --json
  jq '.call.from = \"anonymous\"' payload.json | switchboard explain -c routes.yaml -";

const SINK_EXAMPLES: &str = "\
Examples:
  switchboard sink                         # what routes.example.yaml sends to
  switchboard sink --listen 127.0.0.1:9101 --status 503   # to watch retries
  switchboard sink --listen 127.0.0.1:9101 --listen 127.0.0.1:9102 --quiet";

const TAP_EXAMPLES: &str = "\
Examples:
  switchboard tap
  switchboard tap --source sipgate
  switchboard tap --target crm --outcome retry,dead
  SWITCHBOARD_ADMIN_TOKEN=... switchboard tap --admin http://relay.internal:9090 --json | jq .";

const HEALTH_EXAMPLES: &str = "\
Examples:
  switchboard health                       # ready? (http://127.0.0.1:9090/readyz)
  switchboard health --live --admin http://127.0.0.1:9191
  HEALTHCHECK CMD [\"switchboard\", \"health\"]   # in a Dockerfile";

const SCHEMA_EXAMPLE: &str = "\
Example:
  switchboard schema > routes.schema.json
  # then, as the first line of routes.yaml (yaml-language-server, VS Code):
  # yaml-language-server: $schema=./routes.schema.json";

/// What `dlq` does.
#[derive(Subcommand)]
pub enum DlqAction {
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

/// Which dead letters a `dlq` action works on.
#[derive(clap::Args)]
pub struct DlqSelect {
    /// Path of routes.yaml (names the spool; a relative SQLite path is
    /// relative to this file's directory).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Only this target.
    #[arg(long)]
    pub target: Option<String>,
    /// Only these webhook ids (repeatable).
    #[arg(long = "id")]
    pub ids: Vec<String>,
    /// Only dead letters older than this: a duration ago (`7d`, `24h`), an
    /// RFC 3339 time (`2026-11-01T00:00:00Z`) or unix milliseconds.
    #[arg(long)]
    pub before: Option<String>,
}

/// Where `sink` listens and how it answers.
#[derive(clap::Args)]
pub struct SinkArgs {
    /// Address to listen on; repeatable (each counts on its own). Port 0
    /// picks a free port; the address in use is printed on standard error.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9101")]
    pub listen: Vec<std::net::SocketAddr>,
    /// The HTTP status every request gets (e.g. 503 or 429 to see the
    /// relay retry, 410 to see it disable the target).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(100..=999))]
    pub status: u16,
    /// Print nothing per request (for load tests: count with `GET /count`).
    #[arg(long)]
    pub quiet: bool,
}

/// What `health` asks, and where.
#[derive(clap::Args)]
pub struct HealthArgs {
    /// The relay's admin listener.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9090")]
    pub admin: String,
    /// Ask whether it is alive (/healthz) rather than ready (/readyz): a
    /// draining relay, or one whose spool cannot be written, is alive but
    /// not ready.
    #[arg(long)]
    pub live: bool,
    /// How long to wait for the answer, e.g. 3s or 500ms.
    #[arg(long, default_value = "3s")]
    pub timeout: String,
}

/// What `tap` watches, and how it prints.
#[derive(clap::Args)]
pub struct TapArgs {
    /// The relay's admin listener.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9090")]
    pub admin: String,
    /// Only this source's webhooks (and their attempts).
    #[arg(long)]
    pub source: Option<String>,
    /// Only what concerns this target.
    #[arg(long)]
    pub target: Option<String>,
    /// Only attempts with these outcomes: delivered, retry, dead, parked
    /// (comma-separated).
    #[arg(long)]
    pub outcome: Option<String>,
    /// One JSON object per line (with its `type`) instead of text.
    #[arg(long)]
    pub json: bool,
}
