//! The spool's side of bulk actions, the same bodies on both backends:
//! counting and applying a replay or cancel in batches within the ids a job
//! started with, an outcome stored after a cancel not undoing it, and the
//! audit log and job rows.

use serde_json::json;

use switchboard::spool::audit::{AuditEntry, JobState, NewJob};
use switchboard::spool::bulk::{Action, Scope};
use switchboard::spool::{AttemptLog, DeliveryState, EventFilter, Ledger, Record, Spool};

use crate::spool::{Fixture, claim_all, event, on_both, to};

const REPLAY: Action = Action::Replay {
    include_delivered: false,
};

async fn replay_and_cancel_work_in_batches(f: Fixture) {
    let mut events = Vec::new();
    for i in 0..5 {
        let e = event(&format!(r#"{{"n":{i}}}"#));
        events.push(e.id.to_string());
        f.spool
            .accept(e, vec![to("a", None), to("b", Some("own"))])
            .await
            .unwrap();
    }
    for ready in claim_all(&f.spool, "a").await.ready {
        let dead = Record::Dead {
            status: Some(400),
            error: "HTTP 400".to_owned(),
        };
        f.spool.record(ready.id, dead, AttemptLog::default()).await;
    }
    f.spool.flush().await.unwrap();
    let dead_a = EventFilter {
        target: Some("a".to_owned()),
        states: vec![DeliveryState::Dead],
        ..EventFilter::default()
    };
    let selected = f
        .ledger
        .bulk_count(REPLAY, &Scope::new(dead_a.clone()))
        .await
        .unwrap();
    assert_eq!(selected.count, 5);
    let late = EventFilter {
        events: events[2..].to_vec(),
        ..dead_a.clone()
    };
    assert_eq!(
        f.ledger
            .bulk_count(REPLAY, &Scope::new(late))
            .await
            .unwrap()
            .count,
        3
    );
    assert_eq!(
        f.ledger
            .bulk_count(Action::Cancel, &Scope::new(dead_a.clone()))
            .await
            .unwrap()
            .count,
        0,
        "a cancel touches no dead letter"
    );

    let mut scope = Scope {
        limit: 2,
        through: selected.through,
        ..Scope::new(dead_a.clone())
    };
    let mut sizes = Vec::new();
    loop {
        let batch = f.ledger.bulk_apply(REPLAY, &scope, "oncall").await.unwrap();
        sizes.push(batch.changed.len());
        assert_eq!(batch.moved.deliveries, batch.changed.len() as u64);
        match batch.last {
            Some(last) if !batch.finished(scope.limit) => scope.after = last,
            _ => break,
        }
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(
        f.ledger
            .bulk_count(REPLAY, &Scope::new(dead_a))
            .await
            .unwrap()
            .count,
        0
    );
    let again = claim_all(&f.spool, "a").await.ready;
    assert_eq!(again.len(), 5);
    assert!(again.iter().all(|r| r.attempts == 0));

    // Cancel b's, while one of them is out: its outcome does not undo it.
    let out = claim_all(&f.spool, "b").await.ready;
    let only_b = Scope::new(EventFilter {
        target: Some("b".to_owned()),
        ..EventFilter::default()
    });
    let batch = f
        .ledger
        .bulk_apply(Action::Cancel, &only_b, "oncall")
        .await
        .unwrap();
    assert_eq!(batch.changed.len(), 5);
    f.spool
        .record(
            out[0].id,
            Record::Delivered { status: 200 },
            AttemptLog::default(),
        )
        .await;
    f.spool.flush().await.unwrap();
    let view = f.ledger.event(&events[0]).await.unwrap().unwrap();
    let b = view
        .deliveries
        .iter()
        .find(|d| d.summary.target == "b")
        .unwrap();
    assert_eq!(
        b.summary.state,
        switchboard::spool::DeliveryState::Cancelled
    );
    assert_eq!(b.summary.last_error.as_deref(), Some("cancelled by oncall"));
    assert_eq!(f.ledger.bulk_count(REPLAY, &only_b).await.unwrap().count, 5);
}

async fn the_audit_log_and_jobs_are_kept(f: Fixture) {
    for i in 0..3 {
        let entry = AuditEntry {
            who: "oncall".to_owned(),
            action: format!("a{i}"),
            filter: Some(json!({"target": "crm"})),
            count: Some(i),
            ..AuditEntry::default()
        };
        f.ledger.audit(entry).await.unwrap();
    }
    let first = f.ledger.audit_log(2, None).await.unwrap();
    let actions: Vec<&str> = first.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["a2", "a1"]);
    assert_eq!(first[0].filter, Some(json!({"target": "crm"})));
    let rest = f.ledger.audit_log(2, Some(first[1].id)).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!((rest[0].action.as_str(), rest[0].count), ("a0", Some(0)));

    let job = NewJob {
        id: "j1".to_owned(),
        kind: "replay".to_owned(),
        filter: json!({"target": "crm"}),
        total: 10,
        created_by: "oncall".to_owned(),
    };
    f.ledger.job_start(job).await.unwrap();
    let running = f.ledger.job("j1").await.unwrap().unwrap();
    assert_eq!(
        (running.state, running.done, running.total),
        (JobState::Running, 0, 10)
    );
    assert!(
        !f.ledger
            .job_progress("j1", 4, JobState::Running, None)
            .await
            .unwrap()
    );
    assert!(
        f.ledger
            .job_stop("j1")
            .await
            .unwrap()
            .unwrap()
            .stop_requested
    );
    assert!(
        f.ledger
            .job_progress("j1", 5, JobState::Running, None)
            .await
            .unwrap()
    );
    f.ledger
        .job_progress("j1", 5, JobState::Stopped, None)
        .await
        .unwrap();
    let stopped = f.ledger.job("j1").await.unwrap().unwrap();
    assert_eq!((stopped.state, stopped.done), (JobState::Stopped, 5));
    assert_eq!(stopped.filter, json!({"target": "crm"}));
    assert!(f.ledger.job("nope").await.unwrap().is_none());
    assert!(f.ledger.job_stop("nope").await.unwrap().is_none());
}

on_both!(
    replay_and_cancel_work_in_batches,
    replay_and_cancel_work_in_batches_on_sqlite,
    replay_and_cancel_work_in_batches_on_postgres
);
on_both!(
    the_audit_log_and_jobs_are_kept,
    the_audit_log_and_jobs_are_kept_on_sqlite,
    the_audit_log_and_jobs_are_kept_on_postgres
);
