//! `POST /hooks/{source}`: the warp filter that hands each request to the
//! accept stage ([`accept`]) and answers with what it came to ([`outcome`]),
//! counting it in `switchboard_webhooks_received_total`.
//!
//! The stage's files, in the order a webhook meets them: `listener` (the
//! capped, timed HTTP/1.1 accept loop; its time limits in `deadline`),
//! `client` (who sent it), `source` (one compiled sender: allow, token,
//! rate, signature), `body` (read under a limit), `verify`, `payload`
//! (probe or JSON, parsed by `json`), `render` (route and render), then the
//! spool; `tally` counts each source's answers for the status API. Every error is a small JSON body.
//!
//! warp's `path::full`, `tail` and `peek` are not used: they panic on a
//! `CONNECT` request in warp 0.4.3.

pub mod accept;
pub mod body;
pub mod client;
pub mod deadline;
pub mod json;
pub mod keys;
pub mod listener;
pub mod outcome;
pub mod payload;
pub mod render;
pub mod source;
mod stages;
pub mod tally;
pub mod throttle;
pub mod verify;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, Method, StatusCode};
use warp::Filter;
use warp::reply::Response;

use crate::runtime::Snapshot;
use crate::spool::Spool;
use crate::trace::Tracer;
use outcome::{Outcome, Refusal};

/// What ingress needs from the relay.
pub struct Ingress<S: Spool> {
    /// The config in force.
    pub snapshot: Arc<Snapshot>,
    /// Where accepted webhooks are written before the 202.
    pub spool: Arc<S>,
    /// Set at shutdown: new webhooks get 503.
    draining: AtomicBool,
    /// Each source's recent counts, for the status API.
    pub tally: tally::Tally,
    /// Where a webhook's spans go, when `server.tracing` is on.
    pub tracer: Tracer,
}

impl<S: Spool> Ingress<S> {
    /// Ingress for the config in `snapshot`, writing to `spool`, its
    /// spans to `tracer`.
    pub fn new(snapshot: Arc<Snapshot>, spool: Arc<S>, tracer: Tracer) -> Ingress<S> {
        Ingress {
            snapshot,
            spool,
            draining: AtomicBool::new(false),
            tally: tally::Tally::default(),
            tracer,
        }
    }

    /// From now on, new webhooks are answered 503 (shutdown).
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether [`Ingress::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// The warp filter for one connection from `peer`.
pub fn filter<S: Spool>(
    ingress: Arc<Ingress<S>>,
    peer: SocketAddr,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let hooks = warp::path!("hooks" / String)
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |source: String, method: Method, headers: HeaderMap, body| {
                let ingress = ingress.clone();
                async move {
                    let started = std::time::Instant::now();
                    // Made by `accept` once the source is known, if tracing is on.
                    let mut trace = None;
                    let outcome = ingress
                        .accept(peer, &source, method, headers, body, &mut trace)
                        .await;
                    let (response, label) = outcome.answer();
                    if let Some(request) = trace {
                        ingress.tracer.answered(request, response.status().as_u16());
                    }
                    // Only configured names label the metric: a scan of
                    // made-up paths must not grow it.
                    let known = !matches!(outcome, Outcome::Refused(Refusal::UnknownSource(_)));
                    let source = if known { &source } else { "_unknown" };
                    crate::metrics::received(source, label, started.elapsed());
                    if known {
                        ingress.tally.record(source, label, crate::time::now_ms());
                    }
                    response
                }
            },
        );
    hooks
        .recover(|_rejection: warp::Rejection| async {
            Ok::<_, Infallible>(outcome::error(
                StatusCode::NOT_FOUND,
                "no such path; webhooks go to POST /hooks/{source}",
            ))
        })
        .unify()
}
