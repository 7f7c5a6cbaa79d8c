//! Traces: one per webhook, exported over OTLP (HTTP, protobuf) when
//! `server.tracing` is set, W3C Trace Context in and out.
//!
//! A webhook's trace is its ingress span (`POST /hooks/{source}`: a root,
//! or the child of the sender's `traceparent`) with the stages below it
//! (`verify`, `route`, `commit`), and one `deliver` span per attempt. The
//! ingress span's [`Context`] is stored with the webhook (`events.trace`),
//! so attempts made minutes later, or after a restart, join the same
//! trace; each attempt sends its own span as the target's `traceparent`.
//!
//! - `context`: ids, `traceparent`/`tracestate`, the stored form.
//! - `span`: a finished span, and whether a trace is sampled.
//! - `otlp`: spans as OTLP protobuf; `export`: the task that sends them.
//! - `settings`: `server.tracing` compiled.
//!
//! Off (no `server.tracing`), nothing here runs: ingress sees no settings
//! and makes no [`Request`], the spool stores NULL, and an attempt of a
//! webhook without a stored context makes no span. The OpenTelemetry SDK
//! is not used: its span ids cannot be stored and taken up again by a
//! later process without a custom id generator and remote-parent
//! plumbing, its batch processor wants a thread and a blocking HTTP client
//! (or an experimental async runtime), and it and the OTLP exporter crates
//! add their compile time to every build. What we export is a handful of
//! spans with a few attributes; `otlp` writes them in ~150 lines, checked
//! against the official protobuf types in the test suite.
//!
//! Must not decide anything about a webhook: spans only watch.

pub mod context;
pub mod export;
pub mod otlp;
pub mod settings;
pub mod span;

use std::sync::Arc;

use http::HeaderMap;
use tokio::sync::{mpsc, oneshot};

pub use context::{Context, SpanId, TraceId};
pub use settings::Settings;
pub use span::{Kind, Span, Value};

use crate::runtime::Snapshot;

/// Spans waiting for the exporter at most; more are dropped (and counted
/// in the exporter's warning) rather than slowing a webhook down.
const QUEUE: usize = 8192;

/// What the exporter task is sent.
#[derive(Debug)]
pub enum Message {
    /// A finished span.
    Span(Span),
    /// Send what you hold now, then answer.
    Flush(oneshot::Sender<()>),
}

/// The relay's handle on its exporter task ([`export::run`]).
#[derive(Clone)]
pub struct Tracer {
    tx: mpsc::Sender<Message>,
    snapshot: Arc<Snapshot>,
}

/// A webhook's ingress span while its request is under way, and the
/// stages it went through.
#[derive(Debug)]
pub struct Request {
    /// The ingress span's place: what the spool keeps, what attempts hang
    /// under.
    pub context: Arc<Context>,
    /// The sender's span, when it sent a `traceparent`.
    parent: Option<SpanId>,
    start_ns: u64,
    attributes: Vec<(&'static str, Value)>,
    stages: Vec<Span>,
}

/// One delivery attempt's span while it is under way.
#[derive(Debug)]
pub struct Attempt {
    /// The attempt span's place; the target's `traceparent`.
    pub context: Context,
    parent: SpanId,
    start_ns: u64,
}

impl Tracer {
    /// A tracer reading whether tracing is on from `snapshot`, and the
    /// receiver its exporter task reads.
    pub fn new(snapshot: Arc<Snapshot>) -> (Tracer, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Tracer { tx, snapshot }, rx)
    }

    /// Begins the ingress span of a request to `source` under `settings`:
    /// the child of its `traceparent` if it has a valid one, else a root.
    pub fn request(&self, settings: &Settings, headers: &HeaderMap, source: &str) -> Request {
        let incoming = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(|parent| {
                let state = headers.get("tracestate").and_then(|v| v.to_str().ok());
                Context::parse(parent, state)
            });
        let trace = incoming.as_ref().map_or_else(TraceId::random, |p| p.trace);
        let sampled = span::sampled(settings.sample_ratio, incoming.as_ref(), trace);
        let mut request = Request {
            context: Arc::new(Context {
                trace,
                span: SpanId::random(),
                sampled,
                state: incoming
                    .as_ref()
                    .map(|p| p.state.clone())
                    .unwrap_or_default(),
            }),
            parent: incoming.map(|p| p.span),
            start_ns: now_ns(),
            attributes: Vec::new(),
            stages: Vec::new(),
        };
        request.set("switchboard.source", Value::Text(source.to_owned()));
        request.set("http.request.method", Value::Text("POST".to_owned()));
        request.set("http.route", Value::Text("/hooks/{source}".to_owned()));
        request
    }

    /// Ends `request`'s span, answered `status`, and exports it with its
    /// stages if its trace is sampled.
    pub fn answered(&self, mut request: Request, status: u16) {
        if !request.context.sampled {
            return;
        }
        request.set("http.response.status_code", Value::Int(i64::from(status)));
        let mut span = Span::under(
            &request.context,
            request.context.span,
            "POST /hooks/{source}",
            Kind::Server,
        );
        span.parent = request.parent;
        span.start_ns = request.start_ns;
        span.end_ns = now_ns();
        span.attributes = request.attributes;
        if status >= 500 {
            span.error = Some(format!("answered {status}"));
        }
        for stage in request.stages {
            self.send(stage);
        }
        self.send(span);
    }

    /// Begins an attempt's span under a webhook's stored context, if
    /// tracing is (still) on.
    pub fn attempt(&self, webhook: &Context) -> Option<Attempt> {
        self.snapshot.load().server.tracing.as_ref()?;
        Some(Attempt {
            context: Context {
                span: SpanId::random(),
                ..webhook.clone()
            },
            parent: webhook.span,
            start_ns: now_ns(),
        })
    }

    /// Ends `attempt`'s span with `attributes`, failed with `error` if it
    /// did, and exports it if its trace is sampled.
    pub fn attempted(
        &self,
        attempt: Attempt,
        attributes: Vec<(&'static str, Value)>,
        error: Option<String>,
    ) {
        if !attempt.context.sampled {
            return;
        }
        let mut span = Span::under(
            &attempt.context,
            attempt.context.span,
            "deliver",
            Kind::Client,
        );
        span.parent = Some(attempt.parent);
        span.start_ns = attempt.start_ns;
        span.end_ns = now_ns();
        span.attributes = attributes;
        span.error = error;
        self.send(span);
    }

    /// Sends what the exporter holds now; returns once it tried (or the
    /// exporter is gone).
    pub async fn flush(&self) {
        let (done, sent) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = sent.await;
        }
    }

    /// Hands `span` to the exporter, or drops it if the queue is full: a
    /// slow collector must not slow webhooks down.
    fn send(&self, span: Span) {
        if self.tx.try_send(Message::Span(span)).is_err() {
            crate::metrics::spans_dropped(1);
        }
    }
}

impl Request {
    /// Sets an attribute of the ingress span (sampled traces only).
    pub fn set(&mut self, key: &'static str, value: Value) {
        if self.context.sampled {
            self.attributes.push((key, value));
        }
    }

    /// When a stage begins: now, for a sampled trace (0 otherwise: its
    /// stages are not kept).
    pub fn begin(&self) -> u64 {
        if self.context.sampled { now_ns() } else { 0 }
    }

    /// Keeps a stage `name` begun at `began` and ending now, with
    /// `attributes`, failed with `error` if it did.
    pub fn stage(
        &mut self,
        name: &'static str,
        began: u64,
        attributes: Vec<(&'static str, Value)>,
        error: Option<String>,
    ) {
        if !self.context.sampled {
            return;
        }
        let mut span = Span::under(&self.context, SpanId::random(), name, Kind::Internal);
        span.start_ns = began;
        span.end_ns = now_ns();
        span.attributes = attributes;
        span.error = error;
        self.stages.push(span);
    }
}

/// Now, in nanoseconds since the Unix epoch.
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
