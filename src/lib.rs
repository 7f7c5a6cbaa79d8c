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
//!   config errors with their place; `shown` is the config text as JSON
//!   with its secrets redacted (`GET /api/config`).
//! - `runtime`: compiles a config into the snapshot requests read; the one
//!   validation path for start-up, `check` and reload: `server`, `routes`
//!   (and transforms), `snapshot` (the `Arc` swapped on reload).
//! - `ingress`: `POST /hooks/{source}`: `listener` (the capped, timed
//!   HTTP/1.1 accept loop of both listeners; `deadline` its time limits),
//!   `accept` (the one stage from
//!   request to [`ingress::outcome::Outcome`], which `outcome` turns into
//!   the answer and the metric label), `client` (who sent it), `source` (one
//!   compiled sender), `body` (read under a limit), `verify` (inbound
//!   signatures, timestamps, replays), `throttle` (per-client rate limits),
//!   `payload` (probe or JSON, parsed strictly by `json`), `render` (route
//!   and render: what each target is sent; `explain` calls it too);
//!   `tally` counts each source's answers for the status API.
//! - `rules`: which routes match (`compile` builds the conditions, `trace`
//!   says why a route matched or not).
//! - `transform`: which body each target gets: `path` (dotted paths, which
//!   rule conditions read too), `jq` (programs).
//! - `spool`: the durable store between accept and dispatch: SQLite, or
//!   PostgreSQL shared by several replicas (leases, heartbeats). Each
//!   backend is a folder of the same shape (`schema`, `writer`, `accept`,
//!   `deliveries`, `upkeep`, `ledger`, `search`, `bulk`, `journal`);
//!   `command` is the writer commands both share, `location` parses
//!   `server.spool`, `backend` picks one; `filter` is the one filter of
//!   searches and bulk actions, `page` the search's keyset page statement,
//!   `history` the views of the delivery history (search pages, a webhook's
//!   story), `bulk` a bulk action's types and SQL condition, `audit` the
//!   audit log's and jobs' rows. PostgreSQL's `groups` lists dead letters
//!   by group and the live replicas.
//! - `dispatch`: per-target queues; `worker` (one target's loop), `window`
//!   (the deliveries it holds, claimed from the spool), `gate` (its circuit
//!   and 410 switch), `rate` (its rate wait, split between replicas),
//!   `attempt` (one attempt's task), `target` (one compiled downstream),
//!   `deliver` (one attempt and its outcome), `retry` and `circuit` (when to
//!   try again, when to pause a target), `sign` (Standard Webhooks
//!   signatures), `controls` (an operator's pause, resume and probe),
//!   `series` (each target's last 24 hours, per minute, in memory).
//! - `admin`: the operator's listener and its API; it sees the relay only
//!   through `control` (a trait `relay` implements); `probes`, `status`,
//!   `webhooks`, `bulk` (bulk replay and cancel, jobs) and `audit` are its
//!   endpoints, `openapi` serves the API's OpenAPI document, `events` the history's (search, bodies, explain;
//!   `events::query` reads the search's query string), `guard` its request
//!   checks; `dead_letters` says which dead letters a command names,
//!   `filter` reads the event filter's values as operators write them
//!   (times, states, ids, keys; the bulk body's JSON); `jobs` runs bulk
//!   jobs batch by batch, `rerender` renders an unrendered delivery again
//!   under the rules in force; `console` is what the operator console
//!   asks besides (a payload explained, the config in force, dead letters
//!   by group, who calls); `ui` serves the console itself (its HTML, CSS
//!   and JavaScript modules, embedded, with their security headers).
//! - `cli`: the command line: `args` (its shape), one module per
//!   subcommand (`serve`, `check`, `explain` (and its `command`), `dlq`,
//!   `events` (search and show the history, replay and cancel by a filter,
//!   over the API or on the spool; `args` the flags they share),
//!   `schema`, `sink`, a local downstream that prints what it gets, `tap`,
//!   the live tail of a running relay), `api` (the one client of the admin
//!   API: its token, its refusals), `spool` (the one way to open the spool
//!   a config or a file names), and `malloc` (the allocator's tuning for
//!   `serve`).
//! - `relay`: wiring: start and shutdown; `load` (config file to runtime),
//!   `reload` (the state the parts
//!   share, a new config put in force, the admin API's [`admin::Control`]),
//!   `watch` (`server.watch_config`: reload when a file read changes).
//! - `metrics`, `logs`: Prometheus metrics; log lines (JSON lines, control
//!   characters escaped).
//! - `rate`: a `rate` with its `burst`, checked once for targets and
//!   sources alike, and its governor quota.
//! - `redact`: headers as the history keeps them, secrets redacted.
//! - `secret`: a secret written as a string or `{file: /path}`, resolved;
//!   the one constant-time comparison of presented tokens.
//! - `stamp`: a file's version by its metadata (what `relay::watch`,
//!   `server.watch_config`, compares).
//! - `tail`: the live tail's hub (accepted webhooks, attempts, dead
//!   letters, pauses, reloads as they happen), its events and the filter
//!   one watcher asked for.
//! - `trace`: OpenTelemetry traces, one per webhook: W3C `traceparent`
//!   in and out (`context`), spans (`span`), OTLP protobuf (`otlp`) and its
//!   exporter task (`export`), `server.tracing` compiled (`settings`).
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
pub mod redact;
pub mod relay;
pub mod rules;
pub mod runtime;
pub mod secret;
pub mod spool;
pub mod stamp;
pub mod tail;
pub mod time;
pub mod trace;
pub mod transform;
