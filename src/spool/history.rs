//! What the history shows of webhooks: the search's page of summaries and
//! one webhook's whole story (its bodies, headers, keys, and each
//! delivery's attempt timeline), and how stored rows become those views.
//!
//! The backends read rows ([`EventRow`], [`DeliveryRow`], [`AttemptRow`])
//! and `rows` assembles them, so both show the same thing the same
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

mod rows;
pub use rows::{AttemptRow, DeliveryRow, EventDetailRow, EventRow, page};

#[cfg(test)]
mod tests;
