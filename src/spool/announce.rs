//! A stored webhook's `accepted` log line, which both writers log once the
//! commit is known. Logging only: no storage, no replies.

use uuid::Uuid;

use super::NewEvent;

/// A stored webhook's `accepted` log line. The writers log it once the
/// commit is known and before the deliveries are offered to the windows:
/// logged by ingress after the 202, it could follow the log line of a
/// delivery that dispatch had already made.
#[derive(Debug)]
pub(crate) struct Announce {
    id: Uuid,
    source: String,
    client_ip: String,
    routes: Vec<String>,
    deliveries: usize,
}

impl Announce {
    /// The line for `event`, stored with `deliveries` deliveries.
    pub(crate) fn of(event: NewEvent, deliveries: usize) -> Announce {
        Announce {
            id: event.id,
            source: event.source,
            client_ip: event.client_ip,
            routes: event.routes,
            deliveries,
        }
    }

    /// Logs it, under ingress's target: it is the story of a request, and
    /// log filters written for it keep working.
    pub(crate) fn log(&self) {
        tracing::info!(
            target: "switchboard::ingress",
            id = %self.id,
            source = %self.source,
            client_ip = %self.client_ip,
            routes = %crate::logs::List(&self.routes),
            deliveries = self.deliveries,
            "accepted"
        );
    }
}
