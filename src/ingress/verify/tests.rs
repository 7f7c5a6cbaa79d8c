//! Tests of `ingress/verify.rs` and its `standard`, `hmac` and `seen`.

use std::sync::{Arc, Mutex};

use ::hmac::{Hmac, KeyInit, Mac};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderName;
use sha2::Sha512;

use super::hmac::HmacKey;
use super::*;
use crate::config::{Algorithm, Encoding};
use crate::dispatch::sign::{self, Key, Signer};
use proptest::prelude::*;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const TIMESTAMP: u64 = 1649367553;
const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

fn keys(secrets: &[&str]) -> Vec<Key> {
    secrets.iter().map(|s| sign::key(s, 1).unwrap()).collect()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

fn standard(signature: &str, timestamp: &str) -> HeaderMap {
    headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ])
}

fn verifier(secret: &str) -> Verifier {
    Verifier::StandardWebhooks(StandardWebhooks {
        keys: keys(&[secret]),
        seen: Arc::new(Mutex::new(SeenIds::new(MAX_SEEN))),
    })
}

#[test]
fn standard_webhooks_table() {
    let other = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=";
    let ts = TIMESTAMP.to_string();
    let k = keys(&[SECRET]);
    type Case<'a> = (&'a str, HeaderMap, u64, Result<(), &'a str>);
    let cases: Vec<Case> = vec![
        ("exact", standard(SIGNATURE, &ts), TIMESTAMP, Ok(())),
        (
            "any entry",
            standard(&format!("v1a,xyz {other} {SIGNATURE}"), &ts),
            TIMESTAMP,
            Ok(()),
        ),
        (
            "4:59 old",
            standard(SIGNATURE, &ts),
            TIMESTAMP + 299,
            Ok(()),
        ),
        (
            "5:00 old",
            standard(SIGNATURE, &ts),
            TIMESTAMP + 300,
            Ok(()),
        ),
        (
            "5:01 old",
            standard(SIGNATURE, &ts),
            TIMESTAMP + 301,
            Err("more than 5 minutes old"),
        ),
        (
            "5:00 ahead",
            standard(SIGNATURE, &ts),
            TIMESTAMP - 300,
            Ok(()),
        ),
        (
            "5:01 ahead",
            standard(SIGNATURE, &ts),
            TIMESTAMP - 301,
            Err("in the future"),
        ),
        (
            "wrong",
            standard(other, &ts),
            TIMESTAMP,
            Err("no webhook-signature entry matches"),
        ),
        (
            "wrong version",
            standard(&SIGNATURE.replace("v1,", "v2,"), &ts),
            TIMESTAMP,
            Err("no webhook-signature entry"),
        ),
        (
            "not base64",
            standard("v1,!!!", &ts),
            TIMESTAMP,
            Err("no webhook-signature entry"),
        ),
        (
            "bad timestamp",
            standard(SIGNATURE, "soon"),
            TIMESTAMP,
            Err("not a Unix time"),
        ),
        (
            "negative timestamp",
            standard(SIGNATURE, "-1"),
            TIMESTAMP,
            Err("not a Unix time"),
        ),
        (
            "no id",
            headers(&[("webhook-timestamp", &ts), ("webhook-signature", SIGNATURE)]),
            TIMESTAMP,
            Err("missing webhook-id header"),
        ),
        (
            "no signature",
            headers(&[("webhook-id", ID), ("webhook-timestamp", &ts)]),
            TIMESTAMP,
            Err("missing webhook-signature header"),
        ),
    ];
    for (name, h, now, want) in cases {
        let got = check_standard(&k, &h, BODY, now).map(|_| ());
        match (got, want) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(want)) => {
                let e = e.to_string();
                assert!(e.contains(want), "{name}: {e}");
                assert!(
                    !e.contains("tZ1I4"),
                    "{name}: leaks the expected value: {e}"
                );
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn a_second_key_verifies_during_rotation() {
    let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let k = keys(&[old, SECRET]);
    let h = standard(SIGNATURE, &TIMESTAMP.to_string());
    assert!(check_standard(&k, &h, BODY, TIMESTAMP).is_ok());
    assert!(check_standard(&keys(&[old]), &h, BODY, TIMESTAMP).is_err());
}

#[test]
fn a_replayed_id_is_a_replay_until_its_window_closes() {
    let v = verifier(SECRET);
    let h = standard(SIGNATURE, &TIMESTAMP.to_string());
    let Verdict::Accept(claim) = v.verify(&h, BODY, TIMESTAMP) else {
        panic!("first delivery refused");
    };
    assert_eq!(claim.id(), Some((ID, TIMESTAMP + TOLERANCE)));
    claim.keep();
    assert!(matches!(
        v.verify(&h, BODY, TIMESTAMP + 10),
        Verdict::Replay
    ));
    // The same message after the window fails on its timestamp, not as a replay.
    assert!(matches!(
        v.verify(&h, BODY, TIMESTAMP + 301),
        Verdict::Reject(_)
    ));
    // A bad signature with a known id is a rejection, not a free 200.
    let forged = standard(
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        &TIMESTAMP.to_string(),
    );
    assert!(matches!(
        v.verify(&forged, BODY, TIMESTAMP),
        Verdict::Reject(_)
    ));
}

#[test]
fn a_dropped_claim_lets_the_retry_through() {
    let v = verifier(SECRET);
    let h = standard(SIGNATURE, &TIMESTAMP.to_string());
    let first = v.verify(&h, BODY, TIMESTAMP);
    assert!(matches!(first, Verdict::Accept(_)));
    // While the first is in progress, a duplicate is a replay.
    assert!(matches!(v.verify(&h, BODY, TIMESTAMP), Verdict::Replay));
    drop(first); // e.g. the spool refused it with 503
    assert!(matches!(v.verify(&h, BODY, TIMESTAMP), Verdict::Accept(_)));
}

#[test]
fn seen_ids_expire_and_stay_bounded() {
    let mut seen = SeenIds::new(3);
    assert!(seen.claim("a", 0, 10));
    assert!(!seen.claim("a", 9, 19));
    assert!(seen.claim("a", 10, 20), "expired at 10");
    assert!(seen.claim("b", 10, 20));
    assert!(seen.claim("c", 10, 20));
    assert!(seen.claim("d", 10, 20));
    assert!(seen.len() <= 3);
    assert!(seen.claim("a", 11, 21), "the oldest was evicted at the cap");
    assert!(!seen.claim("d", 11, 21));
    seen.release("d");
    assert!(seen.claim("d", 11, 21));
    for i in 0..1000 {
        seen.claim(&i.to_string(), 12, 22);
    }
    assert!(seen.len() <= 3 && seen.order.len() <= 3);
    assert!(seen.claim("late", 30, 40));
    assert_eq!(seen.len(), 1, "everything before 30 expired");
}

fn github(secret: &str, algorithm: Algorithm, encoding: Encoding, prefix: &str) -> HmacCheck {
    let key = match algorithm {
        Algorithm::Sha256 => HmacKey::Sha256(Hmac::new_from_slice(secret.as_bytes()).unwrap()),
        Algorithm::Sha512 => HmacKey::Sha512(Hmac::new_from_slice(secret.as_bytes()).unwrap()),
    };
    HmacCheck {
        header: HeaderName::from_static("x-hub-signature-256"),
        prefix: prefix.to_owned(),
        encoding,
        key: Box::new(key),
    }
}

#[test]
fn hmac_matches_githubs_documented_example() {
    // docs.github.com, "Validating webhook deliveries": secret
    // "It's a Secret to Everybody", payload "Hello, World!".
    let check = github(
        "It's a Secret to Everybody",
        Algorithm::Sha256,
        Encoding::Hex,
        "sha256=",
    );
    let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let body = b"Hello, World!";
    assert_eq!(
        check_hmac(&check, &headers(&[("X-Hub-Signature-256", good)]), body),
        Ok(())
    );
    let upper = format!("sha256={}", good["sha256=".len()..].to_uppercase());
    assert_eq!(
        check_hmac(&check, &headers(&[("x-hub-signature-256", &upper)]), body),
        Ok(())
    );
    for (value, want) in [
        (
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18",
            "does not match",
        ),
        (
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "does not start with `sha256=`",
        ),
        ("sha256=xyz", "is not hex"),
        ("sha256=", "does not match"),
    ] {
        let e = check_hmac(&check, &headers(&[("x-hub-signature-256", value)]), body)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{value}: {e}");
    }
    let e = check_hmac(&check, &HeaderMap::new(), body)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "missing x-hub-signature-256 header");
}

#[test]
fn hmac_sha512_in_base64() {
    let check = github("k", Algorithm::Sha512, Encoding::Base64, "");
    let mut mac = Hmac::<Sha512>::new_from_slice(b"k").unwrap();
    mac.update(b"body");
    let good = STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(
        check_hmac(&check, &headers(&[("x-hub-signature-256", &good)]), b"body"),
        Ok(())
    );
    assert!(check_hmac(&check, &headers(&[("x-hub-signature-256", &good)]), b"bodY").is_err());
}

proptest! {
    #[test]
    fn signed_bodies_verify_and_any_flipped_byte_fails(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        id in "[a-zA-Z0-9_-]{1,64}",
        timestamp in 1_000_000u64..4_000_000_000,
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let signer = Signer::from_secrets(&[SECRET]).unwrap();
        let signature = signer.sign(&id, timestamp, &body);
        let h = headers(&[
            ("webhook-id", &id),
            ("webhook-timestamp", &timestamp.to_string()),
            ("webhook-signature", &signature),
        ]);
        let k = keys(&[SECRET]);
        prop_assert!(check_standard(&k, &h, &body, timestamp).is_ok());
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[flip.index(body.len())] ^= 1 << bit;
            prop_assert!(check_standard(&k, &h, &tampered, timestamp).is_err());
        }
    }
}
