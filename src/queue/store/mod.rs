//! The persistent queue: batches, sessions, posts, their files, and the upload ledger, in one
//! SQLite file (WAL, `synchronous=FULL`). Every state change is committed before the network
//! call that depends on it, and every transition goes through [`super::state::next`].

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use db::{params, Db, OptionalExtension, Tx};

use super::state::{PostEvent, PostState};

mod backend;
mod controls;
pub(crate) mod db;
mod dest;
mod error;
mod lease;
mod pg;
mod pg_schema;
mod pg_tls;
mod rows;
mod types;
mod watches;

pub use backend::{normalize_base, Backend, SANDBOX_BACKEND};
pub use controls::{WatchDecision, WatchTally, TALLY_RECENT};
pub use error::{is_disk_full, StoreError};
pub use lease::{machine_name, Lease, LEASE_TIME};
use rows::{error_from, post_state, read_post, read_session, transition_in};
pub use types::{
    Change, NewBatch, NewFile, NewPost, PostError, PostSummary, ReservedFile, ReservedUpload,
    StoredFile, StoredPost, StoredSession,
};
pub use watches::{MoveDue, NewWatch, Outcome, SeenFile, StoredWatch, UploadedFile, WatchedPost};

/// File name of the queue database inside the data dir.
pub const DB_FILE: &str = "queue.sqlite3";

/// What a session's stored answer becomes once every post of it completed: the answer held
/// the presigned URLs, and nothing reads it after that but to see that it was answered.
const SCRUBBED_RESPONSE: &str = r#"{"scrubbed":"every post of this session completed"}"#;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// The schema version this build writes (the number of migrations).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE batches (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    project_id  TEXT NOT NULL,
    destination TEXT NOT NULL,
    grouping    TEXT NOT NULL,
    force       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY,
    batch_id        TEXT NOT NULL REFERENCES batches(id),
    idempotency_key TEXT NOT NULL UNIQUE,
    request_json    TEXT NOT NULL,
    response_json   TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    abandoned       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE posts (
    id              INTEGER PRIMARY KEY,
    batch_id        TEXT NOT NULL REFERENCES batches(id),
    position        INTEGER NOT NULL,
    state           TEXT NOT NULL,
    resume_state    TEXT,
    caption         TEXT NOT NULL,
    session_id      INTEGER REFERENCES sessions(id),
    session_index   INTEGER,
    container_id    TEXT,
    finalize_key    TEXT,
    content_json    TEXT,
    dedupe_key      TEXT,
    error_code      TEXT,
    error_message   TEXT,
    error_details   TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    restarts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX posts_by_state ON posts(state, next_attempt_at);
CREATE INDEX posts_by_batch ON posts(batch_id, position);
CREATE INDEX posts_by_session ON posts(session_id);
CREATE INDEX posts_by_dedupe ON posts(dedupe_key);
CREATE TABLE post_files (
    post_id       INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    path          TEXT NOT NULL,
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    mtime_ns      INTEGER,
    sha256        TEXT NOT NULL,
    upload_url    TEXT,
    r2_key        TEXT,
    expires_at    INTEGER,
    put_confirmed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (post_id, position)
);
CREATE TABLE ledger (
    project_id   TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    content_id   TEXT NOT NULL,
    post_id      INTEGER,
    completed_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, dedupe_key)
);
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    watches::MIGRATION_WATCHES,
    dest::MIGRATION_DESTINATIONS,
    backend::MIGRATION_BACKEND,
    lease::MIGRATION_LEASES,
];

/// Milliseconds since the Unix epoch: the one time unit the store uses.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        + crate::queue::failpoint::clock_offset_ms()
}

/// Where the queue lives: the embedded SQLite file in the data dir (one machine, the default),
/// or a PostgreSQL database several machines share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `queue.sqlite3` in the data dir.
    Local,
    /// A `postgres://` URL (it may hold a password: never shown, see [`Store::describe`]).
    Shared(String),
}

impl StoreLocation {
    /// Reads `--store` / `LAYERS_UPLOADER_STORE`: empty or `sqlite` is the local file, a
    /// `postgres://` or `postgresql://` URL the shared database.
    pub fn parse(spec: Option<&str>) -> Result<StoreLocation, String> {
        let spec = spec.map(str::trim).unwrap_or("");
        if spec.is_empty() || spec.eq_ignore_ascii_case("sqlite") {
            return Ok(StoreLocation::Local);
        }
        let lower = spec.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(StoreLocation::Shared(spec.to_string()));
        }
        Err(
            "the store is `sqlite` (the default: a file in the data dir) or a \
             postgres://user:password@host:port/database URL"
                .into(),
        )
    }
}

/// The queue database. One connection behind a mutex: both engines take one writer at a time
/// anyway (see [`db::Db::write_tx`]), and every operation is a short transaction.
pub struct Store {
    conn: Mutex<Db>,
    /// The services this handle works for (see [`Store::use_backend`]).
    backend: Mutex<Option<Backend>>,
    dir: PathBuf,
    /// `queue.sqlite3`'s path, or the shared database without its password.
    described: String,
    /// The runner's lease, once it runs (see [`Store::take_leases`]).
    lease: Mutex<Option<Lease>>,
    /// Whether this is the shared (PostgreSQL) queue.
    shared: bool,
    /// This machine's name (see [`machine_name`]): recorded on what it queues.
    machine: String,
}

impl Store {
    /// Opens (creating and migrating) the queue database in a data dir.
    pub fn open_in(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CannotWrite {
            dir: data_dir.to_path_buf(),
            source,
        })?;
        Store::open(&data_dir.join(DB_FILE))
    }

    /// Opens the queue where `location` says: the data dir's SQLite file, or the shared
    /// PostgreSQL database (waiting for it while it does not answer; see [`pg`]).
    pub fn open_at(location: &StoreLocation, data_dir: &Path) -> Result<Store, StoreError> {
        match location {
            StoreLocation::Local => Store::open_in(data_dir),
            StoreLocation::Shared(url) => {
                let conn = pg::PgConn::connect(url).map_err(StoreError::Shared)?;
                let described = conn.target().to_string();
                let store = Store {
                    conn: Mutex::new(Db::Pg(conn)),
                    backend: Mutex::new(None),
                    dir: data_dir.to_path_buf(),
                    described,
                    lease: Mutex::new(None),
                    shared: true,
                    machine: machine_name(),
                };
                store.migrate()?;
                Ok(store)
            }
        }
    }

    /// Opens (creating and migrating) the queue database at a path. A directory that cannot
    /// be written is named as such (read-only file system, permissions), not as a SQL error.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Store::open_unexplained(path, &dir).map_err(|e| match e {
            StoreError::Open { .. } | StoreError::Sql(_) => match error::write_probe(&dir) {
                Some(source) if error::is_out_of_space(&source) => {
                    StoreError::DiskFull { dir: Some(dir) }
                }
                Some(source) => StoreError::CannotWrite { dir, source },
                None => e,
            },
            other => other.in_dir(&dir),
        })
    }

    fn open_unexplained(path: &Path, dir: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = rusqlite::Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        use_wal(&conn).map_err(open_err)?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(open_err)?;
        if let Some(pages) = super::failpoint::max_page_count() {
            conn.pragma_update(None, "max_page_count", pages)
                .map_err(open_err)?;
        }
        let store = Store {
            conn: Mutex::new(Db::Lite(conn)),
            backend: Mutex::new(None),
            dir: dir.to_path_buf(),
            described: path.display().to_string(),
            lease: Mutex::new(None),
            shared: false,
            machine: machine_name(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Where this queue lives, as a person may be shown it (never a password).
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// Whether several machines may share this queue (PostgreSQL): leases and machine names
    /// matter then, and watch folders are each machine's own.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// The directory the database lives in (the data dir), as error messages name it.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The error as a person should read it: a full disk names this store's data dir.
    pub fn explain(&self, e: StoreError) -> StoreError {
        e.in_dir(&self.dir)
    }

    fn conn(&self) -> MutexGuard<'_, Db> {
        // A panic while holding the lock cannot leave the database half-written
        // (transactions roll back), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies pending migrations. Opening an up-to-date store only reads; a due step takes
    /// the write lock first and re-reads the version under it, so two processes opening a
    /// new store at the same moment cannot both run the same migration.
    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        match &mut *conn {
            Db::Lite(c) => migrate_lite(c),
            Db::Pg(_) => pg_schema::migrate(&conn),
        }
    }

    /// The schema version in force (the number of migrations applied).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let conn = self.conn();
        match &*conn {
            Db::Lite(c) => Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?),
            Db::Pg(_) => pg_schema::version(&conn),
        }
    }

    /// Stores a batch and its posts in one transaction; returns the batch id and post ids.
    pub fn enqueue(&self, batch: &NewBatch) -> Result<(String, Vec<i64>), StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        let out = enqueue_in(
            &tx,
            batch,
            &self.backend_for(&batch.destination),
            &self.machine,
        )?;
        tx.commit()?;
        Ok(out)
    }

    /// Adds posts to an existing batch (after its current ones), e.g. as files finish their
    /// inspection while the first ones already upload.
    pub fn add_posts(&self, batch_id: &str, posts: &[NewPost]) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        let next: i64 = tx.query_row(
            "SELECT COALESCE(MAX(position) + 1, 0) FROM posts WHERE batch_id = ?1",
            params![batch_id],
            |r| r.get(0),
        )?;
        let destination: String = tx.query_row(
            "SELECT destination FROM batches WHERE id = ?1",
            params![batch_id],
            |r| r.get(0),
        )?;
        let ids = insert_posts(&tx, batch_id, &destination, next, posts, &self.machine)?;
        tx.commit()?;
        Ok(ids)
    }

    /// One post with its files and batch settings.
    pub fn post(&self, id: i64) -> Result<StoredPost, StoreError> {
        let conn = self.conn();
        read_post(&conn, id)
    }

    /// Moves a post by an event (refusing moves the state machine does not allow), setting
    /// the extra columns in the same transaction. Returns the new state.
    pub fn transition(
        &self,
        id: i64,
        event: PostEvent,
        change: Change,
    ) -> Result<PostState, StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        let to = transition_in(&tx, self.owner().as_deref(), id, event, &change)?;
        tx.commit()?;
        Ok(to)
    }

    /// Records the intent to create a session for these posts: the key and the exact body are
    /// committed (and the posts moved to `reserving`) before the call is sent.
    pub fn begin_session(
        &self,
        batch_id: &str,
        post_ids: &[i64],
        request_json: &str,
    ) -> Result<StoredSession, StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        let key = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO sessions (batch_id, idempotency_key, request_json, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![batch_id, key, request_json, now_ms()],
        )?;
        let session_id = tx.last_insert_rowid()?;
        for (i, post) in post_ids.iter().enumerate() {
            transition_in(
                &tx,
                self.owner().as_deref(),
                *post,
                PostEvent::Reserve,
                &Change::default(),
            )?;
            tx.execute(
                "UPDATE posts SET session_id = ?1, session_index = ?2, container_id = NULL,
                        finalize_key = NULL WHERE id = ?3",
                params![session_id, i as i64, post],
            )?;
            tx.execute(
                "UPDATE post_files SET upload_url = NULL, r2_key = NULL, expires_at = NULL,
                        put_headers = NULL, put_confirmed = 0 WHERE post_id = ?1",
                params![post],
            )?;
        }
        let session = read_session(&tx, session_id)?;
        tx.commit()?;
        Ok(session)
    }

    /// A stored session.
    pub fn session(&self, id: i64) -> Result<StoredSession, StoreError> {
        read_session(&self.conn(), id)
    }

    /// Stores a create-session answer: each post gets its container and each file its URL.
    /// `uploads[i]` belongs to the post with `session_index = i`.
    pub fn record_session(
        &self,
        session_id: i64,
        response_json: &str,
        uploads: &[ReservedUpload],
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        let expires = uploads
            .iter()
            .flat_map(|u| u.files.iter().map(|f| f.expires_at))
            .min();
        tx.execute(
            "UPDATE sessions SET response_json = ?1, expires_at = ?2 WHERE id = ?3",
            params![response_json, expires, session_id],
        )?;
        let posts: Vec<(i64, i64)> = {
            let mut stmt = tx.prepare(
                "SELECT id, session_index FROM posts WHERE session_id = ?1 ORDER BY session_index",
            )?;
            let rows = stmt.query_map(params![session_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (post_id, index) in posts {
            let Some(upload) = uploads.get(index as usize) else {
                return Err(StoreError::Corrupt(format!(
                    "session {session_id} answered {} uploads; post {post_id} expected index {index}",
                    uploads.len()
                )));
            };
            tx.execute(
                "UPDATE posts SET container_id = ?1 WHERE id = ?2",
                params![upload.container_id, post_id],
            )?;
            for (pos, f) in upload.files.iter().enumerate() {
                let headers = f
                    .headers
                    .as_ref()
                    .map(|h| serde_json::to_string(h).unwrap_or_default());
                tx.execute(
                    "UPDATE post_files SET upload_url = ?1, r2_key = ?2, expires_at = ?3,
                            put_headers = ?4, put_confirmed = 0
                     WHERE post_id = ?5 AND position = ?6",
                    params![
                        f.upload_url,
                        f.r2_key,
                        f.expires_at,
                        headers,
                        post_id,
                        pos as i64
                    ],
                )?;
            }
            let state = post_state(&tx, post_id)?;
            if state == PostState::Reserving {
                transition_in(
                    &tx,
                    self.owner().as_deref(),
                    post_id,
                    PostEvent::SessionCreated,
                    &Change::default(),
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks a session as given up (its URLs expired or storage refused them).
    pub fn abandon_session(&self, session_id: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET abandoned = 1 WHERE id = ?1",
            params![session_id],
        )?;
        Ok(())
    }

    /// Gives up a post's session (URL expired, reaped, storage refused, file changed) and sends
    /// the post back to `queued` for a new one; returns how many times that has happened.
    pub fn restart_post(&self, post_id: i64, reason: &PostError) -> Result<i64, StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        transition_in(
            &tx,
            self.owner().as_deref(),
            post_id,
            PostEvent::SessionLost,
            &Change {
                error: Some(Some(reason.clone())),
                next_attempt_at: Some(None),
                reset_attempts: true,
                ..Change::default()
            },
        )?;
        tx.execute(
            "UPDATE sessions SET abandoned = 1
             WHERE id = (SELECT session_id FROM posts WHERE id = ?1)",
            params![post_id],
        )?;
        tx.execute(
            "UPDATE posts SET restarts = restarts + 1, session_id = NULL, session_index = NULL,
                    container_id = NULL, finalize_key = NULL WHERE id = ?1",
            params![post_id],
        )?;
        tx.execute(
            "UPDATE post_files SET upload_url = NULL, r2_key = NULL, expires_at = NULL,
                    put_headers = NULL, put_confirmed = 0 WHERE post_id = ?1",
            params![post_id],
        )?;
        let restarts = tx.query_row(
            "SELECT restarts FROM posts WHERE id = ?1",
            params![post_id],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(restarts)
    }

    /// How many times a post has had to start over with a new session.
    pub fn restarts(&self, post_id: i64) -> Result<i64, StoreError> {
        Ok(self.conn().query_row(
            "SELECT restarts FROM posts WHERE id = ?1",
            params![post_id],
            |r| r.get(0),
        )?)
    }

    /// Records a file's new mtime when it was touched but its bytes did not change.
    pub fn set_mtime(&self, post_id: i64, position: i64, mtime_ns: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE post_files SET mtime_ns = ?1 WHERE post_id = ?2 AND position = ?3",
            params![mtime_ns, post_id, position],
        )?;
        Ok(())
    }

    /// An earlier post for the same project with the same bytes that is done or still going
    /// (so this one would be a duplicate): its id and state.
    pub fn earlier_twin(&self, post_id: i64) -> Result<Option<(i64, PostState)>, StoreError> {
        let conn = self.conn();
        let row: Option<(i64, String)> = conn
            .query_row(
                "SELECT o.id, o.state FROM posts p
                   JOIN batches b ON b.id = p.batch_id
                   JOIN posts o ON o.dedupe_key = p.dedupe_key AND o.id < p.id
                   JOIN batches ob ON ob.id = o.batch_id AND ob.project_id = b.project_id
                                   AND ob.backend = b.backend
                 WHERE p.id = ?1 AND p.dedupe_key IS NOT NULL
                   AND o.state NOT IN ('failed', 'cancelled', 'skipped', 'blocked')
                 ORDER BY o.id LIMIT 1",
                params![post_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(id, st)| Ok((id, st.parse()?))).transpose()
    }

    /// Records that one file's PUT landed (storage answered 2xx).
    pub fn confirm_put(&self, post_id: i64, position: i64) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE post_files SET put_confirmed = 1 WHERE post_id = ?1 AND position = ?2",
            params![post_id, position],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchPost(post_id));
        }
        Ok(())
    }

    /// Marks one file unconfirmed again (the server said it is missing).
    pub fn unconfirm_put(&self, post_id: i64, position: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE post_files SET put_confirmed = 0 WHERE post_id = ?1 AND position = ?2",
            params![post_id, position],
        )?;
        Ok(())
    }

    /// Marks every file of a post unconfirmed again (the server said they are not there).
    pub fn unconfirm_puts(&self, post_id: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE post_files SET put_confirmed = 0 WHERE post_id = ?1",
            params![post_id],
        )?;
        Ok(())
    }

    /// Updates a file's identity after it changed on disk and was inspected again.
    pub fn refresh_file(&self, post_id: i64, position: i64, f: &NewFile) -> Result<(), StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        tx.execute(
            "UPDATE post_files SET size_bytes = ?1, mtime_ns = ?2, sha256 = ?3, content_type = ?4,
                    put_confirmed = 0 WHERE post_id = ?5 AND position = ?6",
            params![
                f.size_bytes as i64,
                f.mtime_ns,
                f.sha256,
                f.content_type,
                post_id,
                position
            ],
        )?;
        let hashes: Vec<String> = {
            let mut stmt =
                tx.prepare("SELECT sha256 FROM post_files WHERE post_id = ?1 ORDER BY position")?;
            let rows = stmt.query_map(params![post_id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let destination: String = tx.query_row(
            "SELECT b.destination FROM posts p JOIN batches b ON b.id = p.batch_id WHERE p.id = ?1",
            params![post_id],
            |r| r.get(0),
        )?;
        let key = dedupe_key_for(&destination, hashes.iter().map(String::as_str));
        tx.execute(
            "UPDATE posts SET dedupe_key = ?1 WHERE id = ?2",
            params![key, post_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Stores the finalize Idempotency-Key (once per post and session) and moves the post to
    /// `finalizing`; returns the key to send. A replay after a crash gets the same key.
    pub fn begin_finalize(&self, post_id: i64) -> Result<String, StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        let existing: Option<String> = tx.query_row(
            "SELECT finalize_key FROM posts WHERE id = ?1",
            params![post_id],
            |r| r.get(0),
        )?;
        let key = existing.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        tx.execute(
            "UPDATE posts SET finalize_key = ?1 WHERE id = ?2",
            params![key, post_id],
        )?;
        transition_in(
            &tx,
            self.owner().as_deref(),
            post_id,
            PostEvent::Finalize,
            &Change::default(),
        )?;
        tx.commit()?;
        Ok(key)
    }

    /// Completes a post: stores the item exactly as the server sent it and writes the ledger
    /// row, in one transaction, so a completed post is always in the ledger.
    pub fn complete(
        &self,
        post_id: i64,
        content_id: &str,
        content_json: &str,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        transition_in(
            &tx,
            self.owner().as_deref(),
            post_id,
            PostEvent::Complete,
            &Change {
                error: Some(None),
                next_attempt_at: Some(None),
                ..Change::default()
            },
        )?;
        tx.execute(
            "UPDATE posts SET content_json = ?1, container_id = ?2 WHERE id = ?3",
            params![content_json, content_id, post_id],
        )?;
        // A presigned URL stays valid after finalize and a PUT to it would overwrite the
        // published file: nothing that could send one is kept once the item exists.
        tx.execute(
            "UPDATE post_files SET upload_url = NULL, put_headers = NULL, expires_at = NULL
             WHERE post_id = ?1",
            params![post_id],
        )?;
        tx.execute(
            "UPDATE sessions SET response_json = ?1
             WHERE id = (SELECT session_id FROM posts WHERE id = ?2)
               AND NOT EXISTS (SELECT 1 FROM posts o
                               WHERE o.session_id = sessions.id AND o.state != 'completed')",
            params![SCRUBBED_RESPONSE, post_id],
        )?;
        let (project, dedupe, backend): (String, Option<String>, String) = tx.query_row(
            "SELECT b.project_id, p.dedupe_key, b.backend FROM posts p
               JOIN batches b ON b.id = p.batch_id
             WHERE p.id = ?1",
            params![post_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        if let Some(dedupe) = dedupe {
            tx.execute(
                "INSERT INTO ledger (backend, project_id, dedupe_key, content_id, post_id,
                                     completed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (backend, project_id, dedupe_key) DO UPDATE SET
                   content_id = excluded.content_id, post_id = excluded.post_id,
                   completed_at = excluded.completed_at",
                params![backend, project, dedupe, content_id, post_id, now_ms()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Drops a post's finalize key after the server refused that finalize (it made no item),
    /// so a retry by the user starts over instead of replaying it.
    pub fn forget_finalize_key(&self, post_id: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE posts SET finalize_key = NULL WHERE id = ?1",
            params![post_id],
        )?;
        Ok(())
    }

    /// The content id already uploaded to a project for this dedupe key, if any: on the
    /// bound backend (its Loops one for a Loops key), or on any when the handle is unbound.
    /// Rows from before backends were recorded count for any real service, never the sandbox.
    pub fn ledger_lookup(
        &self,
        project_id: &str,
        dedupe: &str,
    ) -> Result<Option<String>, StoreError> {
        let loops_key = dedupe.starts_with(&format!("{}|", crate::queue::names::LOOPS));
        let backend = self
            .backend()
            .map(|b| if loops_key { b.loops } else { b.layers });
        Ok(self
            .conn()
            .query_row(
                "SELECT content_id FROM ledger WHERE project_id = ?1 AND dedupe_key = ?2
                   AND (CAST(?3 AS TEXT) IS NULL OR backend = ?3 OR (backend = '' AND ?3 != ?4))
                 ORDER BY backend = ?3 DESC LIMIT 1",
                params![project_id, dedupe, backend, SANDBOX_BACKEND],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Posts the runner may work on now: active ones, and waiting ones whose time has come.
    pub fn runnable(&self, now: i64, batch: Option<&str>) -> Result<Vec<i64>, StoreError> {
        let (layers, loops) = self.backend_params();
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT p.id FROM posts p JOIN batches b ON b.id = p.batch_id
             WHERE (p.state IN ('queued','reserving','reserved','uploading','uploaded','finalizing')
                    OR (p.state = 'waiting' AND COALESCE(p.next_attempt_at, 0) <= ?1))
               AND (CAST(?2 AS TEXT) IS NULL OR p.batch_id = ?2) AND {}
             ORDER BY p.id",
            backend::batch_matches("b", 3)
        ))?;
        let rows = stmt.query_map(params![now, batch, layers, loops], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Like [`Store::runnable`], but at most `queued_limit` of the `queued` posts (the oldest),
    /// so one round of a huge queue starts at once instead of reserving everything first.
    pub fn runnable_bounded(
        &self,
        now: i64,
        batch: Option<&str>,
        queued_limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        if let Some(lease) = self.lease() {
            self.void_dead_leases(&lease)?;
            return self.claim(&lease, now, batch, queued_limit);
        }
        let (layers, loops) = self.backend_params();
        let conn = self.conn();
        let mut ids: Vec<i64> = {
            let mut stmt = conn.prepare(&format!(
                "SELECT p.id FROM posts p JOIN batches b ON b.id = p.batch_id
                 WHERE (p.state IN ('reserving','reserved','uploading','uploaded','finalizing')
                        OR (p.state = 'waiting' AND COALESCE(p.next_attempt_at, 0) <= ?1))
                   AND (CAST(?2 AS TEXT) IS NULL OR p.batch_id = ?2) AND {}",
                backend::batch_matches("b", 3)
            ))?;
            let rows = stmt.query_map(params![now, batch, layers, loops], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT p.id FROM posts p JOIN batches b ON b.id = p.batch_id
             WHERE p.state = 'queued' AND (CAST(?1 AS TEXT) IS NULL OR p.batch_id = ?1) AND {}
             ORDER BY p.id LIMIT ?2",
            backend::batch_matches("b", 3)
        ))?;
        let rows = stmt.query_map(params![batch, queued_limit as i64, layers, loops], |r| {
            r.get(0)
        })?;
        for id in rows {
            ids.push(id?);
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The earliest time a waiting post wants to run again, if any; posts with at least
    /// `exhausted_at` attempts are left out (they wait for the user, not the clock).
    pub fn next_wakeup(
        &self,
        batch: Option<&str>,
        exhausted_at: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        let (layers, loops) = self.backend_params();
        let waiting = self.conn().query_row(
            &format!(
                "SELECT MIN(COALESCE(p.next_attempt_at, 0)) FROM posts p
                   JOIN batches b ON b.id = p.batch_id
                 WHERE p.state = 'waiting' AND (CAST(?1 AS TEXT) IS NULL OR p.batch_id = ?1)
                   AND (CAST(?2 AS BIGINT) IS NULL OR p.attempts < ?2) AND {}",
                backend::batch_matches("b", 3)
            ),
            params![batch, exhausted_at, layers, loops],
            |r| r.get::<Option<i64>>(0),
        )?;
        // A post another runner holds may need this one (its holder may die): look again
        // when that claim runs out.
        let leased = self.next_lease_expiry(batch)?;
        Ok(match (waiting, leased) {
            (Some(a), Some(b)) => Some(a.min(b + 1)),
            (a, b) => a.or(b.map(|b| b + 1)),
        })
    }

    /// The posts of a batch, or of every batch, in order, as `queue list` shows them.
    pub fn list(&self, batch: Option<&str>) -> Result<Vec<PostSummary>, StoreError> {
        let clock = self.lease_clock_ms()?;
        let conn = self.conn();
        let mut files: std::collections::HashMap<i64, Vec<String>> = Default::default();
        {
            let mut stmt = conn.prepare(
                "SELECT f.post_id, f.path FROM post_files f JOIN posts p ON p.id = f.post_id
                 WHERE (CAST(?1 AS TEXT) IS NULL OR p.batch_id = ?1) ORDER BY f.post_id, f.position",
            )?;
            // Listed for people: a name that is not UTF-8 shows with U+FFFD in its place.
            let rows = stmt.query_map(params![batch], |r| {
                let path = rows::path_from(r.get::<db::Value>(1)?)?;
                Ok((r.get::<i64>(0)?, path.to_string_lossy().into_owned()))
            })?;
            for row in rows {
                let (id, path) = row?;
                files.entry(id).or_default().push(path);
            }
        }
        let mut stmt = conn.prepare(
            "SELECT p.id, p.batch_id, p.state, b.destination, p.container_id, p.error_code,
                    p.error_message, p.error_details, p.next_attempt_at, p.updated_at,
                    p.source_urls, b.backend, p.machine, p.origin,
                    CASE WHEN p.lease_owner IS NOT NULL AND p.lease_until >= ?2 THEN 1 ELSE 0 END
             FROM posts p JOIN batches b ON b.id = p.batch_id
             WHERE (CAST(?1 AS TEXT) IS NULL OR p.batch_id = ?1) ORDER BY p.id",
        )?;
        let rows = stmt.query_map(params![batch, clock], |r| {
            Ok((
                r.get::<i64>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
                r.get::<String>(3)?,
                r.get::<Option<String>>(4)?,
                error_from(r.get(5)?, r.get(6)?, r.get(7)?),
                r.get::<Option<i64>>(8)?,
                r.get::<i64>(9)?,
                r.get::<Option<String>>(10)?,
                r.get::<String>(11)?,
                (
                    r.get::<Option<String>>(12)?,
                    r.get::<String>(13)?,
                    r.get::<bool>(14)?,
                ),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                id,
                batch_id,
                state,
                destination,
                container_id,
                error,
                next_at,
                updated,
                urls,
                be,
                (machine, origin, held),
            ) = row?;
            // A URL-fetch post has no local files: it lists its URLs instead.
            let urls: Vec<String> = urls
                .and_then(|u| serde_json::from_str(&u).ok())
                .unwrap_or_default();
            out.push(PostSummary {
                id,
                batch_id,
                state: state.parse()?,
                destination,
                files: files.remove(&id).unwrap_or(urls),
                container_id,
                error,
                next_attempt_at: next_at,
                updated_at: updated,
                backend: be,
                machine,
                held,
                origin,
            });
        }
        Ok(out)
    }

    /// The states of a batch's posts (cheap: no files, no other batches).
    pub fn batch_states(&self, batch_id: &str) -> Result<Vec<PostState>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT state FROM posts WHERE batch_id = ?1")?;
        let rows = stmt.query_map(params![batch_id], |r| r.get::<String>(0))?;
        let mut states = Vec::new();
        for row in rows {
            states.push(row?.parse()?);
        }
        Ok(states)
    }

    /// The posts of a batch.
    pub fn batch_posts(&self, batch_id: &str) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id FROM posts WHERE batch_id = ?1 ORDER BY position")?;
        let rows = stmt.query_map(params![batch_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The other posts that share a post's session (they are reserved and PUT together).
    pub fn session_posts(&self, session_id: i64) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id FROM posts WHERE session_id = ?1 ORDER BY session_index")?;
        let rows = stmt.query_map(params![session_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A stored setting (e.g. the measured upload throughput).
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Stores a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

/// Applies the SQLite migrations: `PRAGMA user_version` records how many ran. The write lock
/// comes first (`BEGIN IMMEDIATE`), so two processes cannot run one step twice.
fn migrate_lite(conn: &mut rusqlite::Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    loop {
        let seen: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if seen == known {
            return Ok(());
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > known {
            return Err(StoreError::NewerSchema {
                found: version,
                known,
            });
        }
        let Some(sql) = MIGRATIONS.get(version as usize) else {
            tx.commit()?;
            return Ok(());
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

/// Puts the database in WAL mode. Switching a new file needs an exclusive lock and SQLite
/// answers BUSY at once (without its busy handler) while another process opens it too, so
/// this retries for a while; a file already in WAL mode needs nothing.
fn use_wal(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let started = std::time::Instant::now();
    loop {
        let mode: rusqlite::Result<String> =
            conn.query_row("PRAGMA journal_mode", [], |r| r.get(0));
        if mode.as_deref().is_ok_and(|m| m.eq_ignore_ascii_case("wal")) {
            return Ok(());
        }
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(m) if m.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(_) | Err(_) if started.elapsed() < std::time::Duration::from_secs(10) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Ok(m) => {
                return Err(rusqlite::Error::InvalidParameterName(format!(
                    "journal mode stayed {m}"
                )))
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes a batch and its posts inside a caller's transaction.
fn enqueue_in(
    tx: &Tx<'_>,
    batch: &NewBatch,
    backend: &str,
    origin: &str,
) -> Result<(String, Vec<i64>), StoreError> {
    let batch_id = uuid::Uuid::new_v4().to_string();
    tx.execute(
        "INSERT INTO batches (id, created_at, project_id, destination, grouping, force, backend)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            batch_id,
            now_ms(),
            batch.project_id,
            batch.destination,
            batch.grouping.as_str(),
            batch.force,
            backend
        ],
    )?;
    let ids = insert_posts(tx, &batch_id, &batch.destination, 0, &batch.posts, origin)?;
    Ok((batch_id, ids))
}

/// The ledger key of a post: its files' sha-256 in order (the project is the other half).
pub fn dedupe_key<'a>(hashes: impl Iterator<Item = &'a str>) -> Option<String> {
    let all: Vec<&str> = hashes.collect();
    (!all.is_empty()).then(|| all.join(","))
}

/// The ledger key of a post bound for `destination`: Layers content keeps the plain key (so
/// stores written before other destinations existed stay valid); every other destination
/// prefixes its name, so the same bytes sent to the media library, to Loops and as content
/// are three different uploads.
pub fn dedupe_key_for<'a>(
    destination: &str,
    hashes: impl Iterator<Item = &'a str>,
) -> Option<String> {
    let plain = dedupe_key(hashes)?;
    if destination == crate::queue::names::LAYERS_CONTENT {
        Some(plain)
    } else {
        Some(format!("{destination}|{plain}"))
    }
}

/// Inserts posts (and their files) at positions from `first_position`; returns their ids.
fn insert_posts(
    tx: &Tx<'_>,
    batch_id: &str,
    destination: &str,
    first_position: i64,
    posts: &[NewPost],
    origin: &str,
) -> Result<Vec<i64>, StoreError> {
    let now = now_ms();
    let mut ids = Vec::with_capacity(posts.len());
    {
        let mut post_stmt = tx.prepare(
            "INSERT INTO posts (batch_id, position, state, caption, dedupe_key, error_code,
                                error_message, created_at, updated_at, origin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
        )?;
        let mut file_stmt = tx.prepare(
            "INSERT INTO post_files (post_id, position, path, filename, content_type,
                                     size_bytes, mtime_ns, sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (i, post) in posts.iter().enumerate() {
            let pos = first_position + i as i64;
            let state = if post.rejected.is_some() {
                PostState::Failed
            } else {
                PostState::Queued
            };
            let dedupe = dedupe_key_for(destination, post.files.iter().map(|f| f.sha256.as_str()));
            let (code, message) = post
                .rejected
                .as_ref()
                .map_or((None, None), |(c, m)| (Some(c), Some(m)));
            post_stmt.execute(params![
                batch_id,
                pos,
                state.as_str(),
                post.caption,
                dedupe,
                code,
                message,
                now,
                origin
            ])?;
            let post_id = tx.last_insert_rowid()?;
            for (fpos, f) in post.files.iter().enumerate() {
                file_stmt.execute(params![
                    post_id,
                    fpos as i64,
                    rows::path_value(&f.path),
                    f.filename,
                    f.content_type,
                    f.size_bytes as i64,
                    f.mtime_ns,
                    f.sha256
                ])?;
            }
            ids.push(post_id);
        }
    }
    Ok(ids)
}
