//! Tests of `spool/location.rs`.

use super::*;

fn parse(text: &str) -> Result<Location, String> {
    Location::parse(
        text,
        &Env::from_map([("PGPW".to_owned(), "s3cret".to_owned())].into()),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn a_path_is_a_sqlite_file() {
    assert_eq!(
        parse("./data/switchboard.db"),
        Ok(Location::Sqlite(PathBuf::from("./data/switchboard.db")))
    );
}

#[test]
fn a_relative_sqlite_path_is_taken_from_the_config_directory() {
    let dir = Path::new("/etc/switchboard");
    let at = |text| parse(text).unwrap().relative_to(dir);
    assert_eq!(
        at("./data/switchboard.db"),
        Location::Sqlite(PathBuf::from("/etc/switchboard/data/switchboard.db"))
    );
    assert_eq!(
        at("/var/lib/switchboard/s.db"),
        Location::Sqlite(PathBuf::from("/var/lib/switchboard/s.db"))
    );
    assert_eq!(
        parse("s.db").unwrap().relative_to(Path::new("")),
        Location::Sqlite(PathBuf::from("s.db"))
    );
    assert!(matches!(at("postgres://relay@db/x"), Location::Postgres(_)));
}

#[test]
fn a_postgres_url_is_a_database_shown_without_its_password() {
    let location = parse("postgres://relay:${PGPW}@db.internal:6432/switchboard").unwrap();
    let Location::Postgres(config) = &location else {
        panic!("not postgres: {location:?}");
    };
    assert_eq!(config.get_password(), Some(&b"s3cret"[..]));
    assert_eq!(
        location.to_string(),
        "postgres://relay@db.internal:6432/switchboard"
    );
}

#[test]
fn a_broken_postgres_url_is_rejected_without_echoing_it() {
    let error = parse("postgres://relay:hunter2@db:notaport/x").unwrap_err();
    assert!(!error.contains("hunter2"), "{error}");
    assert!(parse("postgresql://relay@db/x").is_ok());
    assert!(
        parse("postgres://relay:${UNSET}@db/x")
            .unwrap_err()
            .contains("UNSET")
    );
}
