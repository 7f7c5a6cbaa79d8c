//! A stored webhook's announcement, which both writers make once the
//! commit is known: the `accepted` log line and the live tail's `accepted`
//! event. No storage, no replies.

use uuid::Uuid;

use super::NewEvent;
use crate::tail::{Accepted, Event, Tail};

/// A stored webhook's `accepted` log line and tail event. The writers
/// announce it once the commit is known and before the deliveries are
/// offered to the windows: logged by ingress after the 202, it could follow
/// the log line of a delivery that dispatch had already made.
#[derive(Debug)]
pub(crate) struct Announce {
    id: Uuid,
    source: String,
    client_ip: String,
    routes: Vec<String>,
    keys: Vec<(String, String)>,
    received_ms: i64,
    deliveries: usize,
    /// The target of each delivery stored, when the tail is watched.
    targets: Vec<String>,
    /// Its trace, when tracing is on.
    trace_id: Option<crate::trace::TraceId>,
}

impl Announce {
    /// The announcement of `event`, stored with deliveries to `targets`;
    /// their names are kept only while someone watches `tail`.
    pub(crate) fn of<'t>(
        event: NewEvent,
        targets: impl ExactSizeIterator<Item = &'t str>,
        tail: &Tail,
    ) -> Announce {
        let deliveries = targets.len();
        let targets = if tail.watched() {
            targets.map(str::to_owned).collect()
        } else {
            Vec::new()
        };
        Announce {
            id: event.id,
            source: event.source,
            client_ip: event.client_ip,
            routes: event.routes,
            keys: event.keys,
            received_ms: event.received_ms,
            deliveries,
            targets,
            trace_id: event.trace.as_ref().map(|t| t.trace),
        }
    }

    /// Logs it, under ingress's target (it is the story of a request, and
    /// log filters written for it keep working), and publishes it to the
    /// live tail, which costs nothing when nobody watches.
    pub(crate) fn log(&self, tail: &Tail) {
        tracing::info!(
            target: "switchboard::ingress",
            id = %self.id,
            source = %self.source,
            client_ip = %self.client_ip,
            routes = %crate::logs::List(&self.routes),
            deliveries = self.deliveries,
            trace_id = self.trace_id.map(tracing::field::display),
            "accepted"
        );
        tail.publish(|| {
            Event::Accepted(Accepted {
                id: self.id.to_string(),
                source: self.source.clone(),
                keys: super::keys_object(&self.keys),
                routes: self.routes.clone(),
                targets: self.targets.clone(),
                at_ms: self.received_ms,
            })
        });
    }
}
