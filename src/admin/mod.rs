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
//! [`Ledger`](crate::spool::Ledger) (a connection of its own), sees the
//! relay only through [`Control`], and never touches delivery logic.
//!
//! This file holds the listener, the guards in order and the routing to the
//! endpoints: `probes` (metrics, health, readiness), `status` (status and
//! reload), `webhooks` (one webhook, dead letters), `events` (the history's
//! search, a webhook's bytes, its explanation), `bulk` (bulk replay and
//! cancel, jobs; run by `jobs`, unrendered deliveries rendered again by
//! `rerender`), `audit` (the audit log), `targets` (state, series, pause,
//! resume, probe), `tail` (the live tail as SSE), `openapi` (this API's
//! OpenAPI document), `console` (what the operator console asks besides
//! the rest: a payload explained, the config in force, dead letters by
//! group, who the caller is), `ui` (the console's own files at `/`).
//! `filter` reads the event filter as operators write it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::Stream;
use http::uri::Authority;
use http::{HeaderMap, Method, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::reply::Response;

mod audit;
pub mod bulk;
mod console;
mod control;
pub mod dead_letters;
pub mod events;
pub mod filter;
mod guard;
mod input;
pub mod jobs;
mod openapi;
mod probes;
mod problem;
mod rerender;
mod status;
mod tail;
mod targets;
mod ui;
mod webhooks;

pub use control::{Control, PauseError, ReloadStatus};

use crate::config::AdminRole;
use crate::runtime::AdminToken;
use crate::spool::LedgerBackend;
use guard::Endpoint;
use input::{NoFields, parse_body, read_body};
use problem::{Problem, error};
use webhooks::Change;

/// The admin API's state.
pub struct Admin<C: Control> {
    relay: Arc<C>,
    ledger: LedgerBackend,
    metrics: PrometheusHandle,
    /// The listener's own address: the `Host` and `Origin` `/api/*` accepts.
    listener: SocketAddr,
    /// The bulk jobs running in this relay.
    jobs: Arc<jobs::Jobs>,
}

impl<C: Control> Admin<C> {
    /// `relay` is the running relay; `ledger` the spool's operator view, on
    /// a connection of its own; `listener` the admin listener's local
    /// address.
    pub fn new(
        relay: Arc<C>,
        ledger: LedgerBackend,
        metrics: PrometheusHandle,
        listener: SocketAddr,
    ) -> Arc<Admin<C>> {
        Arc::new(Admin {
            relay,
            ledger,
            metrics,
            listener,
            jobs: Arc::default(),
        })
    }
}

/// Serves the admin API on `listener` until `stop`.
pub async fn serve<C: Control>(
    listener: TcpListener,
    admin: Arc<Admin<C>>,
    limits: crate::ingress::listener::Limits,
    stop: CancellationToken,
) {
    let jobs = admin.jobs.clone();
    let routes = routes(admin);
    crate::ingress::listener::serve("admin", listener, limits, move |_| routes.clone(), stop).await;
    jobs.halt();
}

/// The whole admin API as one filter. Routing is one `match` on method and
/// path (`guard::route`) rather than warp's combinators, whose rejections
/// merge into a 405 for an unknown path and a `Rejection(...)` dump for a
/// bad body; every answer here is JSON with the status that fits.
pub fn routes<C: Control>(
    admin: Arc<Admin<C>>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
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
async fn handle<C, S, B>(admin: &Admin<C>, request: Request, body: S) -> Result<Response, Problem>
where
    C: Control,
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    if ui::claims(&request.path) {
        return Ok(ui::serve(&request.method, &request.path, &request.headers));
    }
    let api = request.path == "/api" || request.path.starts_with("/api/");
    // Who acts: the token's name, for the audit log.
    let who = if api {
        guard_api(admin, &request)?
    } else {
        String::new()
    };
    let endpoint = guard::route(&request.method, &request.path)?;
    let body = if request.method == Method::POST {
        guard::check_content_type(&request.headers)?;
        let limit = input::body_limit(&endpoint, admin.relay.runtime().server.max_body);
        read_body(body, &request.headers, limit).await?
    } else {
        Bytes::new()
    };
    Ok(match endpoint {
        Endpoint::Metrics => probes::metrics(admin).await,
        Endpoint::Healthz => probes::healthz(),
        Endpoint::Readyz => probes::ready(admin).await,
        Endpoint::Status => status::status(admin).await,
        Endpoint::Event(id) => webhooks::event(admin, &id).await,
        Endpoint::Events => events::search(admin, &request.query).await?,
        Endpoint::EventBody(id) => events::body(admin, &id).await?,
        Endpoint::EventExplain(id) => events::explain(admin, &id).await?,
        Endpoint::DeadLetters => webhooks::list(admin, &request.query).await?,
        Endpoint::Replay => webhooks::change(admin, &body, Change::Replay, &who).await?,
        Endpoint::Purge => webhooks::change(admin, &body, Change::Purge, &who).await?,
        Endpoint::Reload => {
            no_fields(&body)?;
            status::reload(admin, &who).await
        }
        Endpoint::BulkReplay => bulk::act(admin, &body, bulk::Kind::Replay, &who).await?,
        Endpoint::BulkCancel => bulk::act(admin, &body, bulk::Kind::Cancel, &who).await?,
        Endpoint::Job(id) => bulk::job(admin, &id).await?,
        Endpoint::StopJob(id) => bulk::stop(admin, &id, &who).await?,
        Endpoint::Audit => audit::list(admin, &request.query).await?,
        Endpoint::Targets => targets::list(admin).await?,
        Endpoint::TargetSeries(name) => targets::series(admin, &name, &request.query)?,
        Endpoint::TargetAction(name, action) => {
            no_fields(&body)?;
            targets::act(admin, &name, action, Some(who.clone())).await?
        }
        Endpoint::Tail => tail::stream(admin, &request.query)?,
        Endpoint::OpenApi => openapi::document(),
        Endpoint::Explain => console::explain(admin, &body)?,
        Endpoint::Config => console::config(admin),
        Endpoint::DeadGroups => console::dead_groups(admin).await?,
        Endpoint::Whoami => console::whoami(admin, &request.headers),
    })
}

/// An action's body: nothing, or an empty object.
fn no_fields(body: &[u8]) -> Result<(), Problem> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        let _: NoFields = parse_body(body, "{}")?;
    }
    Ok(())
}

/// Host, origin and token, in that order: a page on another site learns
/// nothing, not even whether a token is set. Answers who acts: the token's
/// name, or `anonymous` when the API has no token.
fn guard_api<C: Control>(admin: &Admin<C>, request: &Request) -> Result<String, Problem> {
    let hosts = &admin.relay.runtime().server.admin_hosts;
    let host = request.host.as_ref().map_err(|()| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "the Host header is not a host with an optional port",
        )
    })?;
    guard::check_host(host.as_ref(), admin.listener, hosts)?;
    guard::check_same_origin(&request.headers, admin.listener, hosts)?;
    let runtime = admin.relay.runtime();
    match holder(&runtime.server.admin_tokens, &request.headers) {
        Err(()) => Err(Problem {
            header: Some((http::header::WWW_AUTHENTICATE, "Bearer")),
            ..Problem::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
        }),
        Ok(Some(token)) if token.role == AdminRole::Read && !reads(request) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!(
                "the token `{}` may only read (role read); {} needs a token with role operate",
                token.name, request.method
            ),
        )),
        Ok(Some(token)) => Ok(token.name.clone()),
        Ok(None) => Ok(audit::ANONYMOUS.to_owned()),
    }
}

/// Whether the request only looks: a GET or HEAD, or a POST to an
/// endpoint that changes nothing (`/api/explain`). Decided before routing,
/// so an unknown path is judged by its method.
fn reads(request: &Request) -> bool {
    let method = &request.method;
    match guard::route(method, &request.path) {
        Ok(endpoint) => endpoint.reads(method),
        Err(_) => method == Method::GET || method == Method::HEAD,
    }
}

/// The token a request carries: `Ok(None)` when no token is set (the API is
/// open: the relay allows that on loopback only), `Err(())` when it is
/// missing or matches none. Digests are compared in constant time, so
/// neither a token's length nor its prefix leaks through timing.
fn holder<'t>(tokens: &'t [AdminToken], headers: &HeaderMap) -> Result<Option<&'t AdminToken>, ()> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    tokens
        .iter()
        .find(|t| t.digest.matches(presented.as_bytes()))
        .map(Some)
        .ok_or(())
}
