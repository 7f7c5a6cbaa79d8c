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
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulConnection, GracefulShutdown};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::reply::Response;

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

/// A request body that was not complete in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

impl BodyTimedOut {
    /// Whether `error`, or an error it was caused by, is a body deadline.
    pub fn caused(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut cause = Some(error);
        while let Some(e) = cause {
            if e.is::<BodyTimedOut>() {
                return true;
            }
            cause = e.source();
        }
        false
    }
}

/// A request body that fails with [`BodyTimedOut`] once its deadline
/// passes, however the bytes trickle in.
pub struct DeadlineBody {
    inner: Incoming,
    limit: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, limit: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(self.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes fail once the peer has taken nothing for
/// `limit`: the clock starts when a write first finds the socket's buffer
/// full, and any progress stops it.
pub struct WriteDeadline<IO> {
    io: IO,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> WriteDeadline<IO> {
    /// Wraps `io`.
    pub fn new(io: IO, limit: Duration) -> WriteDeadline<IO> {
        WriteDeadline {
            io,
            limit,
            stalled: None,
        }
    }

    /// A write's result, or an error once writes have been pending for
    /// `limit`.
    fn watch(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        if written.is_ready() {
            self.stalled = None;
            return written;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took no response bytes within server.body_timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WriteDeadline<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
