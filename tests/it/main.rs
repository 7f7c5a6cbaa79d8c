//! The integration tests, as one binary: the relay in-process on
//! `127.0.0.1:0`, fake downstreams on port 0, the `switchboard` binary where
//! a test needs a process of its own. One binary links the crate once
//! instead of once per file.

// Helpers outside `#[test]` functions unwrap too; `clippy.toml`'s
// allow-unwrap-in-tests covers only the tests themselves.
#![allow(clippy::unwrap_used)]

mod common;

mod admin;
mod admin_guard;
mod admin_roles;
mod bulk;
mod bulk_cli;
mod bulk_spool;
mod check;
mod cli;
mod config;
mod connections;
mod console;
mod console_api;
mod console_browser;
mod crash;
mod delivery;
mod delivery_logs;
mod deploy;
mod dlq;
mod events;
mod explain_agrees;
mod fake_target;
mod fanout;
mod heavy_render;
mod history;
mod hostile;
mod ingress;
mod log_escaping;
mod metrics_help;
mod observability;
mod openapi;
mod properties;
mod proxy;
mod recipes;
mod reload;
mod replay_memory;
mod replicas;
mod rules;
mod shutdown;
mod signing;
mod spool;
mod tail;
mod targets;
mod traces;
mod watch_config;
