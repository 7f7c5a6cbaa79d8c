//! What a spool's callers send its writer, the same for both backends: the
//! [`Command`]s, and [`Commands`], the sending end that forwards each
//! [`Spool`](super::Spool) call as one command and awaits the writer's
//! answer. The writers decide what a command does; nothing here touches
//! storage.

use tokio::sync::{mpsc, oneshot};

use super::{Admitted, AttemptLog, Claimed, NewDelivery, NewEvent, Record, SpoolError};

/// How many commands may wait for the writer before callers wait too.
const QUEUE: usize = 16_384;

/// A reply owed to a waiting caller.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, SpoolError>>;

/// One request to the writer. All those waiting when it wakes share one
/// transaction.
pub(crate) enum Command {
    /// Store a webhook and its deliveries; answered after the commit.
    Accept {
        event: Box<NewEvent>,
        deliveries: Vec<NewDelivery>,
        reply: Reply<Admitted>,
    },
    /// Store an attempt's outcome and its history; not answered.
    Record {
        id: i64,
        outcome: Record,
        log: Box<AttemptLog>,
    },
    /// Read (PostgreSQL: lease) due deliveries of a target.
    Claim {
        target: String,
        limit: usize,
        held: Vec<i64>,
        reply: Reply<Claimed>,
    },
    /// A change answered with a count.
    Change { change: Change, reply: Reply<u64> },
    /// Periodic upkeep. SQLite: recount pending work, prune. PostgreSQL:
    /// heartbeat (stay registered, renew leases, count live replicas).
    Tick,
}

/// Changes that answer with a count.
pub(crate) enum Change {
    /// Dead-letter pending deliveries of targets not in the list.
    DeadLetterOthers(Vec<String>),
    /// Make a target's parked deliveries due.
    Unpark(String),
    /// Give up every lease and leave `replicas` (PostgreSQL, at shutdown;
    /// SQLite has none, and takes it as [`Change::Nothing`]).
    Release,
    /// Nothing: answers once everything before it is committed.
    Nothing,
}

/// The sending end of a writer's command queue.
#[derive(Clone)]
pub struct Commands(mpsc::Sender<Command>);

impl Commands {
    /// A queue: this end for the callers, the other for the writer.
    pub(crate) fn channel() -> (Commands, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Commands(tx), rx)
    }

    /// Sends the command `make` builds around a reply, and awaits the reply.
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, SpoolError> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(make(reply))
            .await
            .map_err(|_| SpoolError::Stopped)?;
        answer.await.map_err(|_| SpoolError::Stopped)?
    }

    pub(crate) async fn accept(
        &self,
        event: NewEvent,
        deliveries: Vec<NewDelivery>,
    ) -> Result<Admitted, SpoolError> {
        self.ask(|reply| Command::Accept {
            event: Box::new(event),
            deliveries,
            reply,
        })
        .await
    }

    /// Queues an outcome without waiting for its commit.
    pub(crate) async fn record(&self, id: i64, outcome: Record, log: AttemptLog) {
        let log = Box::new(log);
        if self
            .0
            .send(Command::Record { id, outcome, log })
            .await
            .is_err()
        {
            tracing::error!(
                id,
                "spool writer stopped; outcome not recorded (the delivery will be repeated)"
            );
        }
    }

    pub(crate) async fn claim(
        &self,
        target: &str,
        limit: usize,
        held: Vec<i64>,
    ) -> Result<Claimed, SpoolError> {
        self.ask(|reply| Command::Claim {
            target: target.to_owned(),
            limit,
            held,
            reply,
        })
        .await
    }

    pub(crate) async fn change(&self, change: Change) -> Result<u64, SpoolError> {
        self.ask(|reply| Command::Change { change, reply }).await
    }

    /// Resolves once everything sent before it is committed.
    pub(crate) async fn flush(&self) -> Result<(), SpoolError> {
        self.change(Change::Nothing).await.map(|_| ())
    }

    /// Queues a [`Command::Tick`]; false once the writer has stopped.
    pub(crate) async fn tick(&self) -> bool {
        self.0.send(Command::Tick).await.is_ok()
    }
}
