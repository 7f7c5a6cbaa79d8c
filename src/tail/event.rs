//! What the live tail publishes: one [`Event`] per thing that happened,
//! serialized as JSON with its `type`. Plain data: no publishing here.

use serde::Serialize;

/// One thing that happened, as a watcher sees it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A webhook stored (after the spool's commit).
    Accepted(Accepted),
    /// One delivery attempt's outcome.
    Attempt(AttemptEvent),
    /// A delivery given up (also published as its last attempt).
    DeadLetter(AttemptEvent),
    /// An operator paused a target.
    Paused(TargetEvent),
    /// An operator resumed a target.
    Resumed(TargetEvent),
    /// An operator asked a target for a probe.
    Probe(TargetEvent),
    /// A config reload, put in force or rejected.
    Reload {
        /// Whether the new config is in force.
        ok: bool,
        /// Why not, one line per problem.
        problems: Vec<String>,
        /// Unix milliseconds.
        at_ms: i64,
    },
}

impl Event {
    /// The SSE event name: `accepted`, `attempt`, `dead_letter`, `paused`,
    /// `resumed`, `probe`, `reload`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Accepted(_) => "accepted",
            Event::Attempt(_) => "attempt",
            Event::DeadLetter(_) => "dead_letter",
            Event::Paused(_) => "paused",
            Event::Resumed(_) => "resumed",
            Event::Probe(_) => "probe",
            Event::Reload { .. } => "reload",
        }
    }
}

/// A stored webhook.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    /// The webhook's id.
    pub id: String,
    /// Source name.
    pub source: String,
    /// Its lookup keys, by name.
    pub keys: serde_json::Map<String, serde_json::Value>,
    /// The routes it matched.
    pub routes: Vec<String>,
    /// The target of each delivery stored for it.
    pub targets: Vec<String>,
    /// Unix milliseconds.
    pub at_ms: i64,
}

/// One attempt's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptEvent {
    /// Target name.
    pub target: String,
    /// The webhook's id.
    pub id: String,
    /// The delivery's spool row id.
    pub delivery: i64,
    /// Which attempt this was (1 for the first).
    pub attempt: u32,
    /// `delivered`, `retry`, `dead` or `parked`.
    pub outcome: &'static str,
    /// The HTTP status, when the target answered.
    pub status: Option<u16>,
    /// What went wrong, when something did.
    pub error: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: u64,
    /// Whether it was an operator's probe.
    pub probe: bool,
    /// Unix milliseconds.
    pub at_ms: i64,
}

/// An operator's action on a target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetEvent {
    /// Target name.
    pub target: String,
    /// The admin token's name, when tokens are set.
    pub by: Option<String>,
    /// Unix milliseconds.
    pub at_ms: i64,
}
