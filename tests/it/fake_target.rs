//! Tests of the fake downstream harness itself (tests/common/fake.rs).

use std::time::Duration;

use crate::common::fake::{FakeTarget, Reply};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn scripted_replies_then_default_and_requests_recorded() {
    let target = FakeTarget::start().await;
    target.script([Reply::Status(503), Reply::retry_after(429, "7")]);
    let client = reqwest::Client::new();
    let send = |body: &'static str| {
        client
            .post(target.url("/crm?x=1"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let first = send(r#"{"n":1}"#).await.unwrap();
    assert_eq!(first.status(), 503);
    let second = send(r#"{"n":2}"#).await.unwrap();
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "7");
    let third = send(r#"{"n":3}"#).await.unwrap();
    assert_eq!(third.status(), 200);

    let got = target.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/crm");
    assert_eq!(got[0].query.as_deref(), Some("x=1"));
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(got[0].body_str(), r#"{"n":1}"#);
    assert_eq!(got[2].json()["n"], 3);
    assert!(got[0].at <= got[1].at && got[1].at <= got[2].at);

    target.respond(500);
    let fourth = send("{}").await.unwrap();
    assert_eq!(fourth.status(), 500);
    target.assert_quiet(4, Duration::from_millis(50)).await;
}

#[tokio::test]
async fn hang_close_and_drop_end_requests_as_expected() {
    let target = FakeTarget::start().await;
    target.script([Reply::Hang, Reply::Close]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();

    let hung = client.post(target.url("/slow")).body("a").send().await;
    assert!(hung.unwrap_err().is_timeout());
    let closed = client.post(target.url("/slow")).body("b").send().await;
    let err = closed.unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");

    // The hanging request was still recorded.
    let got = target.wait_for(2, WAIT).await;
    assert_eq!(got[0].body_str(), "a");
    assert_eq!(got[1].body_str(), "b");

    // Dropping the target ends a still-hanging request (no client timeout here).
    target.script([Reply::Hang]);
    let pending = tokio::spawn(reqwest::Client::new().get(target.url("/forever")).send());
    target.wait_for(3, WAIT).await;
    drop(target);
    let ended = tokio::time::timeout(WAIT, pending).await;
    assert!(ended.unwrap().unwrap().is_err());
}

#[tokio::test]
async fn delayed_reply_waits_before_answering() {
    let target = FakeTarget::start().await;
    target.script([Reply::Delay(Duration::from_millis(100), 204)]);
    let started = tokio::time::Instant::now();
    let resp = reqwest::get(target.url("/d")).await.unwrap();
    assert_eq!(resp.status(), 204);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
#[should_panic(expected = "expected at least 2 request(s) within 50ms, but 1 arrived")]
async fn wait_for_panics_on_timeout() {
    let target = FakeTarget::start().await;
    reqwest::get(target.url("/only-one")).await.unwrap();
    target.wait_for(2, Duration::from_millis(50)).await;
}
