//! Switchboard: a webhook fan-out relay.
//!
//! # Layout
//!
//! The folders follow a webhook through the relay:
//!
//! ```text
//! config ──compile──▶ runtime (one immutable snapshot, swapped on reload)
//!                        │
//! POST ─▶ ingress ─▶ rules ─▶ transform ─▶ spool ─▶ dispatch ─▶ downstream
//!                                            ▲
//!                               admin, cli ──┘ (history, dead letters, replay)
//! ```
//!
//! - `config`: the serde mirror of `routes.yaml`, parsing only, every
//!   `*Config` type, one file per section (`server`, `source`, `verify`,
//!   `target`, `route`, `retry`, `circuit`, `secret`): `tree`,
//!   `shape` and `de` read the YAML with positions and check it against
//!   the JSON Schema (every problem at once); `interpolate` resolves
//!   `${NAME}`, `units` reads `10s`/`1MiB`/`10/s`, `problems` carries
//!   config errors with their place.
//! - `runtime`: compiles a config into the snapshot requests read; the one
//!   validation path for start-up, `check` and reload: `server`, `routes`
//!   (and transforms), `snapshot` (the `Arc` swapped on reload).
//! - `ingress`: `POST /hooks/{source}`: `listener` (the capped, timed
//!   HTTP/1.1 accept loop of both listeners), `source` (one compiled
//!   sender), `verify` (inbound signatures, timestamps, replays),
//!   `throttle` (per-client rate limits), `json` (strict parsing),
//!   `accept` (one admitted webhook into an id and its deliveries).
//! - `rules`: which routes match (`compile` builds the conditions, `trace`
//!   says why a route matched or not).
//! - `transform`: which body each target gets: `path` (dotted paths, which
//!   rule conditions read too), `jq` (programs).
//! - `spool`: the durable store between accept and dispatch: SQLite, or
//!   PostgreSQL shared by several replicas (leases, heartbeats).
//! - `dispatch`: per-target queues; `target` (one compiled downstream),
//!   `deliver` (one attempt and its outcome), `retry` and `circuit` (when to
//!   try again, when to pause a target), `sign` (Standard Webhooks
//!   signatures).
//! - `admin`: the operator's listener and its API; `dead_letters` says which
//!   dead letters a command names.
//! - `cli`: what the subcommands print (`explain`).
//! - `relay`: wiring: start, reload and shutdown.
//! - `metrics`, `logs`: Prometheus metrics; log lines (JSON lines, control
//!   characters escaped).
//! - `rate`: a `rate` with its `burst`, checked once for targets and
//!   sources alike, and its governor quota.
//! - `secret`: a secret written as a string or `{file: /path}`, resolved;
//!   the one constant-time comparison of presented tokens.
//! - `time`: unix milliseconds and seconds, the one place that reads the
//!   wall clock for them.
//! - `descriptors`: the open files a config needs; raising the limit to fit.

pub mod admin;
pub mod cli;
pub mod config;
pub mod descriptors;
pub mod dispatch;
pub mod ingress;
pub mod logs;
pub mod metrics;
pub mod rate;
pub mod relay;
pub mod rules;
pub mod runtime;
pub mod secret;
pub mod spool;
pub mod time;
pub mod transform;
