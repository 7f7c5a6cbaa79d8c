//! Prometheus metrics: the names, their labels, and the process's recorder.
//!
//! Every metric is prefixed `switchboard_` and labelled only with bounded
//! values (source and target names from the config, fixed outcome words):
//! never ids, client addresses or URLs. Recording is through the `metrics`
//! facade, so the call sites stay one line; the exporter renders the text
//! format for the admin listener's `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

mod process;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
pub use process::collect as collect_process;

use crate::dispatch::circuit::Status;
use crate::spool::Backlog;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Attempt-duration buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Spool commit buckets, in seconds: an fsync takes from well under a
/// millisecond (a cache with a battery) to tens of milliseconds.
const COMMIT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Ingress answer buckets, in seconds: a probe or a refusal in well under
/// a millisecond, a 202 after its group commit in a few.
const INGRESS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Commands per spool transaction.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Installs the process-wide recorder once and returns its handle. Must be
/// called inside a tokio runtime (it starts the exporter's upkeep task).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("switchboard_spool_commit_seconds".into()),
                        COMMIT_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("switchboard_ingress_request_seconds".into()),
                        INGRESS_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("switchboard_spool_batch_commands".into()),
                        BATCH_BUCKETS,
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed (a test binary
            // starting a second relay): this one then renders what it has.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    every.tick().await;
                    upkeep.run_upkeep();
                }
            });
            describe();
            process::describe();
            gauge!("switchboard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

/// A webhook at ingress: `outcome` is accepted, not_forwarded (a probe or a
/// duplicate), unknown_source, forbidden, unauthorized, bad_method,
/// too_large, too_slow, bad_request, rate_limited, unavailable (the words
/// are `ingress::outcome`'s). Unknown sources are counted under `_unknown`.
/// `took` is from the request's headers to its answer (the body read, the
/// durable write for a 202).
pub fn received(source: &str, outcome: &'static str, took: Duration) {
    counter!("switchboard_webhooks_received_total", "source" => source.to_owned(), "outcome" => outcome).increment(1);
    histogram!("switchboard_ingress_request_seconds", "source" => source.to_owned())
        .record(took.as_secs_f64());
}

/// The words of `switchboard_webhooks_received_total`'s `outcome` label
/// (`ingress::outcome`'s table test checks that every answer's is here).
pub const RECEIVED: &[&str] = &[
    "accepted",
    "not_forwarded",
    "unknown_source",
    "forbidden",
    "unauthorized",
    "bad_method",
    "too_large",
    "too_slow",
    "bad_request",
    "rate_limited",
    "unavailable",
];

/// The words of `switchboard_deliveries_total`'s `outcome` label.
const DELIVERED: &[&str] = &["delivered", "retry", "dead", "parked"];

/// Every series of the configured sources and targets, at zero until it
/// counts something: a query over them answers 0, not "no data", from the
/// start. Called at start and after each reload. (A histogram registered
/// without a sample renders with its buckets at 0.)
pub fn known(runtime: &crate::runtime::Runtime) {
    for source in runtime.sources.keys() {
        for outcome in RECEIVED {
            counter!("switchboard_webhooks_received_total", "source" => source.clone(), "outcome" => *outcome).increment(0);
        }
        let _ = histogram!("switchboard_ingress_request_seconds", "source" => source.clone());
    }
    let _ = histogram!("switchboard_spool_commit_seconds");
    let _ = histogram!("switchboard_spool_batch_commands");
    for target in runtime.targets.keys() {
        let _ = histogram!("switchboard_delivery_attempt_seconds", "target" => target.clone());
        for outcome in DELIVERED {
            counter!("switchboard_deliveries_total", "target" => target.clone(), "outcome" => *outcome).increment(0);
        }
        counter!("switchboard_retries_total", "target" => target.clone()).increment(0);
        counter!("switchboard_rate_limit_waits_total", "target" => target.clone()).increment(0);
    }
    for outcome in ["ok", "rejected"] {
        counter!("switchboard_config_reloads_total", "outcome" => outcome).increment(0);
    }
}

/// One spool transaction: how long it took to apply and commit (the fsync
/// included), and how many commands (accepts, outcomes, claims) shared it.
pub fn spool_commit(took: Duration, commands: usize) {
    histogram!("switchboard_spool_commit_seconds").record(took.as_secs_f64());
    histogram!("switchboard_spool_batch_commands").record(commands as f64);
}

/// An attempt's outcome: delivered, retry, dead, parked.
pub fn delivery(target: &str, outcome: &'static str, took: Duration) {
    counter!("switchboard_deliveries_total", "target" => target.to_owned(), "outcome" => outcome)
        .increment(1);
    histogram!("switchboard_delivery_attempt_seconds", "target" => target.to_owned())
        .record(took.as_secs_f64());
    if outcome == "retry" {
        counter!("switchboard_retries_total", "target" => target.to_owned()).increment(1);
    }
}

/// Spans lost: the exporter's queue was full, or the collector did not
/// take them.
pub fn spans_dropped(spans: u64) {
    counter!("switchboard_trace_spans_dropped_total").increment(spans);
}

/// An attempt that had to wait for the target's rate limiter.
pub fn rate_limited(target: &str) {
    counter!("switchboard_rate_limit_waits_total", "target" => target.to_owned()).increment(1);
}

/// A target's circuit: 0 closed, 1 half-open, 2 open; 3 disabled by a 410
/// (see [`Status::code`]).
/// Also `switchboard_circuit{target,state}`: 1 for the state it is in, 0
/// for the others, for dashboards that want words rather than a code.
pub fn circuit(target: &str, status: Status) {
    gauge!("switchboard_circuit_state", "target" => target.to_owned())
        .set(f64::from(status.code()));
    for state in Status::ALL {
        gauge!("switchboard_circuit", "target" => target.to_owned(), "state" => state.label())
            .set(if state == status { 1.0 } else { 0.0 });
    }
}

/// Whether an operator paused a target: 1 paused, 0 sending (set when its
/// worker starts and at every pause and resume).
pub fn paused(target: &str, paused: bool) {
    gauge!("switchboard_target_paused", "target" => target.to_owned()).set(if paused {
        1.0
    } else {
        0.0
    });
}

/// Deliveries waiting in the spool (pending and parked), of those the
/// parked ones, and dead letters, per target (set at scrape time from the
/// spool).
pub fn backlog(target: &str, backlog: &Backlog) {
    let waiting = backlog.pending + backlog.parked;
    gauge!("switchboard_queue_depth", "target" => target.to_owned()).set(waiting as f64);
    gauge!("switchboard_parked_deliveries", "target" => target.to_owned())
        .set(backlog.parked as f64);
    gauge!("switchboard_dead_letters", "target" => target.to_owned()).set(backlog.dead as f64);
}

/// How long the oldest pending delivery of a target has waited; 0 when none
/// waits (set at scrape time from the spool).
pub fn oldest_pending(target: &str, seconds: f64) {
    gauge!("switchboard_oldest_pending_seconds", "target" => target.to_owned()).set(seconds);
}

/// Body bytes a target's worker holds in memory (window, claims, in flight).
pub fn window_bytes(target: &str, bytes: u64) {
    gauge!("switchboard_window_bytes", "target" => target.to_owned()).set(bytes as f64);
}

/// A reload: `ok` or `rejected`.
pub fn reload(ok: bool, unix_seconds: f64) {
    counter!("switchboard_config_reloads_total", "outcome" => if ok { "ok" } else { "rejected" })
        .increment(1);
    if ok {
        gauge!("switchboard_config_last_reload_success_timestamp_seconds").set(unix_seconds);
    }
}

/// `# HELP` for every series, so that a scrape says what each one means.
fn describe() {
    describe_gauge!(
        "switchboard_build_info",
        "The relay's version, as a label; always 1."
    );
    describe_counter!(
        "switchboard_webhooks_received_total",
        "Webhooks at ingress, by source and outcome (accepted, not_forwarded, unknown_source, forbidden, unauthorized, bad_method, too_large, too_slow, bad_request, rate_limited, unavailable)."
    );
    describe_histogram!(
        "switchboard_spool_commit_seconds",
        "How long one spool transaction took to apply and commit, the fsync included."
    );
    describe_histogram!(
        "switchboard_spool_batch_commands",
        "Commands (accepts, outcomes, claims) that shared one spool transaction."
    );
    describe_counter!(
        "switchboard_deliveries_total",
        "Delivery attempts, by target and outcome (delivered, retry, dead, parked)."
    );
    describe_histogram!(
        "switchboard_delivery_attempt_seconds",
        "How long one delivery attempt took, by target."
    );
    describe_counter!(
        "switchboard_retries_total",
        "Attempts that will be retried, by target."
    );
    describe_counter!(
        "switchboard_rate_limit_waits_total",
        "Attempts that waited for their target's rate limit."
    );
    describe_histogram!(
        "switchboard_ingress_request_seconds",
        "How long ingress took to answer a webhook, from its headers to the answer (for a 202, the durable write included), by source."
    );
    describe_gauge!(
        "switchboard_circuit",
        "A target's circuit as labels: 1 for the state it is in (closed, half_open, open, disabled), 0 for the others."
    );
    describe_gauge!(
        "switchboard_circuit_state",
        "A target's circuit: 0 closed, 1 half-open, 2 open, 3 disabled by a 410 until a reload."
    );
    describe_gauge!(
        "switchboard_target_paused",
        "Whether an operator paused a target (POST /api/targets/<name>/pause): 1 paused, 0 sending."
    );
    describe_gauge!(
        "switchboard_oldest_pending_seconds",
        "How long the oldest pending delivery of a target has waited since it was accepted; 0 when none waits."
    );
    describe_gauge!(
        "switchboard_queue_depth",
        "Deliveries waiting in the spool (pending and parked), by target."
    );
    describe_gauge!(
        "switchboard_parked_deliveries",
        "Deliveries parked because their target answered 410 (its circuit is disabled until a reload), by target; also counted in switchboard_queue_depth."
    );
    describe_gauge!(
        "switchboard_dead_letters",
        "Dead letters in the spool, by target."
    );
    describe_gauge!(
        "switchboard_window_bytes",
        "Body bytes a target's worker holds in memory."
    );
    describe_counter!(
        "switchboard_trace_spans_dropped_total",
        "Trace spans lost: the exporter's queue was full, or the OTLP collector did not take them."
    );
    describe_counter!(
        "switchboard_config_reloads_total",
        "Config reloads, by outcome (ok, rejected)."
    );
    describe_gauge!(
        "switchboard_config_last_reload_success_timestamp_seconds",
        "When a reload last put a new config in force, in unix seconds."
    );
}
