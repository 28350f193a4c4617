//! The queue's schema on PostgreSQL. Versions count the same way as SQLite's
//! `PRAGMA user_version`: the shared schema starts whole at version 5 (what SQLite reaches
//! after its five steps), and each later step is added to both lists under one number.

use super::db::{params, Db};
use super::{StoreError, MIGRATIONS};

/// `(version it brings the schema to, SQL)`, in order.
const PG_MIGRATIONS: &[(i64, &str)] = &[(5, SCHEMA_V5)];

/// SQLite's tables with PostgreSQL's types: 64-bit integers everywhere (the store binds
/// `i64`), generated keys for the tables SQLite gives a rowid, and raw bytes for paths (a
/// file name need not be UTF-8).
const SCHEMA_V5: &str = r#"
CREATE TABLE batches (
    id          TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    project_id  TEXT NOT NULL,
    destination TEXT NOT NULL,
    grouping    TEXT NOT NULL,
    force       BIGINT NOT NULL DEFAULT 0,
    backend     TEXT NOT NULL DEFAULT ''
);
CREATE TABLE sessions (
    id              BIGSERIAL PRIMARY KEY,
    batch_id        TEXT NOT NULL REFERENCES batches(id),
    idempotency_key TEXT NOT NULL UNIQUE,
    request_json    TEXT NOT NULL,
    response_json   TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    abandoned       BIGINT NOT NULL DEFAULT 0,
    sends           BIGINT NOT NULL DEFAULT 0,
    sent_at         BIGINT
);
CREATE INDEX sessions_by_sent ON sessions(sent_at);
CREATE TABLE posts (
    id              BIGSERIAL PRIMARY KEY,
    batch_id        TEXT NOT NULL REFERENCES batches(id),
    position        BIGINT NOT NULL,
    state           TEXT NOT NULL,
    resume_state    TEXT,
    caption         TEXT NOT NULL,
    session_id      BIGINT REFERENCES sessions(id),
    session_index   BIGINT,
    container_id    TEXT,
    finalize_key    TEXT,
    content_json    TEXT,
    dedupe_key      TEXT,
    error_code      TEXT,
    error_message   TEXT,
    error_details   TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    restarts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    source_urls     TEXT,
    origin          TEXT NOT NULL DEFAULT '',
    machine         TEXT,
    lease_owner     TEXT,
    lease_until     BIGINT
);
CREATE INDEX posts_by_state ON posts(state, next_attempt_at);
CREATE INDEX posts_by_batch ON posts(batch_id, position);
CREATE INDEX posts_by_session ON posts(session_id);
CREATE INDEX posts_by_dedupe ON posts(dedupe_key);
CREATE INDEX posts_by_lease ON posts(lease_owner);
CREATE TABLE post_files (
    post_id       BIGINT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    path          BYTEA NOT NULL,
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    mtime_ns      BIGINT,
    sha256        TEXT NOT NULL,
    upload_url    TEXT,
    r2_key        TEXT,
    expires_at    BIGINT,
    put_confirmed BIGINT NOT NULL DEFAULT 0,
    put_headers   TEXT,
    PRIMARY KEY (post_id, position)
);
CREATE TABLE ledger (
    backend      TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    content_id   TEXT NOT NULL,
    post_id      BIGINT,
    completed_at BIGINT NOT NULL,
    PRIMARY KEY (backend, project_id, dedupe_key)
);
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE watches (
    id            BIGSERIAL PRIMARY KEY,
    folder        BYTEA NOT NULL,
    project_id    TEXT NOT NULL,
    recursive     BIGINT NOT NULL,
    grouping      TEXT NOT NULL,
    caption       TEXT NOT NULL,
    settle_ms     BIGINT NOT NULL,
    move_uploaded BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    machine       TEXT NOT NULL DEFAULT '',
    UNIQUE (machine, folder, project_id)
);
CREATE TABLE watch_files (
    watch_id   BIGINT NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    path       BYTEA NOT NULL,
    stamp      TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT,
    post_id    BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (watch_id, path)
);
CREATE TABLE watch_posts (
    post_id  BIGINT PRIMARY KEY REFERENCES posts(id) ON DELETE CASCADE,
    watch_id BIGINT NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    sidecar  TEXT,
    moved_at BIGINT
);
CREATE INDEX watch_posts_unmoved ON watch_posts(watch_id, moved_at);
"#;

/// The version recorded in the shared database (0 for an empty one).
pub(super) fn version(db: &Db) -> Result<i64, StoreError> {
    let exists: bool = db.query_row(
        "SELECT to_regclass('layers_schema') IS NOT NULL",
        params![],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    Ok(db.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM layers_schema",
        params![],
        |r| r.get(0),
    )?)
}

/// Brings the shared schema up to date under the write lock (several machines may start at
/// once; the second one finds the work done).
pub(super) fn migrate(db: &Db) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    if version(db)? == known {
        return Ok(());
    }
    let tx = db.write_tx()?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS layers_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )?;
    let mut at = version(&tx)?;
    if at > known {
        return Err(StoreError::NewerSchema { found: at, known });
    }
    for (to, sql) in PG_MIGRATIONS {
        if *to > at {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO layers_schema (version, applied_at) VALUES (?1, ?2)",
                params![*to, super::now_ms()],
            )?;
            at = *to;
        }
    }
    tx.commit()?;
    Ok(())
}
