//! What a replica's writer does once a batch's transaction is over.
//! Committed: log the `accepted` lines, offer fresh deliveries to their
//! windows, count, answer the callers, note the live replicas. Failed:
//! mark the database down, answer every caller with the cause, and keep
//! the outcomes (bounded) and unoffered leases for the next transaction.
//! No SQL here.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use deadpool_postgres::Object;

use super::writer::{Done, Work, Writer};
use crate::spool::{Admitted, Announce, CommitError, Ready, SpoolError};

/// Outcomes kept across failed commits beyond this are dropped (and their
/// deliveries repeated): memory stays bounded during a long outage.
const MAX_UNWRITTEN: usize = 100_000;

impl Writer {
    pub(super) fn committed(&mut self, work: Work, done: Done) {
        if !self.shared.up.send_replace(true) {
            tracing::info!("the PostgreSQL spool answers again: accepting and delivering");
        }
        // Logged before the offers: no delivery's line precedes its
        // webhook's.
        let mut replies = Vec::with_capacity(work.accepts.len());
        for ((event, deliveries, reply), stored) in work.accepts.into_iter().zip(&done.accepted) {
            if stored.is_some() {
                let tail = self.shared.windows.tail();
                let targets = deliveries.iter().map(|d| d.target.as_str());
                Announce::of(event, targets, tail).log(tail);
                replies.push((reply, Admitted::Stored));
            } else {
                replies.push((reply, Admitted::Duplicate));
            }
        }
        self.offer(done.offers);
        // Counted before the 202s go out, so that a sender who got one sees
        // its deliveries pending.
        let added: u64 = done.accepted.iter().flatten().map(|(n, _)| n).sum();
        let added_bytes: u64 = done.accepted.iter().flatten().map(|(_, b)| b).sum();
        self.shared.pending.add(added, added_bytes);
        self.shared.pending.settle(done.settled.0, done.settled.1);
        for (reply, admitted) in replies {
            let _ = reply.send(Ok(admitted));
        }
        for ((target, _, _, _), claimed) in work.claims.iter().zip(&done.claims) {
            if claimed.exhausted {
                self.shared.windows.caught_up(target);
            }
        }
        for ((_, _, _, reply), claimed) in work.claims.into_iter().zip(done.claims) {
            let _ = reply.send(Ok(claimed));
        }
        for ((_, reply), n) in work.changes.into_iter().zip(done.counts) {
            let _ = reply.send(Ok(n));
        }
        if let Some(live) = done.live {
            let was = self.shared.live.swap(live.max(1), Ordering::Relaxed);
            if was != live.max(1) {
                tracing::info!(
                    live_replicas = live,
                    "replicas changed; each sends at its share of every target's rate"
                );
            }
        }
    }

    pub(super) fn failed(&mut self, work: Work, unoffered: Vec<i64>, error: CommitError) {
        // Whatever state the connection is in, it is not trusted again.
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
        if self.shared.up.send_replace(false) {
            tracing::error!(%error, "the PostgreSQL spool is unreachable: answering webhooks 503 and pausing delivery until it is back");
        } else {
            tracing::debug!(%error, "the PostgreSQL spool is still unreachable");
        }
        let cause = Arc::new(error);
        let error = || SpoolError::Commit(cause.clone());
        for (_, _, reply) in work.accepts {
            let _ = reply.send(Err(error()));
        }
        for (_, _, _, reply) in work.claims {
            let _ = reply.send(Err(error()));
        }
        for (_, reply) in work.changes {
            let _ = reply.send(Err(error()));
        }
        let mut records = work.records;
        if records.len() > MAX_UNWRITTEN {
            let dropped = records.len() - MAX_UNWRITTEN;
            records.drain(..dropped);
            tracing::error!(
                dropped,
                "too many outcomes waiting for the database; the oldest are dropped (those deliveries will be repeated)"
            );
        }
        self.unwritten = records;
        self.unoffered = unoffered;
    }

    /// Hands fresh deliveries to their windows; a full window leaves them in
    /// the database (their leases given up next) and tells the dispatcher.
    fn offer(&mut self, offers: Vec<Ready>) {
        let unoffered = &mut self.unoffered;
        self.shared.windows.offer(offers, |id| unoffered.push(id));
    }
}
