//! The accept loop both listeners (ingress and admin) go through: a cap on
//! open connections, HTTP/1.1 only, and time limits so that no client holds
//! a connection it does not use.
//!
//! - **First byte and headers**: hyper's `header_read_timeout` starts when a
//!   connection is accepted and again after every response, so one setting
//!   (`server.header_timeout`) bounds a silent connection, a slow header and
//!   a kept-alive connection's idle time alike.
//! - **Body**: [`DeadlineBody`] fails a request body that is not complete
//!   `server.body_timeout` after its headers; ingress answers that 408.
//! - **Responses**: [`WriteDeadline`] closes a connection whose client has
//!   not taken any of a response for `server.body_timeout`, so pipelining
//!   requests and never reading the answers cannot hold a connection.
//! - **HTTP/2 is not served.** Senders of webhooks speak HTTP/1.1, and the
//!   protocol sniffing that serving both needs ran before any timeout, so a
//!   partial preface held a connection forever. hyper now closes a
//!   connection that opens with the HTTP/2 preface at once, unanswered.
//!
//! Must not: know about sources, routes, the spool or the admin API; those
//! come in as the warp filter each connection serves.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulConnection, GracefulShutdown};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::reply::Response;

use super::deadline::{DeadlineBody, WriteDeadline};

/// How many connections a listener keeps open, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// From accept, or from the end of the last response, to the end of
    /// the next request's headers.
    pub header_timeout: Duration,
    /// From the end of a request's headers to the end of its body.
    pub body_timeout: Duration,
    /// How long open connections may take to finish once the loop stops.
    pub grace: Duration,
}

/// Serves `routes(peer)` on each connection `listener` accepts, within
/// `limits`, until `stop`; then lets open requests finish within the grace.
pub async fn serve<M, F>(
    name: &'static str,
    listener: TcpListener,
    limits: Limits,
    routes: M,
    stop: CancellationToken,
) where
    M: Fn(SocketAddr) -> F,
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
    F::Future: Send,
{
    let graceful = GracefulShutdown::new();
    // Fixed at start: a reload cannot resize a semaphore that open
    // connections hold permits of.
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stop.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off briefly
                    // instead of spinning.
                    tracing::warn!(listener = name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let connection = graceful.watch(connection(stream, &limits, routes(peer)));
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = connection.await {
                tracing::debug!(listener = name, %error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            "open connections did not finish within the grace period"
        );
    }
}

/// One connection on `io`, served by `routes` within `limits`' time limits:
/// what the accept loop runs for every connection it takes. Public so the
/// request fuzzer drives the same code over an in-memory stream.
pub fn connection<IO, F>(
    io: IO,
    limits: &Limits,
    routes: F,
) -> impl GracefulConnection<Error = hyper::Error> + Send + 'static
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
    F::Future: Send,
{
    let service = TowerToHyperService::new(warp::service(routes));
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let request = request.map(|body| DeadlineBody::new(body, body_timeout));
        hyper::service::Service::call(&service, request)
    });
    http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .serve_connection(
            TokioIo::new(WriteDeadline::new(io, limits.body_timeout)),
            service,
        )
}
