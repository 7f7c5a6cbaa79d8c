//! The admin listener: metrics, health, status and the dead-letter API.
//!
//! Separate from ingress and meant for operators: `GET /metrics`
//! (Prometheus), `/healthz`, `/readyz`, and under `/api/` (behind the bearer
//! token when one is set) the status, one webhook's story, dead letters
//! (list, replay, purge) and reload. `/api/*` also refuses requests whose
//! `Host` does not name the listener and requests from other web pages, and
//! takes only JSON (see `guard`); the probes and `/metrics` do not check
//! `Host`, because kubelet and Prometheus reach them under whatever address
//! or name they were given. It reads the spool through the backend's
//! [`Ledger`] (a connection of its own) and never touches delivery logic.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::Stream;
use http::uri::Authority;
use http::{HeaderMap, Method, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::reply::{Reply, Response};

pub mod dead_letters;
mod guard;
mod input;
mod problem;

use crate::admin::dead_letters::{SelectError, Selection, Use};
use crate::relay::Core;
use crate::spool::{Ledger, LedgerBackend, Spool};
use guard::Endpoint;
use input::{NoFields, SELECTION_EXAMPLE, parse_body, read_body, selection_from_query};
use problem::{Problem, error};

/// The admin API's state.
pub struct Admin {
    core: Arc<Core>,
    ledger: LedgerBackend,
    metrics: PrometheusHandle,
    /// The listener's own address: the `Host` and `Origin` `/api/*` accepts.
    listener: SocketAddr,
}

impl Admin {
    /// `ledger` is the spool's operator view, on a connection of its own;
    /// `listener` the admin listener's local address.
    pub fn new(
        core: Arc<Core>,
        ledger: LedgerBackend,
        metrics: PrometheusHandle,
        listener: SocketAddr,
    ) -> Arc<Admin> {
        Arc::new(Admin {
            core,
            ledger,
            metrics,
            listener,
        })
    }
}

/// Serves the admin API on `listener` until `stop`.
pub async fn serve(
    listener: TcpListener,
    admin: Arc<Admin>,
    limits: crate::ingress::listener::Limits,
    stop: CancellationToken,
) {
    let routes = routes(admin);
    crate::ingress::listener::serve("admin", listener, limits, move |_| routes.clone(), stop).await;
}

/// The whole admin API as one filter. Routing is one `match` on method and
/// path ([`guard::route`]) rather than warp's combinators, whose rejections
/// merge into a 405 for an unknown path and a `Rejection(...)` dump for a
/// bad body; every answer here is JSON with the status that fits.
pub fn routes(admin: Arc<Admin>) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    // An unparsable Host is kept as such, for a 400 that says so.
    let host = warp::host::optional()
        .map(Ok)
        .or(warp::any().map(|| Err(())))
        .unify();
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(host)
        .and(warp::header::headers_cloned())
        .and(query)
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  host: Result<Option<Authority>, ()>,
                  headers: HeaderMap,
                  query: String,
                  body| {
                let admin = admin.clone();
                async move {
                    let request = Request {
                        method,
                        path: path.as_str().to_owned(),
                        host,
                        headers,
                        query,
                    };
                    handle(&admin, request, body)
                        .await
                        .unwrap_or_else(Problem::into_response)
                }
            },
        )
        // Only a body taken twice rejects, which cannot happen here.
        .recover(|_: warp::Rejection| async {
            Ok::<_, Infallible>(error(StatusCode::BAD_REQUEST, "unreadable request"))
        })
        .unify()
}

/// What the handlers read of a request, besides its body.
struct Request {
    method: Method,
    path: String,
    host: Result<Option<Authority>, ()>,
    headers: HeaderMap,
    query: String,
}

/// Guards, then routing, then the endpoint.
async fn handle<S, B>(admin: &Admin, request: Request, body: S) -> Result<Response, Problem>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let api = request.path == "/api" || request.path.starts_with("/api/");
    if api {
        guard_api(admin, &request)?;
    }
    let endpoint = guard::route(&request.method, &request.path)?;
    let body = if request.method == Method::POST {
        guard::check_content_type(&request.headers)?;
        read_body(body, &request.headers).await?
    } else {
        Bytes::new()
    };
    Ok(match endpoint {
        Endpoint::Metrics => render_metrics(admin).await,
        Endpoint::Healthz => warp::reply::json(&json!({"status": "ok"})).into_response(),
        Endpoint::Readyz => ready(admin).await,
        Endpoint::Status => status(admin).await,
        Endpoint::Event(id) => match admin.ledger.event(&id).await {
            Ok(Some(event)) => warp::reply::json(&event).into_response(),
            Ok(None) => error(
                StatusCode::NOT_FOUND,
                "no such webhook in the spool (unknown, or pruned after its retention)",
            ),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        Endpoint::DeadLetters => {
            let selection = selection_from_query(&request.query)
                .map_err(|m| Problem::new(StatusCode::BAD_REQUEST, m))?;
            let filter = select(admin, selection, Use::List).await?;
            match admin.ledger.dead_letters(&filter).await {
                Ok(dead) => warp::reply::json(&json!({"dead_letters": dead})).into_response(),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        Endpoint::Replay | Endpoint::Purge => {
            let selection: Selection = parse_body(&body, SELECTION_EXAMPLE)?;
            let filter = select(admin, selection, Use::Change).await?;
            let (result, key) = if endpoint == Endpoint::Replay {
                (admin.ledger.replay(&filter).await, "replayed")
            } else {
                (admin.ledger.purge(&filter).await, "purged")
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
        }
        Endpoint::Reload => {
            if !body.iter().all(u8::is_ascii_whitespace) {
                let _: NoFields = parse_body(&body, "{}")?;
            }
            reload(admin).await
        }
    })
}

/// Host, origin and token, in that order: a page on another site learns
/// nothing, not even whether a token is set.
fn guard_api(admin: &Admin, request: &Request) -> Result<(), Problem> {
    let hosts = &admin.core.snapshot.load().server.admin_hosts;
    let host = request.host.as_ref().map_err(|()| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "the Host header is not a host with an optional port",
        )
    })?;
    guard::check_host(host.as_ref(), admin.listener, hosts)?;
    guard::check_same_origin(&request.headers, admin.listener, hosts)?;
    if authorized(admin, &request.headers) {
        Ok(())
    } else {
        Err(Problem {
            header: Some((http::header::WWW_AUTHENTICATE, "Bearer")),
            ..Problem::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
        })
    }
}

/// Whether the request carries the admin token, if one is set. Compares
/// digests in constant time, so neither the token's length nor its prefix
/// leaks through timing.
fn authorized(admin: &Admin, headers: &HeaderMap) -> bool {
    let token = admin.core.snapshot.load().server.admin_token.clone();
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return true;
    };
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    crate::secret::same(presented.as_bytes(), token.as_bytes())
}

/// The selection checked against the config and the spool, or the answer
/// that says why not.
async fn select(
    admin: &Admin,
    selection: Selection,
    used: Use,
) -> Result<crate::spool::DeadFilter, Problem> {
    let runtime = admin.core.snapshot.load();
    selection
        .check(used, &runtime, || admin.ledger.backlog())
        .await
        .map_err(|e| match e {
            SelectError::Spool(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            SelectError::Nothing => Problem::new(
                StatusCode::BAD_REQUEST,
                format!("{e}: send {SELECTION_EXAMPLE}"),
            ),
            other => Problem::new(StatusCode::BAD_REQUEST, other.to_string()),
        })
}

async fn reload(admin: &Admin) -> Response {
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
                "circuit": circuits.get(&t.name).copied().unwrap_or_default(),
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
