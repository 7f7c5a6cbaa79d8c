//! Tests of `secret.rs`.

use super::*;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Holder {
    secret: SecretConfig,
}

fn parse(yaml: &str) -> Result<SecretConfig, String> {
    serde_saphyr::from_str::<Holder>(yaml)
        .map(|h| h.secret)
        .map_err(|e| e.to_string())
}

#[test]
fn scalars_keep_their_spelling() {
    for (yaml, want) in [
        ("secret: s3cret", "s3cret"),
        ("secret: 007", "007"),
        ("secret: yes", "yes"),
        ("secret: 0x1F", "0x1F"),
        ("secret: 1e3", "1e3"),
        ("secret: \"Bearer ${T}\"", "Bearer ${T}"),
        ("secret: ''", ""),
    ] {
        let got = parse(yaml).unwrap();
        assert_eq!(got.0.value, SecretSource::Text(want.into()), "{yaml}");
        assert_eq!(got.referenced().line(), 1);
        assert_eq!(got.referenced().column(), 9, "{yaml}");
    }
}

#[test]
fn file_form_and_its_mistakes() {
    let got = parse("secret:\n  file: /run/secrets/x\n").unwrap();
    assert_eq!(got.0.value, SecretSource::File("/run/secrets/x".into()));
    assert_eq!(got.referenced().line(), 2);
    for yaml in [
        "secret: {file: /x, mode: 1}",
        "secret: {path: /x}",
        "secret: [a]",
        "secret: {}",
    ] {
        assert!(parse(yaml).is_err(), "{yaml}");
    }
}

#[test]
fn resolves_text_and_files_without_revealing_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "hunter2-from-file\r\n\n").unwrap();
    let env: Env = [("DIR", dir.path().to_str().unwrap()), ("T", "hunter2")]
        .into_iter()
        .collect();

    let text = parse("secret: \"Bearer ${T}\"").unwrap();
    assert_eq!(text.resolve(&env).unwrap(), "Bearer hunter2");
    let from_file = parse("secret: {file: \"${DIR}/token\"}").unwrap();
    assert_eq!(from_file.resolve(&env).unwrap(), "hunter2-from-file");

    let missing = parse("secret: {file: /nonexistent/hunter2-dir/x}").unwrap();
    let e = missing.resolve(&env).unwrap_err().to_string();
    assert!(
        e.contains("cannot read secret file /nonexistent/hunter2-dir/x"),
        "{e}"
    );

    std::fs::write(&file, [0xff, 0xfe, b'h']).unwrap();
    let e = from_file.resolve(&env).unwrap_err().to_string();
    assert!(e.ends_with("is not UTF-8 text"), "{e}");
    std::fs::write(&file, "\n").unwrap();
    let e = from_file.resolve(&env).unwrap_err().to_string();
    assert!(e.ends_with("is empty"), "{e}");

    std::fs::write(&file, vec![b'k'; MAX_FILE as usize + 1]).unwrap();
    let e = from_file.resolve(&env).unwrap_err().to_string();
    assert!(e.ends_with("is larger than 65536 bytes"), "{e}");
    let e = parse("secret: {file: \"${DIR}\"}")
        .unwrap()
        .resolve(&env)
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("is a directory"), "{e}");

    let unset = parse("secret: \"${NOPE}\"").unwrap();
    let e = unset.resolve(&env).unwrap_err().to_string();
    assert!(
        e.contains("NOPE is not set") && !e.contains("hunter2"),
        "{e}"
    );
}

/// Opening a FIFO for reading blocks until a writer comes: before the
/// fix, this test hung (and so did `check` and reload).
#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let secret = parse(&format!("secret: {{file: {}}}", fifo.display())).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(secret.resolve(&Env::default())));
    let e = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("reading a FIFO secret must not block")
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("is not a regular file (a FIFO, socket or device)"),
        "{e}"
    );
    let e = parse("secret: {file: /dev/zero}")
        .unwrap()
        .resolve(&Env::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a regular file"), "{e}");
}

#[test]
fn stand_in_env_reads_no_file() {
    let secret = parse("secret: {file: /nonexistent/x}").unwrap();
    assert_eq!(
        secret.resolve(&Env::stand_in()).unwrap(),
        interpolate::STAND_IN
    );
    let broken = parse("secret: {file: \"${OPEN\"}").unwrap();
    assert!(broken.resolve(&Env::stand_in()).is_err());
}

#[test]
fn a_digest_matches_only_the_secret_itself() {
    let digest = SecretDigest::of(b"s3cret");
    assert!(digest.matches(b"s3cret"));
    for wrong in [&b""[..], b"s3cre", b"s3cret ", b"S3CRET"] {
        assert!(!digest.matches(wrong), "{wrong:?}");
    }
    assert!(same(b"token", b"token"));
    assert!(!same(b"token", b"tokens"));
    assert_eq!(format!("{digest:?}"), "SecretDigest(..)");
}
