//! A fake OTLP collector: a [`FakeTarget`] that takes `POST /v1/traces`,
//! whose bodies are decoded with the official generated protobuf types
//! (`opentelemetry-proto`), not with the relay's own encoder.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::time::Instant;

use super::{FakeTarget, WAIT};

/// The collector, on `127.0.0.1:0`.
pub struct Collector {
    pub fake: FakeTarget,
}

/// A span with the `service.name` of the resource that sent it.
#[derive(Debug, Clone)]
pub struct Got {
    pub service: String,
    pub span: Span,
}

impl Collector {
    pub async fn start() -> Collector {
        Collector {
            fake: FakeTarget::start().await,
        }
    }

    /// Its base URL, as `server.tracing.endpoint` takes it.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.fake.addr())
    }

    /// Every span received so far; panics on a body that is not an OTLP
    /// request in protobuf, or one posted elsewhere than `/v1/traces`.
    pub fn spans(&self) -> Vec<Got> {
        let mut all = Vec::new();
        for request in self.fake.received() {
            assert_eq!(request.path, "/v1/traces");
            assert_eq!(
                request.header("content-type"),
                Some("application/x-protobuf")
            );
            let export = ExportTraceServiceRequest::decode(request.body.as_ref())
                .unwrap_or_else(|e| panic!("not an OTLP trace export: {e}"));
            for resource in export.resource_spans {
                let service = resource
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|kv| kv.key == "service.name")
                    .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
                    .unwrap_or_default();
                for scope in resource.scope_spans {
                    for span in scope.spans {
                        all.push(Got {
                            service: service.clone(),
                            span,
                        });
                    }
                }
            }
        }
        all
    }

    /// Waits (bounded by [`WAIT`]) until the spans received satisfy `done`;
    /// returns them. Panics with what came, saying `what` was awaited.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + WAIT;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            let next = self.fake.count() + 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let more = self.fake.wait_for(next, left + Duration::from_secs(1));
            if tokio::time::timeout(left, more).await.is_err() {
                let names: Vec<_> = spans.iter().map(|g| &g.span.name).collect();
                panic!(
                    "collector: waited for {what}; got {} span(s): {names:?}",
                    spans.len()
                );
            }
        }
    }
}

/// A text value.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// A span's attribute as JSON-ish text: strings as they are, numbers in
/// decimal, lists joined with `,`.
pub fn attr(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    Some(match value {
        Value::StringValue(s) => s.clone(),
        Value::IntValue(n) => n.to_string(),
        Value::BoolValue(b) => b.to_string(),
        Value::ArrayValue(list) => list
            .values
            .iter()
            .filter_map(|v| text(v.value.as_ref()?))
            .collect::<Vec<_>>()
            .join(","),
        other => format!("{other:?}"),
    })
}

/// Bytes as lower-case hex, as W3C headers write ids.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
