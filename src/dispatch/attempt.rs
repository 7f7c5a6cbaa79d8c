//! One attempt's task: send, decide what the answer means, store the
//! outcome in the spool, then report it to the worker.
//!
//! Runs on a task of its own so that a slow target holds only its
//! concurrency slots, never the worker. Must not pick what to send or when
//! (the worker does), nor touch the worker's window or circuit: it reports
//! a [`Done`] and the worker takes it in. Besides the spool, the outcome
//! goes to the metrics, the target's [`Series`] and the live tail.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio::time::Instant;

use crate::dispatch::controls::Probed;
use crate::dispatch::deliver::{self, Health};
use crate::dispatch::series::{Outcome, Series};
use crate::dispatch::target::Target;
use crate::dispatch::window::instant_at;
use crate::spool::{AttemptLog, Ready, Record, Spool};
use crate::tail::{AttemptEvent, Event, Tail};
use crate::trace::{Tracer, Value};

/// What an attempt's task reports back to its worker, after the spool has
/// been told.
pub(super) struct Done {
    pub(super) id: i64,
    pub(super) health: Health,
    /// When the delivery falls due again, if it is to be retried.
    pub(super) retry_at: Option<Instant>,
}

/// One attempt, ready to run on its own task.
pub(super) struct Attempt<S> {
    pub(super) client: reqwest::Client,
    pub(super) target: Arc<Target>,
    pub(super) ready: Ready,
    pub(super) spool: Arc<S>,
    /// The worker's channel for outcomes.
    pub(super) done: mpsc::Sender<Done>,
    /// Retry jitter.
    pub(super) rng: fastrand::Rng,
    /// The target's recent counts.
    pub(super) series: Arc<Series>,
    pub(super) tail: Tail,
    /// An operator's probe, waiting for this attempt's outcome.
    pub(super) probe: Option<oneshot::Sender<Probed>>,
    /// Where its span goes, if its webhook has a trace context.
    pub(super) tracer: Option<Tracer>,
}

impl<S: Spool> Attempt<S> {
    /// Sends once, stores the outcome, reports it to the worker, and only
    /// then frees the concurrency `slot`: the worker, waiting for a slot,
    /// sees the outcome before it sends again.
    pub(super) async fn run(self, slot: OwnedSemaphorePermit) {
        let Attempt {
            client,
            target,
            ready,
            spool,
            done,
            mut rng,
            series,
            tail,
            probe,
            tracer,
        } = self;
        let started = std::time::Instant::now();
        let span = tracer.as_ref().zip(ready.trace.as_deref());
        let span = span.and_then(|(tracer, webhook)| tracer.attempt(webhook));
        let propagate = span.as_ref().filter(|_| target.propagate_trace);
        let sent = deliver::attempt(&client, &target, &ready, propagate).await;
        let (record, health) = deliver::decide(
            &target.retry,
            ready.attempts,
            &sent.result,
            SystemTime::now(),
            &mut rng,
        );
        let took = started.elapsed();
        let outcome = Outcome::of(&record);
        crate::metrics::delivery(&target.name, outcome.label(), took);
        let now_ms = crate::time::now_ms();
        series.with(|ring| ring.attempt(now_ms, outcome, took));
        let probed = tell(&tail, probe.is_some(), outcome, || {
            story(&target.name, &ready, &record, took, probe.is_some(), now_ms)
        });
        let retry_at = match &record {
            Record::Retry { due_ms, .. } => Some(instant_at(*due_ms)),
            Record::Dead { error, .. } => {
                let trace_id = ready.trace.as_ref().map(|t| t.trace);
                tracing::error!(id = %ready.event, target = %target.name, trace_id = trace_id.map(tracing::field::display), %error, "dead letter");
                None
            }
            _ => None,
        };
        if let (Some(tracer), Some(span)) = (&tracer, span) {
            let (attributes, error) = traced(&target, &ready, &record, &sent.log, outcome);
            tracer.attempted(span, attributes, error);
        }
        spool.record(ready.id, record, sent.log).await;
        // Answered once the outcome is on its way to the spool.
        if let (Some(probe), Some(event)) = (probe, probed) {
            let _ = probe.send(Probed::Sent(event));
        }
        let _ = done
            .send(Done {
                id: ready.id,
                health,
                retry_at,
            })
            .await;
        drop(slot);
    }
}

/// What an attempt's span says: target, route, attempt number, answer
/// status, error class and outcome; failed unless delivered.
fn traced(
    target: &Target,
    ready: &Ready,
    record: &Record,
    log: &AttemptLog,
    outcome: Outcome,
) -> (Vec<(&'static str, Value)>, Option<String>) {
    let mut attributes = vec![
        ("switchboard.target", Value::Text(target.name.clone())),
        ("switchboard.route", Value::Text(ready.route.clone())),
        (
            "switchboard.webhook.id",
            Value::Text(ready.event.to_string()),
        ),
        ("switchboard.attempt", Value::Int(i64::from(log.attempt))),
        (
            "switchboard.outcome",
            Value::Text(outcome.label().to_owned()),
        ),
        (
            "http.request.method",
            Value::Text(target.method.to_string()),
        ),
    ];
    if !target.url_secret {
        let host = target.url.host_str().unwrap_or_default().to_owned();
        attributes.push(("server.address", Value::Text(host)));
    }
    if let Some(status) = log.status {
        attributes.push(("http.response.status_code", Value::Int(i64::from(status))));
    }
    // OpenTelemetry's `error.type`: the class of a failure without a usable
    // answer, else the status of an answer that was not a success.
    let class = log.class.map(str::to_owned);
    let class = class.or_else(|| {
        log.status
            .filter(|s| !(200..300).contains(s))
            .map(|s| s.to_string())
    });
    if let Some(class) = &class {
        attributes.push(("error.type", Value::Text(class.clone())));
    }
    let error = match record {
        Record::Delivered { .. } => None,
        Record::Retry { error, .. } | Record::Dead { error, .. } | Record::Parked { error, .. } => {
            Some(error.clone())
        }
    };
    (attributes, error)
}

/// Publishes the attempt (and a dead letter) to the tail when anyone
/// watches; returns it for a `probe`'s answer. Builds nothing otherwise.
fn tell(
    tail: &Tail,
    probe: bool,
    outcome: Outcome,
    story: impl FnOnce() -> AttemptEvent,
) -> Option<AttemptEvent> {
    if !(tail.watched() || probe) {
        return None;
    }
    let event = story();
    if outcome == Outcome::Dead {
        tail.publish(|| Event::Attempt(event.clone()));
        tail.publish(|| Event::DeadLetter(event.clone()));
    } else {
        tail.publish(|| Event::Attempt(event.clone()));
    }
    probe.then_some(event)
}

/// The attempt as the tail and a probe's answer tell it.
fn story(
    target: &str,
    ready: &Ready,
    record: &Record,
    took: std::time::Duration,
    probe: bool,
    at_ms: i64,
) -> AttemptEvent {
    let (status, error) = match record {
        Record::Delivered { status } => (Some(*status), None),
        Record::Retry { status, error, .. } | Record::Dead { status, error } => {
            (*status, Some(error.clone()))
        }
        Record::Parked { status, error } => (Some(*status), Some(error.clone())),
    };
    AttemptEvent {
        target: target.to_owned(),
        id: ready.event.to_string(),
        delivery: ready.id,
        attempt: ready.attempts + 1,
        outcome: Outcome::of(record).label(),
        status,
        error,
        duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        probe,
        at_ms,
    }
}
