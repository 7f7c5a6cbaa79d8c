//! The SQLite schema, its migrations (`PRAGMA user_version`), and opening a
//! connection to a spool file with the pragmas every connection needs.
//! Writes no rows; a file newer than this build is refused, not touched.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::spool::SpoolError;

/// The schema this build writes; older files are migrated forward.
pub const SCHEMA_VERSION: i64 = 5;

const SCHEMA_V1: &str = "
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    client_ip   TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    routes      TEXT NOT NULL,
    body        BLOB NOT NULL
);
CREATE INDEX events_received ON events(received_at);
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL,
    target      TEXT NOT NULL,
    route       TEXT NOT NULL,
    body        BLOB,
    size        INTEGER NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    last_status INTEGER,
    last_error  TEXT
);
CREATE INDEX deliveries_due ON deliveries(target, state, due_at, id);
CREATE INDEX deliveries_state ON deliveries(state, updated_at);
CREATE INDEX deliveries_event ON deliveries(event_id);
";

/// Version 2 keeps transformed bodies out of `deliveries`: each outcome
/// rewrites its delivery's row, and with a body inline a row filled most of a
/// page, so every outcome wrote a page of WAL. Small rows share pages, and a
/// batch of outcomes touches a few. `deliveries.body` stays, always NULL.
const SCHEMA_V2: &str = "
CREATE TABLE delivery_bodies (
    id   INTEGER PRIMARY KEY,
    body BLOB NOT NULL
);
INSERT INTO delivery_bodies (id, body) SELECT id, body FROM deliveries WHERE body IS NOT NULL;
UPDATE deliveries SET body = NULL WHERE body IS NOT NULL;
CREATE TRIGGER deliveries_forget_body AFTER DELETE ON deliveries
BEGIN
    DELETE FROM delivery_bodies WHERE id = OLD.id;
END;
";

/// Version 3 remembers the Standard Webhooks `webhook-id`s each source has
/// taken, until their timestamps are too old to verify, so that a replay is
/// refused after a restart too. Without a rowid: the key is the row.
const SCHEMA_V3: &str = "
CREATE TABLE seen_ids (
    source     TEXT NOT NULL,
    id         TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (source, id)
) WITHOUT ROWID;
CREATE INDEX seen_ids_expiry ON seen_ids(expires_at);
";

/// Version 4 keeps each webhook's history for operators: what it was
/// received with (its headers, redacted; its content type; the config
/// version in force; its lookup keys, indexed in `event_keys`), every
/// attempt of every delivery (`attempts`), who did what (`audit`), bulk
/// jobs (`jobs`) and paused targets (`target_controls`). Deliveries gain
/// the states `cancelled` and `unrendered` (no new column: `state` is text)
/// and the class of their last error.
///
/// Each attempt costs the writer one B-tree only, on the hot path:
/// `attempts` is keyed by what it is found by, without a rowid or a second
/// index, and forgotten with its delivery by its key's prefix. The lookup
/// keys' index is in a file of its own: see [`attach_keys`].
const SCHEMA_V4: &str = "
ALTER TABLE events ADD COLUMN config_version TEXT;
ALTER TABLE events ADD COLUMN headers TEXT;
ALTER TABLE events ADD COLUMN content_type TEXT;
ALTER TABLE events ADD COLUMN keys TEXT;
ALTER TABLE deliveries ADD COLUMN last_class TEXT;
CREATE TABLE attempts (
    delivery_id      INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    attempt          INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    status           INTEGER,
    error_class      TEXT,
    error            TEXT,
    request_headers  TEXT,
    response_headers TEXT,
    response_body    BLOB,
    PRIMARY KEY (delivery_id, started_at, attempt)
) WITHOUT ROWID;
CREATE TRIGGER deliveries_forget_attempts AFTER DELETE ON deliveries
BEGIN
    DELETE FROM attempts WHERE delivery_id = OLD.id;
END;
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    who    TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    filter TEXT,
    count  INTEGER,
    detail TEXT
);
CREATE INDEX audit_at ON audit(at);
CREATE TABLE jobs (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    filter     TEXT NOT NULL,
    state      TEXT NOT NULL,
    total      INTEGER NOT NULL,
    done       INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    stop       INTEGER NOT NULL DEFAULT 0,
    error      TEXT
);
CREATE TABLE target_controls (
    target     TEXT PRIMARY KEY,
    paused     INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    changed_by TEXT
);
";

/// Version 5 keeps each webhook's trace context (its ingress span's
/// `traceparent`, and `tracestate` on a second line) when tracing is on,
/// so that attempts made later, after a restart too, join its trace. NULL
/// when tracing is off: nothing is written for it.
const SCHEMA_V5: &str = "
ALTER TABLE events ADD COLUMN trace TEXT;
";

/// The lookup keys' index, in the file [`keys_path`] names, attached to
/// every connection as `keys`. Derived data: each webhook's keys are also
/// in its row (`events.keys`), and [`index_keys`] rebuilds what the index
/// misses. So the index is written without waiting for the disk
/// (`synchronous=NORMAL`: a crash loses no committed key, a power cut may
/// lose the last ones, rebuilt at the next start) and in a file of its own:
/// its inserts land on pages all over its B-tree (keys are random), and in
/// the spool's fsync'd WAL each such page cost a whole page per key
/// (measured: +30% bytes written per webhook with three keys).
const KEYS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS keys.event_keys (
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    PRIMARY KEY (name, value, received_at, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys.event_keys_received ON event_keys(received_at);
";

/// The key index's file: the spool's name with `-keys` (beside its `-wal`).
pub(super) fn keys_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-keys");
    name.into()
}

/// Attaches the key index of the spool at `path` to `conn` as `keys`,
/// creating it if it is not there.
pub(super) fn attach_keys(conn: &Connection, path: &Path) -> Result<(), SpoolError> {
    let keys = keys_path(path);
    conn.execute(
        "ATTACH DATABASE ?1 AS keys",
        [keys.to_string_lossy().as_ref()],
    )?;
    // Small pages: a key lands on a page of its own (keys are random), and
    // each commit writes every page it touched, whole. Takes effect when
    // the file is created.
    conn.pragma_update(Some("keys"), "page_size", 1024)?;
    conn.pragma_update(Some("keys"), "journal_mode", "WAL")?;
    conn.pragma_update(Some("keys"), "synchronous", "NORMAL")?;
    conn.execute_batch(KEYS_SCHEMA)?;
    Ok(())
}

/// Indexes the keys of webhooks the index may miss: those received up to
/// five minutes before its newest key (a power cut may have lost its last
/// writes), or every webhook when the index is new. Run by the writer at
/// start; how many keys it added.
pub(super) fn index_keys(conn: &Connection) -> Result<usize, SpoolError> {
    let from: i64 = conn.query_row(
        "SELECT COALESCE(MAX(received_at) - 300000, 0) FROM keys.event_keys",
        [],
        |r| r.get(0),
    )?;
    let added = conn.execute(
        "INSERT OR IGNORE INTO keys.event_keys (name, value, received_at, event_id)
         SELECT j.key, j.value, e.received_at, e.id FROM main.events e, json_each(e.keys) j
         WHERE e.received_at >= ?1 AND e.keys IS NOT NULL AND j.type <> 'array'
         UNION ALL
         SELECT j.key, a.value, e.received_at, e.id
         FROM main.events e, json_each(e.keys) j, json_each(j.value) a
         WHERE e.received_at >= ?1 AND e.keys IS NOT NULL AND j.type = 'array'",
        [from],
    )?;
    Ok(added)
}

/// Opens the spool file at `path` (creating it and its directory, and
/// migrating it to [`SCHEMA_VERSION`]), with its key index attached.
pub(super) fn open_connection(path: &Path) -> Result<Connection, SpoolError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SpoolError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A page cache that holds the hot tails of the tables and indexes (the
    // default 2 MB is re-read from the file under load). The relay's writer
    // leaves checkpoints to a thread of its own (see `checkpoint`);
    // other connections (the `dlq` commands) keep SQLite's default.
    conn.pragma_update(None, "cache_size", -16_384)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(SpoolError::NewerSchema {
            path: path.display().to_string(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V1} PRAGMA user_version = 1; COMMIT;"
        ))?;
    }
    if version < 2 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V2} PRAGMA user_version = 2; COMMIT;"
        ))?;
    }
    if version < 3 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V3} PRAGMA user_version = 3; COMMIT;"
        ))?;
    }
    if version < 4 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V4} PRAGMA user_version = 4; COMMIT;"
        ))?;
    }
    if version < 5 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V5} PRAGMA user_version = 5; COMMIT;"
        ))?;
    }
    attach_keys(&conn, path)?;
    Ok(conn)
}
