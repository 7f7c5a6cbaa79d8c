//! Traces end to end: the relay exports to a fake OTLP collector that
//! decodes the real protobuf; one webhook fanned out to a target answering
//! 500 then 200 and one refusing it for good is one trace, correctly
//! parented, with a span per attempt; the targets see its `traceparent`
//! unless told not to; a sender's `traceparent` is continued; an attempt
//! made after a restart stays in the trace; log lines carry `trace_id`.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use crate::common::binary::Binary;
use crate::common::collector::{Collector, Got, attr, hex};
use crate::common::{FakeTarget, TestRelay, fixture};

const INGRESS: &str = "POST /hooks/{source}";

/// A relay exporting to `collector`, routing source `s` to `a` (retried
/// after 50 ms) and `b` (not told the trace).
fn config(collector: &Collector, a: &FakeTarget, b: &FakeTarget) -> String {
    format!(
        "server:\n  tracing: {{endpoint: \"{}\", batch_delay: 20ms, service_name: relay-under-test, headers: {{x-api-key: \"${{COLLECTOR_KEY}}\"}}}}\n\
         sources: {{s: {{}}}}\n\
         targets:\n  a: {{url: \"{}\", retry: {{first: 50ms}}}}\n  b: {{url: \"{}\", propagate_trace: false}}\n\
         routes:\n  - {{name: fanout, to: [a, b]}}\n",
        collector.endpoint(),
        a.url("/a"),
        b.url("/b")
    )
}

fn named<'a>(spans: &'a [Got], name: &str) -> Vec<&'a Got> {
    spans.iter().filter(|g| g.span.name == name).collect()
}

/// The attempt spans of `target`, by attempt number.
fn attempts<'a>(spans: &'a [Got], target: &str) -> Vec<&'a Got> {
    let mut of: Vec<_> = named(spans, "deliver")
        .into_iter()
        .filter(|g| attr(&g.span, "switchboard.target").as_deref() == Some(target))
        .collect();
    of.sort_by_key(|g| attr(&g.span, "switchboard.attempt"));
    of
}

fn status_code(g: &Got) -> i32 {
    g.span.status.as_ref().map_or(0, |s| s.code)
}

#[tokio::test]
async fn a_webhook_is_one_trace_with_a_span_per_attempt() {
    let collector = Collector::start().await;
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    a.script([500, 200]);
    b.respond(400);
    let relay =
        TestRelay::start_with_env(&config(&collector, &a, &b), &[("COLLECTOR_KEY", "k-123")]).await;
    let id = relay.accept_id("s", fixture("minimal.json")).await;
    let spans = collector
        .wait_until("the ingress span and three attempts", |s| {
            named(s, INGRESS).len() == 1 && named(s, "deliver").len() == 3
        })
        .await;

    let ingress = &named(&spans, INGRESS)[0].span;
    let trace = ingress.trace_id.clone();
    assert!(
        ingress.parent_span_id.is_empty(),
        "a root without a traceparent"
    );
    assert_eq!(ingress.kind, SpanKind::Server as i32);
    assert_eq!(attr(ingress, "switchboard.source").as_deref(), Some("s"));
    assert_eq!(
        attr(ingress, "client.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(ingress, "http.response.status_code").as_deref(),
        Some("202")
    );
    assert_eq!(attr(ingress, "switchboard.webhook.id"), Some(id.clone()));
    assert!(spans.iter().all(|g| g.span.trace_id == trace), "one trace");
    assert!(spans.iter().all(|g| g.service == "relay-under-test"));
    assert!(
        ingress.start_time_unix_nano > 0
            && ingress.end_time_unix_nano >= ingress.start_time_unix_nano
    );

    for stage in ["verify", "route", "commit"] {
        let got = named(&spans, stage);
        assert_eq!(got.len(), 1, "one {stage} span");
        assert_eq!(
            got[0].span.parent_span_id, ingress.span_id,
            "{stage} under ingress"
        );
    }
    let route = &named(&spans, "route")[0].span;
    assert_eq!(attr(route, "switchboard.routes").as_deref(), Some("fanout"));
    assert_eq!(attr(route, "switchboard.targets").as_deref(), Some("a,b"));
    let commit = &named(&spans, "commit")[0].span;
    assert_eq!(
        attr(commit, "switchboard.commit").as_deref(),
        Some("stored")
    );

    let tried = attempts(&spans, "a");
    assert_eq!(tried.len(), 2);
    for (n, (got, status, outcome)) in tried
        .iter()
        .zip([("500", "retry"), ("200", "delivered")])
        .map(|(g, (s, o))| (g, s, o))
        .enumerate()
    {
        let span = &got.span;
        assert_eq!(
            span.parent_span_id, ingress.span_id,
            "attempts hang under ingress"
        );
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert_eq!(attr(span, "switchboard.attempt"), Some((n + 1).to_string()));
        assert_eq!(
            attr(span, "http.response.status_code").as_deref(),
            Some(status)
        );
        assert_eq!(attr(span, "switchboard.outcome").as_deref(), Some(outcome));
        assert_eq!(attr(span, "switchboard.webhook.id"), Some(id.clone()));
    }
    assert_eq!(attr(&tried[0].span, "error.type").as_deref(), Some("500"));
    assert_eq!(status_code(tried[0]), StatusCode::Error as i32);
    assert_eq!(attr(&tried[1].span, "error.type"), None);
    assert_eq!(status_code(tried[1]), StatusCode::Unset as i32);

    let dead = attempts(&spans, "b");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        attr(&dead[0].span, "switchboard.outcome").as_deref(),
        Some("dead")
    );
    assert_eq!(
        attr(&dead[0].span, "http.response.status_code").as_deref(),
        Some("400")
    );
    assert_eq!(status_code(dead[0]), StatusCode::Error as i32);

    // Each attempt told `a` its own span; `b` was told nothing.
    let sent = a.wait_for(2, crate::common::WAIT).await;
    for (request, span) in sent.iter().zip(&tried) {
        let want = format!("00-{}-{}-01", hex(&trace), hex(&span.span.span_id));
        assert_eq!(request.header("traceparent"), Some(want.as_str()));
        assert_eq!(request.header("tracestate"), None);
    }
    let refused = b.wait_for(1, crate::common::WAIT).await;
    assert_eq!(refused[0].header("traceparent"), None);
    // The export carried the configured header, its secret resolved.
    let export = &collector.fake.received()[0];
    assert_eq!(export.header("x-api-key"), Some("k-123"));
}

#[tokio::test]
async fn a_senders_traceparent_is_continued_and_its_sampled_flag_honoured() {
    let collector = Collector::start().await;
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay =
        TestRelay::start_with_env(&config(&collector, &a, &b), &[("COLLECTOR_KEY", "k")]).await;
    let unsampled = "0af7651916cd43dd8448eb211c80319c";
    let sampled = "4bf92f3577b34da6a3ce929d0e0e4736";
    for (trace, flags) in [(unsampled, "00"), (sampled, "01")] {
        let response = relay
            .client
            .post(relay.hook("s"))
            .header("content-type", "application/json")
            .header(
                "traceparent",
                format!("00-{trace}-00f067aa0ba902b7-{flags}"),
            )
            .header("tracestate", "congo=t61rcWkgMzE")
            .body(fixture("minimal.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    let spans = collector
        .wait_until("the sampled webhook's ingress and attempt", |s| {
            named(s, INGRESS).len() == 1 && named(s, "deliver").len() == 2
        })
        .await;
    let ingress = &named(&spans, INGRESS)[0].span;
    assert_eq!(hex(&ingress.trace_id), sampled);
    assert_eq!(
        hex(&ingress.parent_span_id),
        "00f067aa0ba902b7",
        "child of the sender's span"
    );
    assert_eq!(ingress.trace_state, "congo=t61rcWkgMzE");
    assert!(
        spans.iter().all(|g| hex(&g.span.trace_id) == sampled),
        "nothing of the unsampled trace is exported"
    );
    // Both webhooks' attempts carry their trace on, sampled or not, with
    // the sender's tracestate.
    let sent = a.wait_for(2, crate::common::WAIT).await;
    for (trace, flags) in [(unsampled, "00"), (sampled, "01")] {
        let request = sent
            .iter()
            .find(|r| r.header("traceparent").is_some_and(|p| p.contains(trace)))
            .unwrap_or_else(|| panic!("no attempt carried trace {trace}"));
        assert!(request.header("traceparent").unwrap().ends_with(flags));
        assert_eq!(request.header("tracestate"), Some("congo=t61rcWkgMzE"));
    }
}

#[tokio::test]
async fn an_attempt_after_a_restart_stays_in_the_webhooks_trace() {
    restart_keeps_the_trace(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_an_attempt_after_a_restart_stays_in_the_webhooks_trace() {
    let test = "on_postgresql_an_attempt_after_a_restart_stays_in_the_webhooks_trace";
    let Some(server) = crate::common::pg::shared(test) else {
        return;
    };
    restart_keeps_the_trace(Some(server.database().await)).await;
}

/// A retry due after a restart, on the SQLite spool or on the PostgreSQL
/// database `pg`, joins the trace of its webhook.
async fn restart_keeps_the_trace(pg: Option<String>) {
    let collector = Collector::start().await;
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    a.script([503, 200]);
    let mut yaml = config(&collector, &a, &b).replace("first: 50ms", "first: 1s");
    if let Some(database) = pg {
        yaml = yaml.replacen(
            "server:\n",
            &format!("server:\n  spool: \"{database}\"\n"),
            1,
        );
    }
    let relay = TestRelay::start_with_env(&yaml, &[("COLLECTOR_KEY", "k")]).await;
    relay.accept("s", fixture("minimal.json")).await;
    let before = collector
        .wait_until("the first attempt", |s| attempts(s, "a").len() == 1)
        .await;
    let ingress = named(&before, INGRESS)[0].span.clone();
    // The retry falls due after the restart; the new process has only the
    // spool to find the trace in.
    let relay = relay.restart().await;
    let spans = collector
        .wait_until("the attempt after the restart", |s| {
            attempts(s, "a").len() == 2
        })
        .await;
    let second = &attempts(&spans, "a")[1].span;
    assert_eq!(attr(second, "switchboard.attempt").as_deref(), Some("2"));
    assert_eq!(
        attr(second, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(second.trace_id, ingress.trace_id);
    assert_eq!(second.parent_span_id, ingress.span_id);
    let sent = a.wait_for(2, crate::common::WAIT).await;
    let want = format!("00-{}-{}-01", hex(&ingress.trace_id), hex(&second.span_id));
    assert_eq!(sent[1].header("traceparent"), Some(want.as_str()));
    drop(relay);
}

#[tokio::test]
async fn without_server_tracing_nothing_is_traced_or_propagated() {
    let a = FakeTarget::start().await;
    let relay = TestRelay::start(&format!(
        "sources: {{s: {{}}}}\ntargets:\n  a: {{url: \"{}\"}}\nroutes:\n  - to: [a]\n",
        a.url("/a")
    ))
    .await;
    relay
        .client
        .post(relay.hook("s"))
        .header("content-type", "application/json")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(fixture("minimal.json"))
        .send()
        .await
        .unwrap();
    let sent = a.wait_for(1, crate::common::WAIT).await;
    assert_eq!(sent[0].header("traceparent"), None);
    let conn = rusqlite::Connection::open(relay.config.with_file_name("spool.db")).unwrap();
    let stored: Option<String> = conn
        .query_row("SELECT trace FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        stored, None,
        "no trace context is stored when tracing is off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_carry_the_trace_id() {
    let collector = Collector::start().await;
    let a = FakeTarget::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.yaml");
    std::fs::write(
        &config,
        format!(
            "server: {{listen: \"127.0.0.1:0\", admin_listen: \"127.0.0.1:0\", spool: \"{}\", tracing: {{endpoint: \"{}\", batch_delay: 20ms}}}}\nsources: {{s: {{}}}}\ntargets:\n  a: {{url: \"{}\"}}\nroutes:\n  - to: [a]\n",
            dir.path().join("spool.db").display(),
            collector.endpoint(),
            a.url("/a")
        ),
    )
    .unwrap();
    let mut relay = Binary::start(&config).await;
    let client = reqwest::Client::new();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let status = client
        .post(format!("http://{}/hooks/s", relay.addr))
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .body(fixture("minimal.json"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
    for message in ["accepted", "delivered"] {
        let line = relay.wait_log(message).await;
        assert_eq!(line["fields"]["trace_id"], trace, "{message}: {line}");
    }
    collector
        .wait_until("the binary's spans", |s| named(s, "deliver").len() == 1)
        .await;
}

#[tokio::test]
async fn a_failing_collector_loses_spans_not_webhooks() {
    let collector = Collector::start().await;
    collector.fake.respond(503);
    let (a, b) = (FakeTarget::start().await, FakeTarget::start().await);
    let relay =
        TestRelay::start_with_env(&config(&collector, &a, &b), &[("COLLECTOR_KEY", "k")]).await;
    relay.accept("s", fixture("minimal.json")).await;
    a.wait_for(1, crate::common::WAIT).await;
    b.wait_for(1, crate::common::WAIT).await;
    // Tried (and refused) at least once; the spans are counted as lost.
    collector.fake.wait_for(1, crate::common::WAIT).await;
    let dropped = tokio::time::timeout(crate::common::WAIT, async {
        loop {
            let count = relay
                .metric("switchboard_trace_spans_dropped_total")
                .await
                .and_then(|n| n.trim().parse::<f64>().ok());
            if let Some(n) = count.filter(|n| *n > 0.0) {
                return n;
            }
            // The export's answer and the counter come just after the request.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("switchboard_trace_spans_dropped_total counts the refused export");
    assert!(dropped >= 1.0);
}
