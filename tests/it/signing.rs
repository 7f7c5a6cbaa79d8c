//! Signatures over real sockets: deliveries signed the Standard Webhooks way
//! (checked by the reference library), inbound Standard Webhooks and
//! GitHub-style HMAC verification, replays, and secrets read from files.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use standardwebhooks::Webhook;
use switchboard::config::Config;
use switchboard::config::interpolate::Env;
use switchboard::config::problems::Problem;
use switchboard::dispatch::sign::Signer;
use switchboard::runtime::Runtime;

const SECRET_A: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SECRET_B: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_C: &str = "whsec_dGhpcmQgc2VjcmV0IG9mIHR3ZW50eS1mb3VyIGJ5dGVz";

const FIXTURES: &[&str] = &[
    "full.json",
    "german-unicode.json",
    "large-transcription.json",
    "legacy-labs-format.json",
    "minimal.json",
    "multiple-playbooks.json",
    "no-call-scenarios.json",
    "no-summary.json",
    "nulls-and-unknown-fields.json",
    "transcription-only.json",
];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A relay that forwards everything from `sipgate` to `crm`, with `source`
/// and `target` lines (indented by 4) added.
fn config(crm: &str, source: &str, target: &str) -> String {
    format!(
        "sources:\n  sipgate:\n    allow: [127.0.0.1]\n{source}targets:\n  crm:\n    url: {crm}\n{target}routes:\n  - to: [crm]\n"
    )
}

/// POSTs `body` to `sipgate` with these headers; returns status and JSON.
async fn post(
    relay: &TestRelay,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut request = relay
        .client
        .post(relay.hook("sipgate"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_default())
}

type Headers = Vec<(String, String)>;

/// Standard Webhooks headers for `body`, signed with `secret` at `timestamp`.
fn signed(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> Headers {
    let signature = Signer::from_secrets(&[secret])
        .unwrap()
        .sign(id, timestamp, body);
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), signature),
    ]
}

fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

// ------------------------------------------------------------- outbound

#[tokio::test]
async fn every_fixture_arrives_with_a_signature_the_reference_library_accepts() {
    let crm = FakeTarget::start().await;
    let yaml = config(
        &crm.url("/crm"),
        "",
        "    sign: {secret: \"${CRM_SIGNING_SECRET}\"}\n",
    );
    let relay = TestRelay::start_with_env(&yaml, &[("CRM_SIGNING_SECRET", SECRET_A)]).await;
    let oracle = Webhook::new(SECRET_A).unwrap();
    let stranger = Webhook::new(SECRET_B).unwrap();
    for (i, name) in FIXTURES.iter().enumerate() {
        let raw = fixture(name);
        let answer = relay.accept("sipgate", raw.clone()).await;
        let got = crm.wait_for(i + 1, WAIT).await;
        let delivery = &got[i];
        assert_eq!(delivery.body.as_ref(), raw.as_slice(), "{name}");
        assert_eq!(
            delivery.header("webhook-id"),
            answer["id"].as_str(),
            "{name}"
        );
        let signature = delivery.header("webhook-signature").unwrap();
        assert!(
            signature.starts_with("v1,") && !signature.contains(' '),
            "{name}: {signature}"
        );
        oracle
            .verify(&delivery.body, &delivery.headers)
            .unwrap_or_else(|e| panic!("{name}: the reference library says {e}"));
        assert!(
            stranger.verify(&delivery.body, &delivery.headers).is_err(),
            "{name}: another secret must not verify"
        );
    }
}

#[tokio::test]
async fn two_secrets_give_two_signatures_each_verifiable() {
    let crm = FakeTarget::start().await;
    let yaml = config(
        &crm.url("/crm"),
        "",
        &format!("    sign:\n      secrets: [\"{SECRET_A}\", \"{SECRET_B}\"]\n"),
    );
    let relay = TestRelay::start(&yaml).await;
    relay
        .accept("sipgate", fixture("german-unicode.json"))
        .await;
    let got = crm.wait_for(1, WAIT).await;
    let signature = got[0].header("webhook-signature").unwrap();
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
    for secret in [SECRET_A, SECRET_B] {
        Webhook::new(secret)
            .unwrap()
            .verify(&got[0].body, &got[0].headers)
            .unwrap_or_else(|e| panic!("{secret}: {e}"));
    }
    assert!(
        Webhook::new(SECRET_C)
            .unwrap()
            .verify(&got[0].body, &got[0].headers)
            .is_err()
    );
}

#[tokio::test]
async fn unsigned_targets_get_no_signature() {
    let crm = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&crm.url("/crm"), "", "")).await;
    relay.accept("sipgate", fixture("minimal.json")).await;
    let got = crm.wait_for(1, WAIT).await;
    assert!(got[0].header("webhook-id").is_some());
    assert_eq!(got[0].header("webhook-signature"), None);
}

// -------------------------------------------------------------- inbound

const VERIFY_SW: &str = "    verify:\n      standard_webhooks: {secret: \"${SIPGATE_SECRET}\"}\n";

async fn standard_webhooks_relay(crm: &FakeTarget) -> TestRelay {
    TestRelay::start_with_env(
        &config(&crm.url("/crm"), VERIFY_SW, ""),
        &[("SIPGATE_SECRET", SECRET_A)],
    )
    .await
}

#[tokio::test]
async fn standard_webhooks_source_accepts_a_signed_request() {
    let crm = FakeTarget::start().await;
    let relay = standard_webhooks_relay(&crm).await;
    let body = fixture("full.json");
    let headers = signed(SECRET_A, "msg_accept", now(), &body);
    let (status, answer) = post(&relay, &body, &pairs(&headers)).await;
    assert_eq!(status, 202, "{answer}");
    let got = crm.wait_for(1, WAIT).await;
    assert_eq!(got[0].body.as_ref(), body.as_slice());
}

#[tokio::test]
async fn standard_webhooks_source_rejects_bad_signatures_and_stale_timestamps() {
    let crm = FakeTarget::start().await;
    let relay = standard_webhooks_relay(&crm).await;
    let body = fixture("full.json");
    let t = now();
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    // (name, body sent, headers, expected reason)
    type Case<'a> = (&'a str, Vec<u8>, Headers, &'a str);
    let cases: Vec<Case> = vec![
        (
            "another secret",
            body.clone(),
            signed(SECRET_B, "msg_1", t, &body),
            "no webhook-signature entry matches",
        ),
        (
            "tampered body",
            tampered,
            signed(SECRET_A, "msg_2", t, &body),
            "no webhook-signature entry matches",
        ),
        (
            "ten minutes old",
            body.clone(),
            signed(SECRET_A, "msg_3", t - 600, &body),
            "more than 5 minutes old",
        ),
        (
            "ten minutes ahead",
            body.clone(),
            signed(SECRET_A, "msg_4", t + 600, &body),
            "in the future",
        ),
        ("unsigned", body.clone(), Vec::new(), "missing webhook-id"),
    ];
    for (name, sent, headers, want) in cases {
        let (status, answer) = post(&relay, &sent, &pairs(&headers)).await;
        assert_eq!(status, 401, "{name}: {answer}");
        let reason = answer["error"].as_str().unwrap();
        assert!(reason.contains(want), "{name}: {reason}");
        if let [(_, id), (_, timestamp), _] = headers.as_slice() {
            // What would have matched is never echoed back.
            let expected = signed(SECRET_A, id, timestamp.parse().unwrap(), &sent);
            assert!(!reason.contains(&expected[2].1[3..]), "{name}: {reason}");
        }
    }
    crm.assert_quiet(0, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_replayed_webhook_id_is_answered_200_and_not_forwarded_again() {
    let crm = FakeTarget::start().await;
    let relay = standard_webhooks_relay(&crm).await;
    let body = fixture("minimal.json");
    let t = now();
    let headers = signed(SECRET_A, "msg_once", t, &body);
    let (status, _) = post(&relay, &body, &pairs(&headers)).await;
    assert_eq!(status, 202);
    // The same request again, and the sender's retry with a fresh timestamp.
    let retry = signed(SECRET_A, "msg_once", t + 1, &body);
    for again in [&headers, &retry] {
        let (status, answer) = post(&relay, &body, &pairs(again)).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer, serde_json::json!({"ok": true, "duplicate": true}));
    }
    crm.wait_for(1, WAIT).await;
    crm.assert_quiet(1, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_refused_webhook_is_not_remembered_as_taken() {
    let crm = FakeTarget::start().await;
    let relay = standard_webhooks_relay(&crm).await;
    let id = "msg_retry_after_400";
    // Signed, but not JSON: refused with 400, so the id must stay free.
    let garbage = b"{not json".to_vec();
    let (status, _) = post(
        &relay,
        &garbage,
        &pairs(&signed(SECRET_A, id, now(), &garbage)),
    )
    .await;
    assert_eq!(status, 400);
    let body = fixture("minimal.json");
    let (status, answer) = post(&relay, &body, &pairs(&signed(SECRET_A, id, now(), &body))).await;
    assert_eq!(status, 202, "{answer}");
    crm.wait_for(1, WAIT).await;
}

#[tokio::test]
async fn github_style_hmac_source_accepts_the_right_signature_only() {
    let crm = FakeTarget::start().await;
    let source = "    verify:\n      hmac:\n        header: X-Hub-Signature-256\n        prefix: \"sha256=\"\n        secret: \"${GITHUB_SECRET}\"\n";
    let secret = "It's a Secret to Everybody";
    let relay = TestRelay::start_with_env(
        &config(&crm.url("/crm"), source, ""),
        &[("GITHUB_SECRET", secret)],
    )
    .await;
    let body = fixture("german-unicode.json");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let good = format!("sha256={hex}");
    let mut wrong = good.clone();
    wrong.replace_range(7..8, if &good[7..8] == "0" { "1" } else { "0" });

    let (status, answer) = post(&relay, &body, &[("x-hub-signature-256", &wrong)]).await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("does not match"),
        "{answer}"
    );
    assert!(!answer.to_string().contains(&hex));
    let (status, _) = post(&relay, &body, &[]).await;
    assert_eq!(status, 401);
    let (status, answer) = post(&relay, &body, &[("X-Hub-Signature-256", &good)]).await;
    assert_eq!(status, 202, "{answer}");
    let got = crm.wait_for(1, WAIT).await;
    assert_eq!(got[0].body.as_ref(), body.as_slice());
    crm.assert_quiet(1, Duration::from_millis(300)).await;
}

// -------------------------------------------------------------- secrets

#[tokio::test]
async fn file_secrets_are_read_at_start_and_reread_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let signing = dir.path().join("crm_signing");
    let token = dir.path().join("sipgate_token");
    let api_key = dir.path().join("crm_api_key");
    std::fs::write(&signing, format!("{SECRET_A}\n")).unwrap();
    std::fs::write(&token, "t0ken-one\n").unwrap();
    std::fs::write(&api_key, "k3y-one").unwrap();

    let crm = FakeTarget::start().await;
    let yaml = config(
        &crm.url("/crm"),
        &format!(
            "    token: {{header: X-Token, value: {{file: \"{}\"}}}}\n",
            token.display()
        ),
        &format!(
            "    headers: {{X-Api-Key: {{file: \"{}\"}}}}\n    sign: {{secret: {{file: \"{}\"}}}}\n",
            api_key.display(),
            signing.display()
        ),
    );
    let relay = TestRelay::start(&yaml).await;
    let body = fixture("minimal.json");
    let (status, _) = post(&relay, &body, &[("x-token", "t0ken-one")]).await;
    assert_eq!(status, 202);
    let got = crm.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("x-api-key"), Some("k3y-one"));
    Webhook::new(SECRET_A)
        .unwrap()
        .verify(&got[0].body, &got[0].headers)
        .unwrap();

    std::fs::write(&signing, format!("{SECRET_B}\n")).unwrap();
    std::fs::write(&token, "t0ken-two\n").unwrap();
    std::fs::write(&api_key, "k3y-two\n").unwrap();
    relay.reload_with(&yaml).await.unwrap();

    let (status, _) = post(&relay, &body, &[("x-token", "t0ken-one")]).await;
    assert_eq!(status, 401, "the old token is gone after the reload");
    let (status, _) = post(&relay, &body, &[("x-token", "t0ken-two")]).await;
    assert_eq!(status, 202);
    let got = crm.wait_for(2, WAIT).await;
    assert_eq!(got[1].header("x-api-key"), Some("k3y-two"));
    Webhook::new(SECRET_B)
        .unwrap()
        .verify(&got[1].body, &got[1].headers)
        .unwrap();
    assert!(
        Webhook::new(SECRET_A)
            .unwrap()
            .verify(&got[1].body, &got[1].headers)
            .is_err()
    );

    // A missing file fails the reload, naming the path, and the relay keeps
    // the secrets it had.
    std::fs::remove_file(&signing).unwrap();
    let e = relay.reload_with(&yaml).await.unwrap_err().to_string();
    assert!(e.contains("targets.crm.sign.secret"), "{e}");
    assert!(e.contains(&signing.display().to_string()), "{e}");
    let (status, _) = post(&relay, &body, &[("x-token", "t0ken-two")]).await;
    assert_eq!(status, 202);
}

// ------------------------------------------------------ config problems

fn problems(yaml: &str, env: &[(&str, &str)]) -> Vec<Problem> {
    let config = Config::parse(yaml).unwrap_or_else(|e| panic!("does not parse: {e}\n{yaml}"));
    let env: Env = env.iter().copied().collect();
    match Runtime::compile(config, &env, None) {
        Ok(_) => panic!("compiled:\n{yaml}"),
        Err(p) => p.iter().cloned().collect(),
    }
}

#[test]
fn rejects_signing_secrets_that_are_not_whsec_base64_without_echoing_them() {
    let cases = [
        (
            "    sign: {secret: \"${S}\"}\n",
            "hunter2hunter2hunter2hunter2",
            "targets.crm.sign.secret",
            "must be `whsec_` followed by base64",
        ),
        (
            "    sign: {secret: \"${S}\"}\n",
            "whsec_aHVudGVyMg==",
            "targets.crm.sign.secret",
            "at least 24",
        ),
        (
            "    sign: {secrets: [\"${S}\", nope]}\n",
            SECRET_A,
            "targets.crm.sign.secrets[1]",
            "must be `whsec_`",
        ),
        (
            "    sign: {}\n",
            "",
            "targets.crm.sign",
            "needs `secret` or `secrets`",
        ),
        (
            "    sign: {secret: a, secrets: [b]}\n",
            "",
            "targets.crm.sign",
            "not both",
        ),
        (
            "    sign: {secret: {file: /nonexistent/crm_signing}}\n",
            "",
            "targets.crm.sign.secret",
            "cannot read secret file /nonexistent/crm_signing",
        ),
    ];
    for (line, secret, place, want) in cases {
        let yaml = config("http://127.0.0.1:9/crm", "", line);
        let all = problems(&yaml, &[("S", secret)]);
        assert_eq!(all.len(), 1, "{line}: {all:#?}");
        assert_eq!(all[0].place, place, "{line}");
        assert!(all[0].message.contains(want), "{line}: {}", all[0]);
        assert!(
            all[0].position.is_some() || place == "targets.crm.sign",
            "{line}"
        );
        let shown = format!("{all:?} {}", all[0]);
        assert!(
            !shown.contains("hunter2") && !shown.contains("aHVudGVy"),
            "{shown}"
        );
    }
}

#[test]
fn rejects_malformed_verify_settings() {
    let cases = [
        (
            "    verify: {hmac: {header: \"Bad Header\", secret: s}}\n",
            "sources.sipgate.verify.hmac.header",
            "not a valid header name",
        ),
        (
            "    verify: {hmac: {header: X-Sig, secret: \"${EMPTY:-}\"}}\n",
            "sources.sipgate.verify.hmac.secret",
            "the secret is empty",
        ),
        (
            "    verify: {standard_webhooks: {secret: not-whsec}}\n",
            "sources.sipgate.verify.standard_webhooks.secret",
            "must be `whsec_`",
        ),
    ];
    for (line, place, want) in cases {
        let yaml = config("http://127.0.0.1:9/crm", line, "");
        let all = problems(&yaml, &[]);
        assert_eq!(all.len(), 1, "{line}: {all:#?}");
        assert_eq!(all[0].place, place, "{line}");
        assert!(all[0].message.contains(want), "{line}: {}", all[0]);
    }
    for line in [
        "    verify: {rsa: {}}\n",
        "    verify: {hmac: {header: X, secret: s, algorithm: md5}}\n",
        "    verify: {hmac: {header: X, secret: s, encoding: base32}}\n",
        "    verify: {standard_webhooks: {secret: s, tolerance: 1h}}\n",
    ] {
        let yaml = config("http://127.0.0.1:9/crm", line, "");
        assert!(Config::parse(&yaml).is_err(), "{line}");
    }
}
