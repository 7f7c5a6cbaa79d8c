//! SIGTERM drains: while in-flight attempts finish, both listeners stay
//! open, new webhooks are answered 503 with `Retry-After`, `/readyz` 503 and
//! `/healthz` 200; then the listeners close.

use crate::common;

use std::time::Duration;

use crate::common::{FakeTarget, Reply, TestRelay, WAIT, fixture};

#[tokio::test]
async fn sigterm_answers_503_and_stays_reachable_until_in_flight_attempts_finish() {
    let target = FakeTarget::start().await;
    // The first attempt hangs until the target's timeout (2s) ends it.
    target.script([Reply::Hang]);
    let relay = TestRelay::start(&format!(
        "server:\n  shutdown_grace: 20s\nsources:\n  s: {{allow: [127.0.0.1]}}\ntargets:\n  t: {{url: \"{}\", timeout: 2s}}\nroutes:\n  - to: [t]\n",
        target.url("/t")
    ))
    .await;
    relay.accept("s", fixture("minimal.json")).await;
    target.wait_for(1, WAIT).await;

    let (hook, client) = (relay.hook("s"), relay.client.clone());
    let (readyz, healthz) = (relay.admin("/readyz"), relay.admin("/healthz"));
    let ingress = relay.relay.local_addr();
    let stopped = relay.terminate();

    // Draining begins as soon as the shutdown task runs.
    let refused = tokio::time::timeout(WAIT, async {
        loop {
            let response = client
                .post(&hook)
                .header("content-type", "application/json")
                .body(fixture("minimal.json"))
                .send()
                .await
                .expect("the ingress listener closed while an attempt was in flight");
            if response.status() == 503 {
                return response;
            }
            assert_eq!(response.status(), 202);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("new webhooks were never answered 503 after SIGTERM");
    assert!(refused.headers().contains_key("retry-after"));
    let ready = client.get(&readyz).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let health = client.get(&healthz).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // The hanging attempt times out; then the relay stops and the
    // listeners are closed.
    tokio::time::timeout(WAIT, stopped)
        .await
        .expect("the relay did not stop after its attempts finished")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(ingress).await.is_err(),
        "the ingress listener is still open after shutdown"
    );
}

#[tokio::test]
async fn the_binary_logs_plain_listener_addresses_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.yaml");
    std::fs::write(
        &config,
        format!(
            "server: {{listen: \"127.0.0.1:0\", admin_listen: \"127.0.0.1:0\", spool: \"{}\"}}\nsources:\n  s: {{allow: [127.0.0.1]}}\ntargets:\n  t: {{url: \"http://127.0.0.1:1/\"}}\nroutes:\n  - to: [t]\n",
            dir.path().join("spool.db").display()
        ),
    )
    .unwrap();
    let mut relay = common::binary::Binary::start(&config).await;
    relay.addr.parse::<std::net::SocketAddr>().unwrap();
    let admin = relay.wait_log("admin listening").await;
    let addr = admin["fields"]["addr"].as_str().unwrap_or_default();
    assert!(
        addr.parse::<std::net::SocketAddr>().is_ok(),
        "admin listening addr={addr:?}, not an address"
    );
    relay.signal("-TERM");
    assert_eq!(relay.exited().await.code(), Some(0));
}
