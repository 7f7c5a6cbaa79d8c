//! The exporter task: gathers finished spans for `server.tracing.batch_delay`
//! (or up to [`BATCH`] of them) and posts them to the collector as OTLP
//! protobuf, once; a collector that fails loses that batch (counted in
//! `switchboard_trace_spans_dropped_total`, warned about once per outage).
//!
//! Reads the settings in force at each batch, so a reload's endpoint or
//! headers apply. Must not block anyone: the relay hands spans over with
//! `try_send` and never waits for this task but at shutdown's flush.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Message, Span, otlp};
use crate::runtime::Snapshot;

/// Spans per request at most.
const BATCH: usize = 512;

/// Time for one export request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs until `stop`, posting what `rx` brings through `client`.
pub async fn run(
    mut rx: mpsc::Receiver<Message>,
    snapshot: Arc<Snapshot>,
    client: reqwest::Client,
    stop: CancellationToken,
) {
    let mut exporter = Exporter {
        snapshot,
        client,
        failing: false,
    };
    let mut batch = Vec::new();
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            () = stop.cancelled() => None,
        };
        let flushed = match first {
            None => return exporter.send(std::mem::take(&mut batch)).await,
            Some(Message::Span(span)) => {
                batch.push(span);
                gather(&mut rx, &mut batch, exporter.delay()).await
            }
            Some(Message::Flush(done)) => Some(done),
        };
        exporter.send(std::mem::take(&mut batch)).await;
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
}

/// Adds spans to `batch` until `delay` is over, it is full or a flush is
/// asked for (returned, to answer once the batch is sent).
async fn gather(
    rx: &mut mpsc::Receiver<Message>,
    batch: &mut Vec<Span>,
    delay: Duration,
) -> Option<tokio::sync::oneshot::Sender<()>> {
    let deadline = tokio::time::sleep(delay);
    tokio::pin!(deadline);
    while batch.len() < BATCH {
        tokio::select! {
            () = &mut deadline => return None,
            m = rx.recv() => match m {
                Some(Message::Span(span)) => batch.push(span),
                Some(Message::Flush(done)) => return Some(done),
                None => return None,
            },
        }
    }
    None
}

struct Exporter {
    snapshot: Arc<Snapshot>,
    client: reqwest::Client,
    /// The last export failed: the next failure is not warned about again.
    failing: bool,
}

impl Exporter {
    /// The batch delay in force (1 s while tracing is off).
    fn delay(&self) -> Duration {
        let runtime = self.snapshot.load();
        runtime
            .server
            .tracing
            .as_ref()
            .map_or(Duration::from_secs(1), |s| s.batch_delay)
    }

    /// Posts `spans` to the collector in force (dropped if tracing was
    /// turned off meanwhile).
    async fn send(&mut self, spans: Vec<Span>) {
        if spans.is_empty() {
            return;
        }
        let Some(settings) = self.snapshot.load().server.tracing.clone() else {
            return;
        };
        let body = otlp::encode(&settings.service_name, &spans);
        let answer = self
            .client
            .post(settings.endpoint.clone())
            .headers(settings.headers.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .timeout(TIMEOUT)
            .body(body)
            .send()
            .await;
        let failure = match answer {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("the collector answered {}", r.status().as_u16())),
            Err(e) => Some(format!("could not reach the collector: {e}")),
        };
        match failure {
            Some(error) => {
                crate::metrics::spans_dropped(spans.len() as u64);
                if !self.failing {
                    tracing::warn!(spans = spans.len(), %error, "could not export trace spans; they are dropped (warned once until an export succeeds)");
                }
                self.failing = true;
            }
            None if self.failing => {
                tracing::info!("exporting trace spans again");
                self.failing = false;
            }
            None => {}
        }
    }
}
