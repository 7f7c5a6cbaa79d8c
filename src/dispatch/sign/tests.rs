//! Tests of `dispatch/sign.rs`.

use super::*;
use proptest::prelude::*;

// The Standard Webhooks test vector (the reference libraries' tests).
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const TIMESTAMP: u64 = 1649367553;
const BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
const EXPECTED: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

#[test]
fn matches_the_published_test_vector() {
    let signer = Signer::from_secrets(&[SECRET]).unwrap();
    assert_eq!(signer.sign(ID, TIMESTAMP, BODY.as_bytes()), EXPECTED);
}

#[test]
fn several_secrets_give_one_signature_each_in_order() {
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let both = Signer::from_secrets(&[SECRET, other]).unwrap();
    let second = Signer::from_secrets(&[other])
        .unwrap()
        .sign(ID, TIMESTAMP, BODY.as_bytes());
    assert_eq!(
        both.sign(ID, TIMESTAMP, BODY.as_bytes()),
        format!("{EXPECTED} {second}")
    );
    assert_ne!(second, EXPECTED);
}

#[test]
fn unpadded_base64_is_the_same_key() {
    // 25 bytes: the padded form ends in `==`.
    let padded = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGA==";
    let unpadded = padded.trim_end_matches('=');
    let a = Signer::from_secrets(&[padded]).unwrap().sign(ID, 1, b"x");
    let b = Signer::from_secrets(&[unpadded]).unwrap().sign(ID, 1, b"x");
    assert_eq!(a, b);
}

#[test]
fn rejects_secrets_that_are_not_whsec_base64_without_echoing_them() {
    for (secret, want) in [
        (
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "must be `whsec_` followed by base64",
        ),
        (
            "hunter2hunter2hunter2hunter2",
            "must be `whsec_` followed by base64",
        ),
        ("whsec_hunter2-hunter2!", "is not base64"),
        ("whsec_aHVudGVyMg==", "the key is 7 bytes; at least 24"),
        ("whsec_", "the key is 0 bytes"),
    ] {
        let e = key(secret, MIN_SIGNING_KEY).unwrap_err().to_string();
        assert!(e.contains(want), "{secret}: {e}");
        assert!(
            !e.contains("hunter2") && !e.contains("aHVudGVy"),
            "leaked: {e}"
        );
    }
    // Inbound, the sender chose the key: any non-empty key verifies.
    assert!(key("whsec_aHVudGVyMg==", 1).is_ok());
    assert!(key("whsec_", 1).is_err());
}

proptest! {
    #[test]
    fn agrees_with_the_reference_library(
        id in "[a-zA-Z0-9_]{1,40}",
        timestamp in 0u64..4_000_000_000,
        body in ".*",
    ) {
        let ours = Signer::from_secrets(&[SECRET]).unwrap().sign(&id, timestamp, body.as_bytes());
        let theirs = standardwebhooks::Webhook::new(SECRET)
            .unwrap()
            .sign(&id, timestamp as i64, body.as_bytes())
            .unwrap();
        prop_assert_eq!(ours, theirs);
    }
}
