//! `GET /api/status` (what is configured, how each target fares, each
//! source's ingress counts, the live replicas on PostgreSQL) and
//! `POST /api/reload`. Must not read a request: the guards and routing in
//! the module above have done that.

use std::collections::HashMap;

use http::StatusCode;
use serde_json::{Value, json};
use warp::reply::{Reply, Response};

use super::{Admin, Control};
use crate::ingress::tally::Figures;
use crate::runtime::Runtime;
use crate::spool::Ledger;
use crate::spool::audit::AuditEntry;

/// `GET /api/status`.
pub(super) async fn status<C: Control>(admin: &Admin<C>) -> Response {
    let runtime = admin.relay.runtime();
    let pending = admin.relay.pending();
    warp::reply::json(&json!({
        "version": env!("CARGO_PKG_VERSION"),
        "listen": runtime.server.listen.to_string(),
        "draining": admin.relay.draining(),
        "pending": {"deliveries": pending.deliveries, "bytes": pending.bytes},
        "last_reload": admin.relay.last_reload(),
        "sources": sources(&runtime, &admin.relay.ingress()),
        "targets": targets(admin, &runtime).await,
        "routes": routes(&runtime),
        "config_version": runtime.version,
        "replicas": admin.ledger.replicas().await.ok().flatten(),
    }))
    .into_response()
}

/// Each target's settings, circuit, backlog and memory.
async fn targets<C: Control>(admin: &Admin<C>, runtime: &Runtime) -> Vec<Value> {
    let backlog = admin.ledger.backlog().await.unwrap_or_default();
    let circuits = admin.relay.circuits();
    let in_memory = admin.relay.window_bytes();
    let paused = admin.relay.paused();
    runtime
        .targets
        .values()
        .map(|t| {
            let b = backlog.get(&t.name).cloned().unwrap_or_default();
            json!({
                "name": t.name,
                "url": t.redacted_url(),
                "method": t.method.as_str(),
                "timeout_ms": t.timeout.as_millis() as u64,
                "rate": t.limit.as_ref().map(|l| format!("{}/{}s", l.rate.count, l.rate.per.as_secs_f64())),
                "burst": t.limit.as_ref().map(|l| l.burst),
                "concurrency": t.concurrency_max,
                "circuit": circuits.get(&t.name).copied().unwrap_or_default(),
                "paused": paused.contains(&t.name),
                "pending": b.pending,
                "retrying": b.retrying,
                "parked": b.parked,
                "dead": b.dead,
                "window_bytes": in_memory.get(&t.name).copied().unwrap_or(0),
            })
        })
        .collect()
}

fn routes(runtime: &Runtime) -> Vec<Value> {
    runtime
        .routes
        .0
        .iter()
        .map(|r| json!({"name": r.name, "always": r.when.is_none(), "to": r.to.iter().map(|(t, _)| t).collect::<Vec<_>>()}))
        .collect()
}

/// The sources, by name, with their ingress counts.
fn sources(runtime: &Runtime, ingress: &HashMap<String, Figures>) -> Vec<Value> {
    let mut sources: Vec<Value> = runtime
        .sources
        .values()
        .map(|s| {
            json!({
                "name": s.name,
                "path": format!("/hooks/{}", s.name),
                "allow": s.allow.as_ref().map(|nets| nets.iter().map(ToString::to_string).collect::<Vec<_>>()),
                "token": s.token.is_some(),
                "ingress": ingress.get(&s.name),
            })
        })
        .collect();
    sources.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    sources
}

/// `POST /api/reload`: 200 with the outcome when the new config is in
/// force, 422 with the problems when the old one stays.
pub(super) async fn reload<C: Control>(admin: &Admin<C>, who: &str) -> Response {
    let ok = admin.relay.reload().await;
    let last = admin.relay.last_reload();
    let detail = match &last {
        Some(last) if !last.ok => format!("rejected: {}", last.problems.join("; ")),
        _ => "in force".to_owned(),
    };
    super::audit::record(
        admin,
        AuditEntry {
            who: who.to_owned(),
            action: "reload".to_owned(),
            detail: Some(detail),
            ..AuditEntry::default()
        },
    )
    .await;
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    warp::reply::with_status(warp::reply::json(&last), code).into_response()
}
