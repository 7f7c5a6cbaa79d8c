//! What the admin API may see and do of the running relay, and nothing
//! more: the config in force, whether it drains, the spool's counts and a
//! flush, the workers' circuits and memory, a wake-up after a replay, what
//! to drop after a cancel, a reload; the targets' pauses, probes and recent
//! counts, the live tail, the config file's path and each source's
//! ingress counts. `relay` implements it; admin never reaches
//! into the relay's parts, and does not import `relay`.
//!
//! Must not grow into a second relay API: a method belongs here only when
//! an endpoint needs it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::dispatch::controls::{ProbeError, Probed};
use crate::dispatch::series::Series;
use crate::runtime::Runtime;
use crate::spool::{Pending, SpoolError};
use crate::tail::Tail;

/// The running relay, as the admin API sees it.
pub trait Control: Send + Sync + 'static {
    /// The config in force.
    fn runtime(&self) -> Arc<Runtime>;

    /// Whether the relay is draining: new webhooks get 503.
    fn draining(&self) -> bool;

    /// Deliveries and body bytes not yet delivered or dead.
    fn pending(&self) -> Pending;

    /// Waits until everything written to the spool is durable.
    fn flush(&self) -> impl Future<Output = Result<(), SpoolError>> + Send;

    /// Has every target's worker look at the spool now (after a replay)
    /// rather than at its next poll.
    fn wake_dispatch(&self);

    /// Follows a bulk replay or cancel in the pending count: `entered`
    /// deliveries became pending, `left` ones stopped being.
    fn pending_moved(&self, entered: Pending, left: Pending);

    /// Has every target's worker drop these deliveries from its window
    /// (an operator cancelled them), so none is sent from memory.
    fn forget(&self, ids: &[i64]);

    /// Each target's circuit: `closed`, `half_open`, `open` or `disabled` (410).
    fn circuits(&self) -> HashMap<String, crate::dispatch::circuit::Status>;

    /// Body bytes each target's worker holds in memory.
    fn window_bytes(&self) -> HashMap<String, u64>;

    /// Re-reads the config (what SIGHUP does); whether the new one is in
    /// force. Either way [`Control::last_reload`] says what happened.
    fn reload(&self) -> impl Future<Output = bool> + Send;

    /// The last reload's outcome, if there was one.
    fn last_reload(&self) -> Option<ReloadStatus>;

    /// The targets an operator paused.
    fn paused(&self) -> HashSet<String>;

    /// Pauses (`paused`) or resumes a configured target, for every relay on
    /// the spool and across restarts; `by` is the token's name. Whether
    /// that changed anything.
    fn set_paused(
        &self,
        target: &str,
        paused: bool,
        by: Option<String>,
    ) -> impl Future<Output = Result<bool, PauseError>> + Send;

    /// Asks a target for a probe: its next delivery now (a retry's wait
    /// and an open circuit's cooldown cut short). The outcome comes on the
    /// channel.
    fn probe(
        &self,
        target: &str,
    ) -> impl Future<Output = Result<oneshot::Receiver<Probed>, ProbeError>> + Send;

    /// A configured target's counts of the last 24 hours.
    fn series(&self, target: &str) -> Option<Arc<Series>>;

    /// The live tail.
    fn tail(&self) -> Tail;

    /// The config file the relay reads (and a reload re-reads).
    fn config_path(&self) -> std::path::PathBuf;

    /// Each configured source's ingress counts and recent rate.
    fn ingress(&self) -> HashMap<String, crate::ingress::tally::Figures>;
}

/// Why a pause or resume failed.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("no such target")]
    Unknown,
    #[error("could not keep the pause in the spool: {0}")]
    Spool(#[source] SpoolError),
}

/// The outcome of the last reload, for the status API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadStatus {
    /// When, in unix milliseconds.
    pub at_ms: i64,
    /// Whether the new config is in force.
    pub ok: bool,
    /// Why not, one line per problem.
    pub problems: Vec<String>,
}
