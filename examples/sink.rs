//! A fast local HTTP sink: a stand-in downstream for the quick start and load benchmarks.
//!
//! ```text
//! cargo run --release --example sink -- --listen 127.0.0.1:9101 [--listen 127.0.0.1:9102 ...]
//!     [--status 200] [--print]
//! ```
//!
//! Every listen address answers any request with `--status` (default 200) after reading
//! the whole body, and counts requests and body bytes separately per address.
//! `GET /count` returns `{"requests": n, "bytes": n}` for that address and `POST /reset`
//! zeroes it (neither is counted). `--print` prints one line per request: method, path,
//! content-type, webhook-id, user-agent, authorization (redacted) and the body (first
//! 300 characters). Ctrl-C stops it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

const USAGE: &str = "usage: sink --listen ADDR [--listen ADDR ...] [--status CODE] [--print]";

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
}

struct Sink {
    status: StatusCode,
    print: bool,
    counters: Counters,
}

fn main() -> anyhow::Result<()> {
    let mut listen: Vec<SocketAddr> = Vec::new();
    let mut status = StatusCode::OK;
    let mut print = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--listen needs ADDR"))?;
                listen.push(v.parse()?);
            }
            "--status" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--status needs CODE"))?;
                status = StatusCode::from_u16(v.parse()?)?;
            }
            "--print" => print = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if listen.is_empty() {
        anyhow::bail!("at least one --listen is required\n{USAGE}");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(listen, status, print))
}

async fn run(listen: Vec<SocketAddr>, status: StatusCode, print: bool) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for addr in listen {
        let listener = TcpListener::bind(addr).await?;
        eprintln!(
            "sink listening on http://{} (status {status})",
            listener.local_addr()?
        );
        let sink = Arc::new(Sink {
            status,
            print,
            counters: Counters::default(),
        });
        tasks.spawn(serve(listener, sink));
    }
    tokio::signal::ctrl_c().await?;
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
                "content-type",
                hyper::header::HeaderValue::from_static("application/json"),
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
    if sink.print {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut line = format!("{} {path}", parts.method);
        for name in ["content-type", "webhook-id", "user-agent", "authorization"] {
            if let Some(v) = parts.headers.get(name) {
                let v = if name == "authorization" {
                    "<redacted>".into()
                } else {
                    String::from_utf8_lossy(v.as_bytes())
                };
                line.push_str(&format!(" {name}={v:?}"));
            }
        }
        let text = String::from_utf8_lossy(&body);
        let shown: String = text.chars().take(300).collect();
        let more = if shown.len() < text.len() { "…" } else { "" };
        println!("{line} body={shown:?}{more}");
    }
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = sink.status;
    Ok(resp)
}
