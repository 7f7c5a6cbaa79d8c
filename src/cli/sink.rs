//! `switchboard sink`: a local downstream to try routes with. It prints every
//! request it gets (method, path, the headers a delivery carries, the whole
//! body, JSON pretty-printed) and answers each with one scripted status.
//!
//! Also the load benchmarks' downstream (`bench/run.sh`, with `--quiet`):
//! per request it reads the body and counts it, nothing more, and
//! `GET /count` / `POST /reset` read and zero the counts. Must not store
//! anything, and must not echo secrets: `authorization`-like headers print
//! as `<redacted>`.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::request::Parts;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::cli::args::SinkArgs;

/// Why the sink could not run.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen for Ctrl-C")]
    Signal(#[source] std::io::Error),
    #[error("--status {0} is not an HTTP status")]
    Status(u16),
}

/// Headers not worth a line: the transport's, the same on every request.
const QUIET_HEADERS: &[&str] = &["host", "content-length", "accept", "accept-encoding"];

/// One address's counts, read by `GET /count`.
#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
}

struct Sink {
    status: StatusCode,
    quiet: bool,
    counters: Counters,
}

/// Listens on every `--listen` address until Ctrl-C.
pub fn run(args: &SinkArgs) -> Result<(), SinkError> {
    let status = StatusCode::from_u16(args.status).map_err(|_| SinkError::Status(args.status))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(SinkError::Runtime)?
        .block_on(listen(&args.listen, status, args.quiet))
}

async fn listen(addrs: &[SocketAddr], status: StatusCode, quiet: bool) -> Result<(), SinkError> {
    let mut tasks = tokio::task::JoinSet::new();
    for &addr in addrs {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SinkError::Listen { addr, source })?;
        let shown = listener.local_addr().unwrap_or(addr);
        eprintln!("sink listening on http://{shown} (status {status})");
        let sink = Arc::new(Sink {
            status,
            quiet,
            counters: Counters::default(),
        });
        tasks.spawn(serve(listener, sink));
    }
    tokio::signal::ctrl_c().await.map_err(SinkError::Signal)?;
    eprintln!("sink: Ctrl-C, stopping");
    tasks.shutdown().await;
    Ok(())
}

async fn serve(listener: TcpListener, sink: Arc<Sink>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let sink = sink.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| handle(req, sink.clone()));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = conns.join_next() => {}
        }
    }
}

async fn handle(req: Request<Incoming>, sink: Arc<Sink>) -> hyper::Result<Response<Full<Bytes>>> {
    let c = &sink.counters;
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/count") => {
            let json = format!(
                r#"{{"requests": {}, "bytes": {}}}"#,
                c.requests.load(Ordering::Relaxed),
                c.bytes.load(Ordering::Relaxed)
            );
            let mut resp = Response::new(Full::new(Bytes::from(json)));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return Ok(resp);
        }
        (&Method::POST, "/reset") => {
            c.requests.store(0, Ordering::Relaxed);
            c.bytes.store(0, Ordering::Relaxed);
            return Ok(Response::new(Full::new(Bytes::new())));
        }
        _ => {}
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    c.requests.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    if !sink.quiet {
        // One write per request, so that concurrent requests do not
        // interleave; a closed stdout is not the sender's problem.
        let text = describe(&parts, &body, sink.status);
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = sink.status;
    Ok(resp)
}

/// What the sink prints for one request: `METHOD PATH -> STATUS`, a line per
/// header that matters, the whole body, and a blank line.
fn describe(parts: &Parts, body: &[u8], status: StatusCode) -> String {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut text = format!("{} {path} -> {}\n", parts.method, status.as_u16());
    for (name, value) in &parts.headers {
        if QUIET_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = if crate::redact::sensitive_name(name) {
            "<redacted>".into()
        } else {
            String::from_utf8_lossy(value.as_bytes())
        };
        text.push_str(&format!("{name}: {value}\n"));
    }
    text.push_str(&show_body(body));
    text.push_str("\n\n");
    text
}

/// The body whole: JSON pretty-printed, other text with its control
/// characters escaped (a body must not drive the terminal).
fn show_body(body: &[u8]) -> String {
    if body.is_empty() {
        return "(no body)".to_owned();
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body)
        && let Ok(pretty) = serde_json::to_string_pretty(&json)
    {
        return pretty;
    }
    String::from_utf8_lossy(body)
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::post("/crm?x=1");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn prints_the_whole_json_body_pretty_and_redacts_credentials() {
        let parts = parts(&[
            ("host", "127.0.0.1:9101"),
            ("content-type", "application/json"),
            ("authorization", "Bearer secret-xyz"),
            ("x-api-key", "secret-xyz"),
            ("webhook-id", "019a"),
        ]);
        let text = describe(&parts, br#"{"call":{"id":"c1"}}"#, StatusCode::OK);
        assert_eq!(
            text,
            "POST /crm?x=1 -> 200\ncontent-type: application/json\n\
             authorization: <redacted>\nx-api-key: <redacted>\nwebhook-id: 019a\n\
             {\n  \"call\": {\n    \"id\": \"c1\"\n  }\n}\n\n"
        );
    }

    #[test]
    fn prints_other_bodies_as_text_with_control_characters_escaped() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "(no body)"),
            (b"a=1&b=2", "a=1&b=2"),
            (b"line\nnext\x1b[31m", "line\nnext\\u{1b}[31m"),
            (b"{not json", "{not json"),
        ];
        for (body, shown) in cases {
            assert_eq!(show_body(body), *shown, "{body:?}");
        }
    }
}
