//! What the history shows of webhooks: the search's page of summaries and
//! one webhook's whole story (its bodies, headers, keys, and each
//! delivery's attempt timeline), and how stored rows become those views.
//!
//! The backends read rows ([`EventRow`], [`DeliveryRow`], [`AttemptRow`])
//! and this module assembles them, so both show the same thing the same
//! way: states through [`DeliveryState::of`], bodies inline up to
//! [`INLINE_BYTES`] (as text when UTF-8, else base64). No SQL here.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DeliveryState;

/// Bodies shown inline up to this many bytes; larger ones are fetched
/// with `GET /api/events/{id}/body`.
pub const INLINE_BYTES: usize = 64 * 1024;

/// One page of a search, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What every view of a webhook starts with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventHead {
    /// The webhook's id (the `webhook-id` its targets get).
    pub id: String,
    /// Source name.
    pub source: String,
    /// Client address as ingress saw it.
    pub client_ip: String,
    /// When it arrived, unix milliseconds.
    pub received_ms: i64,
    /// The same, RFC 3339.
    pub received: String,
    /// The routes it matched.
    pub routes: Vec<String>,
    /// Its lookup keys: name → value, or an array of values.
    pub keys: Value,
}

/// A search result: the webhook and the state of each delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventSummary {
    #[serde(flatten)]
    pub head: EventHead,
    /// One per delivery, in creation order.
    pub deliveries: Vec<DeliverySummary>,
}

/// What became of one delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverySummary {
    /// Target name.
    pub target: String,
    /// The route that chose it.
    pub route: String,
    /// Its state.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// The last answer's status, if any.
    pub last_status: Option<u16>,
    /// The last failure's class (timeout, connect, tls, body, redirect,
    /// request), if any; none when the target answered.
    #[serde(default)]
    pub last_class: Option<String>,
    /// The last failure, or why it could not be rendered.
    pub last_error: Option<String>,
}

/// One webhook's whole story (`GET /api/events/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventView {
    #[serde(flatten)]
    pub head: EventHead,
    /// Its body's size in bytes.
    pub size: usize,
    /// Its `content-type`, if it had one.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The headers it came with, secrets redacted.
    #[serde(default)]
    pub headers: Value,
    /// The version of the config that routed it.
    #[serde(default)]
    pub config_version: Option<String>,
    /// The body as received.
    pub body: Inline,
    /// Each delivery, in creation order.
    pub deliveries: Vec<DeliveryView>,
}

/// One delivery's story.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryView {
    #[serde(flatten)]
    pub summary: DeliverySummary,
    /// When it is (or was) due next, unix milliseconds.
    pub due_ms: i64,
    /// When it last changed, unix milliseconds.
    pub updated_ms: i64,
    /// What it sends.
    pub body: SentBody,
    /// Every attempt, first to last.
    pub timeline: Vec<AttemptView>,
}

/// The body a delivery sends: the webhook's own bytes, a body of its own
/// (a transform's), or none (its transform failed on this payload).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SentBody {
    /// The webhook's original bytes, unchanged (see the event's `body`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub original: bool,
    /// Not rendered: the transform's error. Nothing is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrendered: Option<String>,
    /// A body of its own.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub own: Option<Inline>,
}

/// Bytes as JSON can show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inline {
    /// Size in bytes.
    pub size: usize,
    /// `utf8` (the bytes are the text of `content`) or `base64`.
    pub encoding: String,
    /// The bytes; absent when larger than the inline limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Whether `content` was left out for its size.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl Inline {
    /// `bytes` inline when at most [`INLINE_BYTES`].
    pub fn of(bytes: &[u8]) -> Inline {
        let text = std::str::from_utf8(bytes).ok();
        let encoding = if text.is_some() { "utf8" } else { "base64" };
        let content = (bytes.len() <= INLINE_BYTES).then(|| match text {
            Some(text) => text.to_owned(),
            None => base64::engine::general_purpose::STANDARD.encode(bytes),
        });
        Inline {
            size: bytes.len(),
            encoding: encoding.to_owned(),
            truncated: content.is_none(),
            content,
        }
    }

    /// The bytes back, when inline.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        let content = self.content.as_ref()?;
        match self.encoding.as_str() {
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(content)
                .ok(),
            _ => Some(content.clone().into_bytes()),
        }
    }
}

/// One attempt, as the timeline shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptView {
    /// Which attempt, from 1.
    pub attempt: u32,
    /// When it started, unix milliseconds.
    pub started_ms: i64,
    /// The same, RFC 3339.
    pub started: String,
    /// How long until the answer or the failure.
    pub duration_ms: i64,
    /// The answer's status, if there was one.
    pub status: Option<u16>,
    /// The failure's class, if it failed.
    pub class: Option<String>,
    /// The failure, in words.
    pub error: Option<String>,
    /// The request headers as sent, secrets redacted.
    pub request_headers: Value,
    /// The answer's headers.
    pub response_headers: Value,
    /// The first bytes of the answer (`server.history.response_bytes`).
    pub response_body: Option<Inline>,
}

/// A webhook's stored input: what `/body` serves and `/explain` explains.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Source name.
    pub source: String,
    /// Its `content-type`, if it had one.
    pub content_type: Option<String>,
    /// The headers it came with (JSON object text, secrets redacted).
    pub headers: Option<String>,
    /// The config version that routed it.
    pub config_version: Option<String>,
    /// The body as received.
    pub body: bytes::Bytes,
}

/// An event row as a backend reads it.
pub struct EventRow {
    pub id: String,
    pub source: String,
    pub client_ip: String,
    pub received_ms: i64,
    /// JSON array text.
    pub routes: String,
    /// JSON object text.
    pub keys: Option<String>,
}

/// An event row with what its detail adds.
pub struct EventDetailRow {
    pub event: EventRow,
    pub content_type: Option<String>,
    /// JSON object text.
    pub headers: Option<String>,
    pub config_version: Option<String>,
    pub body: Vec<u8>,
}

impl EventDetailRow {
    /// The whole story, from its delivery rows (with their own bodies) and
    /// all their attempts.
    pub fn view(self, deliveries: Vec<DeliveryRow>, attempts: &[AttemptRow]) -> EventView {
        EventView {
            head: self.event.head(),
            size: self.body.len(),
            headers: json_or(self.headers.as_deref(), Value::Object(Default::default())),
            content_type: self.content_type,
            config_version: self.config_version,
            body: Inline::of(&self.body),
            deliveries: deliveries.into_iter().map(|d| d.view(attempts)).collect(),
        }
    }
}

/// A delivery row as a backend reads it.
pub struct DeliveryRow {
    pub id: i64,
    pub event: String,
    pub target: String,
    pub route: String,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_class: Option<String>,
    pub last_error: Option<String>,
    pub due_ms: i64,
    pub updated_ms: i64,
    /// Its own body; `None` means the event's.
    pub body: Option<Vec<u8>>,
}

/// An attempt row as a backend reads it.
pub struct AttemptRow {
    pub delivery: i64,
    pub attempt: i64,
    pub started_ms: i64,
    pub duration_ms: i64,
    pub status: Option<i64>,
    pub class: Option<String>,
    pub error: Option<String>,
    pub request_headers: Option<String>,
    pub response_headers: Option<String>,
    pub response_body: Option<Vec<u8>>,
}

/// JSON text as a value; `default` when absent or unreadable.
fn json_or(text: Option<&str>, default: Value) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(default)
}

impl EventRow {
    /// The head every view starts with.
    pub fn head(self) -> EventHead {
        EventHead {
            received: crate::time::rfc3339_ms(self.received_ms),
            routes: serde_json::from_str(&self.routes).unwrap_or_default(),
            keys: json_or(self.keys.as_deref(), Value::Object(Default::default())),
            id: self.id,
            source: self.source,
            client_ip: self.client_ip,
            received_ms: self.received_ms,
        }
    }
}

impl DeliveryRow {
    /// Its summary.
    pub fn summary(&self) -> DeliverySummary {
        let attempts = u32::try_from(self.attempts).unwrap_or(0);
        DeliverySummary {
            target: self.target.clone(),
            route: self.route.clone(),
            state: DeliveryState::of(&self.state, attempts),
            attempts,
            last_status: self.last_status.and_then(|s| u16::try_from(s).ok()),
            last_class: self.last_class.clone(),
            last_error: self.last_error.clone(),
        }
    }

    /// Its whole story, with its attempts (`attempts` may hold others').
    pub fn view(self, attempts: &[AttemptRow]) -> DeliveryView {
        let summary = self.summary();
        let body = if summary.state == DeliveryState::Unrendered {
            SentBody {
                unrendered: Some(self.last_error.clone().unwrap_or_default()),
                ..SentBody::default()
            }
        } else {
            match &self.body {
                Some(own) => SentBody {
                    own: Some(Inline::of(own)),
                    ..SentBody::default()
                },
                None => SentBody {
                    original: true,
                    ..SentBody::default()
                },
            }
        };
        let timeline = attempts
            .iter()
            .filter(|a| a.delivery == self.id)
            .map(AttemptRow::view)
            .collect();
        DeliveryView {
            summary,
            due_ms: self.due_ms,
            updated_ms: self.updated_ms,
            body,
            timeline,
        }
    }
}

impl AttemptRow {
    fn view(&self) -> AttemptView {
        let object = || Value::Object(Default::default());
        AttemptView {
            attempt: u32::try_from(self.attempt).unwrap_or(0),
            started_ms: self.started_ms,
            started: crate::time::rfc3339_ms(self.started_ms),
            duration_ms: self.duration_ms,
            status: self.status.and_then(|s| u16::try_from(s).ok()),
            class: self.class.clone(),
            error: self.error.clone(),
            request_headers: json_or(self.request_headers.as_deref(), object()),
            response_headers: json_or(self.response_headers.as_deref(), object()),
            response_body: self.response_body.as_deref().map(Inline::of),
        }
    }
}

/// A page of summaries from the page's event rows (newest first, at most
/// `limit + 1` of them: one more says there is a next page) and all their
/// delivery rows.
pub fn page(
    mut events: Vec<EventRow>,
    deliveries: &[DeliveryRow],
    limit: usize,
) -> Page<EventSummary> {
    let more = events.len() > limit;
    events.truncate(limit);
    let next_cursor = more.then(|| events.last().map(|e| e.id.clone())).flatten();
    let items = events
        .into_iter()
        .map(|row| {
            let mine = deliveries
                .iter()
                .filter(|d| d.event == row.id)
                .map(DeliveryRow::summary)
                .collect();
            EventSummary {
                head: row.head(),
                deliveries: mine,
            }
        })
        .collect();
    Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_text_when_utf8_else_base64_and_left_out_when_large() {
        let text = Inline::of(b"{\"a\":1}");
        assert_eq!((text.encoding.as_str(), text.size), ("utf8", 7));
        assert_eq!(text.content.as_deref(), Some("{\"a\":1}"));
        let binary = Inline::of(&[0xff, 0x00, 0x10]);
        assert_eq!(binary.encoding, "base64");
        assert_eq!(binary.bytes(), Some(vec![0xff, 0x00, 0x10]));
        let large = Inline::of(&vec![b'a'; INLINE_BYTES + 1]);
        assert!(large.truncated && large.content.is_none());
        let shown = serde_json::to_value(&large).unwrap();
        assert_eq!(shown["size"], INLINE_BYTES + 1);
    }

    #[test]
    fn a_sent_body_is_marked_original_or_unrendered() {
        let row = |state: &str, body: Option<Vec<u8>>| DeliveryRow {
            id: 1,
            event: "e".into(),
            target: "crm".into(),
            route: "r".into(),
            state: state.into(),
            attempts: 0,
            last_status: None,
            last_class: None,
            last_error: Some("jq: boom".into()),
            due_ms: 0,
            updated_ms: 0,
            body,
        };
        let original = serde_json::to_value(row("pending", None).view(&[]).body).unwrap();
        assert_eq!(original, serde_json::json!({"original": true}));
        let own = serde_json::to_value(row("dead", Some(b"{}".to_vec())).view(&[]).body).unwrap();
        assert_eq!(
            own,
            serde_json::json!({"size": 2, "encoding": "utf8", "content": "{}"})
        );
        let none = serde_json::to_value(row("unrendered", None).view(&[]).body).unwrap();
        assert_eq!(none, serde_json::json!({"unrendered": "jq: boom"}));
    }
}
