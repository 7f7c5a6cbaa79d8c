//! The admin listener: metrics, health, status and the dead-letter API.
//!
//! Separate from ingress and meant for operators: `GET /metrics`
//! (Prometheus), `/healthz`, `/readyz`, and under `/api/` (behind the bearer
//! token when one is set) the status, one webhook's story, dead letters
//! (list, replay, purge) and reload. It reads the spool through the
//! backend's [`Ledger`] (a connection of its own) and never touches delivery
//! logic.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::reply::{Reply, Response};

use crate::relay::Core;
use crate::spool::{DeadFilter, Ledger, LedgerBackend, Spool};

/// The admin API's state.
pub struct Admin {
    core: Arc<Core>,
    ledger: LedgerBackend,
    metrics: PrometheusHandle,
}

impl Admin {
    /// `ledger` is the spool's operator view, on a connection of its own.
    pub fn new(core: Arc<Core>, ledger: LedgerBackend, metrics: PrometheusHandle) -> Arc<Admin> {
        Arc::new(Admin {
            core,
            ledger,
            metrics,
        })
    }
}

/// Serves the admin API on `listener` until `stop`.
pub async fn serve(
    listener: TcpListener,
    admin: Arc<Admin>,
    limits: crate::listener::Limits,
    stop: CancellationToken,
) {
    let routes = routes(admin);
    crate::listener::serve("admin", listener, limits, move |_| routes.clone(), stop).await;
}

/// Which dead letters an API call applies to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Selection {
    target: Option<String>,
    #[serde(default)]
    ids: Vec<String>,
    /// Unix milliseconds.
    before_ms: Option<i64>,
}

impl From<Selection> for DeadFilter {
    fn from(s: Selection) -> DeadFilter {
        DeadFilter {
            target: s.target,
            events: s.ids,
            before_ms: s.before_ms,
        }
    }
}

fn routes(admin: Arc<Admin>) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let with = {
        let admin = admin.clone();
        warp::any().map(move || admin.clone())
    };
    let metrics = warp::get()
        .and(warp::path!("metrics"))
        .and(with.clone())
        .then(|admin: Arc<Admin>| async move { render_metrics(&admin).await });
    let healthz = warp::get()
        .and(warp::path!("healthz"))
        .map(|| warp::reply::json(&json!({"status": "ok"})).into_response());
    let readyz = warp::get()
        .and(warp::path!("readyz"))
        .and(with.clone())
        .then(|admin: Arc<Admin>| async move { ready(&admin).await });

    let auth = warp::header::optional::<String>("authorization")
        .and(with.clone())
        .and_then(|header: Option<String>, admin: Arc<Admin>| async move {
            let token = admin.core.snapshot.load().server.admin_token.clone();
            match token.filter(|t| !t.is_empty()) {
                None => Ok(admin),
                Some(token) => {
                    let presented = header
                        .as_deref()
                        .and_then(|h| h.strip_prefix("Bearer "))
                        .unwrap_or("");
                    let a: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
                    let b: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                    if bool::from(a.ct_eq(&b)) {
                        Ok(admin)
                    } else {
                        Err(warp::reject::custom(Unauthorized))
                    }
                }
            }
        });
    let api = warp::path("api").and(auth);
    let status = api
        .clone()
        .and(warp::get())
        .and(warp::path!("status"))
        .then(|admin: Arc<Admin>| async move { status(&admin).await });
    let event = api
        .clone()
        .and(warp::get())
        .and(warp::path!("events" / String))
        .then(|admin: Arc<Admin>, id: String| async move {
            match admin.ledger.event(&id).await {
                Ok(Some(event)) => warp::reply::json(&event).into_response(),
                Ok(None) => error(
                    StatusCode::NOT_FOUND,
                    "no such webhook in the spool (unknown, or pruned after its retention)",
                ),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        });
    let dead_list = api
        .clone()
        .and(warp::get())
        .and(warp::path!("dead-letters"))
        .and(warp::query::<Selection>())
        .then(|admin: Arc<Admin>, selection: Selection| async move {
            let filter = DeadFilter::from(selection);
            match admin.ledger.dead_letters(&filter).await {
                Ok(dead) => warp::reply::json(&json!({"dead_letters": dead})).into_response(),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        });
    let dead_act = api
        .clone()
        .and(warp::post())
        .and(warp::path!("dead-letters" / String))
        .and(warp::body::content_length_limit(64 * 1024))
        .and(warp::body::json::<Selection>())
        .then(
            |admin: Arc<Admin>, action: String, selection: Selection| async move {
                let filter = DeadFilter::from(selection);
                let (result, key) = match action.as_str() {
                    "replay" => (admin.ledger.replay(&filter).await, "replayed"),
                    "purge" => (admin.ledger.purge(&filter).await, "purged"),
                    _ => {
                        return error(
                            StatusCode::NOT_FOUND,
                            "use /api/dead-letters/replay or /api/dead-letters/purge",
                        );
                    }
                };
                match result {
                    Ok(n) => {
                        // A replay is picked up at once rather than at the next poll.
                        admin.core.dispatcher.wake_all();
                        let mut body = serde_json::Map::new();
                        body.insert(key.to_owned(), n.into());
                        warp::reply::json(&body).into_response()
                    }
                    Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
                }
            },
        );
    let reload =
        api.and(warp::post())
            .and(warp::path!("reload"))
            .then(|admin: Arc<Admin>| async move {
                let ok = admin.core.reload().await.is_ok();
                let last = admin
                    .core
                    .last_reload
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let code = if ok {
                    StatusCode::OK
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                warp::reply::with_status(warp::reply::json(&last), code).into_response()
            });
    metrics
        .or(healthz)
        .unify()
        .or(readyz)
        .unify()
        .or(status)
        .unify()
        .or(event)
        .unify()
        .or(dead_list)
        .unify()
        .or(dead_act)
        .unify()
        .or(reload)
        .unify()
        .recover(|rejection: warp::Rejection| async move {
            let response = if rejection.find::<Unauthorized>().is_some() {
                let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
                r.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
                r
            } else if rejection.is_not_found() {
                error(StatusCode::NOT_FOUND, "no such path")
            } else {
                error(StatusCode::BAD_REQUEST, &format!("{rejection:?}"))
            };
            Ok::<_, Infallible>(response)
        })
        .unify()
}

#[derive(Debug)]
struct Unauthorized;
impl warp::reject::Reject for Unauthorized {}

fn error(status: StatusCode, message: &str) -> Response {
    warp::reply::with_status(warp::reply::json(&json!({"error": message})), status).into_response()
}

async fn render_metrics(admin: &Admin) -> Response {
    if let Ok(backlog) = admin.ledger.backlog().await {
        for name in admin.core.snapshot.load().targets.keys() {
            let b = backlog.get(name).cloned().unwrap_or_default();
            crate::metrics::backlog(name, b.pending + b.parked, b.dead);
        }
    }
    for (name, bytes) in admin.core.dispatcher.window_bytes() {
        crate::metrics::window_bytes(&name, bytes);
    }
    let mut response = admin.metrics.render().into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Ready: a config is in force, the spool takes writes, and the relay is not
/// draining.
async fn ready(admin: &Admin) -> Response {
    let draining = admin
        .core
        .ingress
        .draining
        .load(std::sync::atomic::Ordering::Relaxed);
    let spool = tokio::time::timeout(Duration::from_secs(2), admin.core.spool.flush()).await;
    let spool_ok = matches!(spool, Ok(Ok(())));
    let ok = spool_ok && !draining;
    let body =
        json!({"ready": ok, "config": true, "spool_writable": spool_ok, "draining": draining});
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    warp::reply::with_status(warp::reply::json(&body), code).into_response()
}

async fn status(admin: &Admin) -> Response {
    let runtime = admin.core.snapshot.load();
    let backlog = admin.ledger.backlog().await.unwrap_or_default();
    let circuits = admin.core.dispatcher.circuits();
    let in_memory = admin.core.dispatcher.window_bytes();
    let targets: Vec<Value> = runtime
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
                "circuit": circuits.get(&t.name).copied().unwrap_or("closed"),
                "pending": b.pending,
                "parked": b.parked,
                "dead": b.dead,
                "window_bytes": in_memory.get(&t.name).copied().unwrap_or(0),
            })
        })
        .collect();
    let routes: Vec<Value> = runtime
        .routes
        .0
        .iter()
        .map(|r| json!({"name": r.name, "always": r.when.is_none(), "to": r.to.iter().map(|(t, _)| t).collect::<Vec<_>>()}))
        .collect();
    let mut sources: Vec<Value> = runtime
        .sources
        .values()
        .map(|s| {
            json!({
                "name": s.name,
                "path": format!("/hooks/{}", s.name),
                "allow": s.allow.as_ref().map(|nets| nets.iter().map(ToString::to_string).collect::<Vec<_>>()),
                "token": s.token.is_some(),
            })
        })
        .collect();
    sources.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let pending = admin.core.spool.pending();
    let last_reload = admin
        .core
        .last_reload
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    warp::reply::json(&json!({
        "version": env!("CARGO_PKG_VERSION"),
        "listen": runtime.server.listen.to_string(),
        "draining": admin.core.ingress.draining.load(std::sync::atomic::Ordering::Relaxed),
        "pending": {"deliveries": pending.deliveries, "bytes": pending.bytes},
        "last_reload": last_reload,
        "sources": sources,
        "targets": targets,
        "routes": routes,
    }))
    .into_response()
}
