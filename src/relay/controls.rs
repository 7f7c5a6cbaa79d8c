//! An operator's pauses, kept in the spool's `target_controls` so that they
//! hold across restarts, reloads and replicas: read before the workers
//! start, at every reload, and every [`FOLLOW`] (a pause made on another
//! replica); written by `POST /api/targets/<name>/pause|resume`, which
//! also takes effect here at once. A probe's delivery is made due here
//! too. Must not decide anything about sending:
//! the workers do (`dispatch::controls`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::Core;
use crate::admin::PauseError;
use crate::dispatch::controls::{ProbeError, Probed};
use crate::spool::{Ledger, LedgerBackend, SpoolError, TargetControl};
use crate::tail::{Event, TargetEvent};

/// How often the pauses are read again from the spool, for those made on
/// another replica.
const FOLLOW: Duration = Duration::from_secs(5);

/// The targets paused in the spool.
pub(super) async fn paused(ledger: &LedgerBackend) -> Result<HashSet<String>, SpoolError> {
    Ok(ledger
        .controls()
        .await?
        .into_iter()
        .filter(|c| c.paused)
        .map(|c| c.target)
        .collect())
}

impl Core {
    /// Reads the pauses again and puts them in force, unless one was made
    /// here meanwhile.
    pub(super) async fn follow_paused(&self) {
        let mark = self.dispatcher.changes();
        match paused(&self.ledger).await {
            Ok(set) => self.dispatcher.follow_paused(set, mark),
            Err(error) => tracing::warn!(%error, "could not read the paused targets"),
        }
    }

    /// See [`crate::admin::Control::set_paused`].
    pub(super) async fn pause(
        &self,
        target: &str,
        paused: bool,
        by: Option<String>,
    ) -> Result<bool, PauseError> {
        if !self.snapshot.load().targets.contains_key(target) {
            return Err(PauseError::Unknown);
        }
        let at_ms = crate::time::now_ms();
        let control = TargetControl {
            target: target.to_owned(),
            paused,
            changed_ms: at_ms,
            changed_by: by.clone(),
        };
        // Stored first: a pause that the spool did not keep would be undone
        // by the next restart or by the next re-read.
        self.ledger
            .set_control(&control)
            .await
            .map_err(PauseError::Spool)?;
        let changed = self.dispatcher.set_paused(target, paused);
        let who = by.as_deref().unwrap_or("-");
        if paused {
            tracing::warn!(target = %target, by = %who, "target paused: nothing is sent until it is resumed");
        } else {
            tracing::info!(target = %target, by = %who, "target resumed");
        }
        let event = TargetEvent {
            target: target.to_owned(),
            by,
            at_ms,
        };
        self.tail.publish(|| {
            if paused {
                Event::Paused(event)
            } else {
                Event::Resumed(event)
            }
        });
        Ok(changed)
    }
}

impl Core {
    /// See [`crate::admin::Control::probe`]: the target's next delivery is
    /// made due now in the spool (unless one is due already), then its
    /// worker sends it, skipping an open circuit's cooldown.
    pub(super) async fn probe_now(
        &self,
        target: &str,
    ) -> Result<oneshot::Receiver<Probed>, ProbeError> {
        if !self.snapshot.load().targets.contains_key(target) {
            return Err(ProbeError::Unknown);
        }
        if self.dispatcher.paused().contains(target) {
            return Err(ProbeError::Paused);
        }
        if let Err(error) = self.ledger.due_now(target, crate::time::now_ms()).await {
            // The probe still sends what is due, if anything.
            tracing::warn!(target = %target, %error, "could not make a delivery due for a probe");
        }
        self.dispatcher.probe(target)
    }
}

/// Reads the pauses again every [`FOLLOW`] until `stop`.
pub(super) async fn follow(core: Arc<Core>, stop: CancellationToken) {
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + FOLLOW, FOLLOW);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => core.follow_paused().await,
            () = stop.cancelled() => return,
        }
    }
}
