//! A scriptable fake downstream HTTP server for end-to-end tests.
//!
//! ```ignore
//! let crm = FakeTarget::start().await;
//! crm.script([Reply::Status(503), Reply::retry_after(429, "1")]); // then the default, 200
//! // ... point switchboard at crm.url("/crm") and send a webhook ...
//! let got = crm.wait_for(3, Duration::from_secs(5)).await;
//! assert_eq!(got[2].path, "/crm");
//! ```
//!
//! Every request is recorded (after its body has been read, before it is
//! answered, so a `Reply::Hang` request is recorded too) and then answered with
//! the next queued [`Reply`], or with the default status once the queue is empty.
//! Dropping the [`FakeTarget`] stops the listener and every open connection,
//! including hanging ones.
//!
//! Timestamps and delays use `tokio::time`, so they follow a paused clock, but
//! the sockets are real: prefer real time in tests that go through the network.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// One request as the fake target saw it.
#[derive(Clone)]
pub struct Received {
    pub method: String,
    /// Path only, e.g. `/crm`.
    pub path: String,
    /// Query string without the `?`, if any.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When the request head arrived (tokio clock).
    pub at: Instant,
}

impl Received {
    /// First value of a header as a string (`None` if absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as UTF-8 (panics if it is not).
    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("request body is not UTF-8")
    }

    /// The body parsed as JSON (panics if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "request body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(200).collect();
        f.debug_struct("Received")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("body", &body)
            .field("at", &self.at)
            .finish()
    }
}

/// How the fake target answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer at once with this status and an empty body.
    Status(u16),
    /// Answer at once with this status and these extra headers.
    WithHeaders(u16, Vec<(String, String)>),
    /// Answer at once with this status and a JSON body.
    Json(u16, &'static str),
    /// Wait (tokio clock), then answer with this status.
    Delay(Duration, u16),
    /// Never answer; the connection stays open until the `FakeTarget` is dropped.
    Hang,
    /// Close the connection without answering (the client sees a transport error).
    Close,
}

impl Reply {
    /// `status` with a `Retry-After: value` header.
    pub fn retry_after(status: u16, value: impl Into<String>) -> Reply {
        Reply::WithHeaders(status, vec![("retry-after".to_owned(), value.into())])
    }
}

impl From<u16> for Reply {
    fn from(status: u16) -> Reply {
        Reply::Status(status)
    }
}

struct State {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    default_status: u16,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Number of recorded requests; waiters subscribe to it.
    count: watch::Sender<usize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the recorded requests.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fake downstream HTTP/1.1 + h2c server on `127.0.0.1:<random port>`.
pub struct FakeTarget {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl FakeTarget {
    /// Bind `127.0.0.1:0` and start serving (answers 200 until scripted otherwise).
    pub async fn start() -> FakeTarget {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake target on 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake target local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                received: Vec::new(),
                script: VecDeque::new(),
                default_status: 200,
                in_flight: 0,
                max_in_flight: 0,
            }),
            count: watch::Sender::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        FakeTarget {
            addr,
            shared,
            accept,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`; `path` should start with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Set the status used once the script is exhausted (initially 200).
    pub fn respond(&self, status: u16) {
        self.shared.lock().default_status = status;
    }

    /// Queue replies, consumed one per request in arrival order, before the default.
    pub fn script<R: Into<Reply>>(&self, replies: impl IntoIterator<Item = R>) {
        self.shared
            .lock()
            .script
            .extend(replies.into_iter().map(Into::into));
    }

    /// Snapshot of every request recorded so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.lock().max_in_flight
    }

    /// Number of requests recorded so far.
    pub fn count(&self) -> usize {
        *self.shared.count.borrow()
    }

    /// Wait until at least `n` requests were recorded and return them all.
    /// Panics after `timeout` saying how many arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let mut rx = self.shared.count.subscribe();
        // Drop the watch guard before taking the state lock: `handle` locks
        // the state, then writes the watch.
        let reached = tokio::time::timeout(timeout, rx.wait_for(|&c| c >= n))
            .await
            .is_ok();
        if !reached {
            let got = self.received();
            panic!(
                "fake target {}: expected at least {n} request(s) within {timeout:?}, \
                 but {} arrived: {:?}",
                self.addr,
                got.len(),
                summary(&got)
            );
        }
        self.received()
    }

    /// Assert that no more than `expected` requests (in total) arrive within `window`.
    /// Fails as soon as one too many arrives.
    pub async fn assert_quiet(&self, expected: usize, window: Duration) {
        let mut rx = self.shared.count.subscribe();
        let exceeded = tokio::time::timeout(window, rx.wait_for(|&c| c > expected))
            .await
            .is_ok();
        if exceeded {
            let got = self.received();
            panic!(
                "fake target {}: expected at most {expected} request(s) within {window:?}, \
                 but {} arrived: {:?}",
                self.addr,
                got.len(),
                summary(&got)
            );
        }
    }
}

impl Drop for FakeTarget {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every connection.
        self.accept.abort();
    }
}

impl fmt::Debug for FakeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeTarget")
            .field("addr", &self.addr)
            .field("received", &self.count())
            .finish()
    }
}

fn summary(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| handle(req, shared.clone()));
                    // Errors here are client disconnects or `Reply::Close`: ignore.
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Reap finished connections so the set does not grow forever.
            Some(_) = conns.join_next() => {}
        }
    }
}

/// One request being answered; see [`FakeTarget::max_in_flight`].
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
    }
}

#[derive(Debug)]
struct CloseConnection;

impl fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("scripted connection close")
    }
}

impl std::error::Error for CloseConnection {}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(CloseConnection),
    };
    let reply = {
        let mut state = shared.lock();
        state.received.push(Received {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body,
            at,
        });
        let status = state.default_status;
        let reply = state.script.pop_front().unwrap_or(Reply::Status(status));
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        let n = state.received.len();
        shared.count.send_replace(n);
        reply
    };
    // Counted out when the answer is decided, or the connection dropped.
    let _in_flight = InFlight(shared.clone());
    let mut body = Bytes::new();
    let (status, headers) = match reply {
        Reply::Status(s) => (s, Vec::new()),
        Reply::WithHeaders(s, h) => (s, h),
        Reply::Json(s, json) => {
            body = Bytes::from_static(json.as_bytes());
            (
                s,
                vec![("content-type".to_owned(), "application/json".to_owned())],
            )
        }
        Reply::Delay(d, s) => {
            tokio::time::sleep(d).await;
            (s, Vec::new())
        }
        Reply::Hang => std::future::pending().await,
        Reply::Close => return Err(CloseConnection),
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = StatusCode::from_u16(status).expect("scripted status must be 100..=999");
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("scripted header name");
        let value = HeaderValue::from_str(&value).expect("scripted header value");
        resp.headers_mut().append(name, value);
    }
    Ok(resp)
}
