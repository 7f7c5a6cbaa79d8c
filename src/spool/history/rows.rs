//! The rows a backend reads for the history, and how they become its
//! views: states through [`DeliveryState::of`], JSON text parsed, bodies
//! inline. No SQL here; nothing decides what is stored.

use serde_json::Value;

use super::{
    AttemptView, DeliverySummary, DeliveryView, EventHead, EventSummary, EventView, Inline, Page,
    SentBody,
};
use crate::spool::DeliveryState;

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
