//! Switchboard: a webhook fan-out relay.
//!
//! # Layout
//!
//! - `config`: the serde mirror of `routes.yaml`, parsing only; its `tree`,
//!   `shape` and `de` read the YAML with positions, check it against the
//!   JSON Schema (every problem at once) and fill the types.
//! - `runtime`: compiles a config into the immutable snapshot requests read;
//!   the one validation path for start-up, `check` and reload.
//! - `source`, `target`: one compiled sender and one compiled downstream.
//! - `rules`, `path`, `transform`, `jq`: pure decisions: which routes match,
//!   which target gets which body.
//! - `interpolate`, `units`, `problems`: `${NAME}`, `10s`/`1MiB`/`10/s`, and
//!   config errors with their place.
//! - `secret`: a secret written as a string or `{file: /path}`.
//! - `sign`, `verify`: Standard Webhooks signatures on deliveries; inbound
//!   signature, timestamp and replay checks.
//! - `ingress`: the HTTP side of `POST /hooks/{source}`: client IP, auth,
//!   body limit, probes.
//! - `accept`: turns one admitted webhook into an id and its deliveries.
//! - `dispatch`: per-target queues that feed `deliver`.
//! - `deliver`: one attempt and its outcome.
//! - `spool`: the durable store between accept and dispatch: SQLite, or
//!   PostgreSQL shared by several replicas (leases, heartbeats).
//! - `retry`, `circuit`: when to try again, when to pause a target.
//! - `admin`, `metrics`: the operator's listener and Prometheus metrics.
//! - `listener`: the capped, timed, HTTP/1.1 accept loop of both listeners.
//! - `descriptors`: the open files a config needs; raising the limit to fit.
//! - `dead_letters`: which dead letters a `dlq` command or API call names.
//! - `logs`: how log lines are written: JSON lines with lists as arrays,
//!   and every logged value's control characters escaped.
//! - `relay`: wiring: start, reload and shutdown.
//! - `explain`: `switchboard explain`: routes, reasons and bodies for one
//!   payload, by the code `serve` runs, without sending anything.

pub mod accept;
pub mod admin;
pub mod circuit;
pub mod config;
pub mod dead_letters;
pub mod deliver;
pub mod descriptors;
pub mod dispatch;
pub mod explain;
pub mod ingress;
pub mod interpolate;
pub mod jq;
pub mod json;
pub mod listener;
pub mod logs;
pub mod metrics;
pub mod path;
pub mod problems;
pub mod relay;
pub mod retry;
pub mod rules;
pub mod runtime;
pub mod secret;
pub mod sign;
pub mod source;
pub mod spool;
pub mod target;
pub mod throttle;
pub mod transform;
pub mod units;
pub mod verify;
