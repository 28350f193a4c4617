//! Why a store operation failed, with the two cases a person can act on told apart: the disk
//! holding the data dir is full, or the data dir cannot be written at all.

use std::path::{Path, PathBuf};

use super::super::state::{InvalidTransition, UnknownState};
use super::db::DbError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the queue database at {path} cannot be opened: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The data dir (or a file in it) cannot be created or written: read-only file system,
    /// permissions, a path whose parent is a file.
    #[error("cannot write to {}: {source}", .dir.display())]
    CannotWrite {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// SQLite answered `SQLITE_FULL` (ENOSPC): the last transaction was rolled back, so every
    /// post is still in the state it had before. `dir` is `None` until the store names it.
    #[error("the disk holding {} is full: free some space, then run `layers-upload resume` (nothing recorded so far was lost)", .dir.as_deref().map_or_else(|| "the data dir".to_string(), |d| d.display().to_string()))]
    DiskFull { dir: Option<PathBuf> },
    #[error("the queue database was written by a newer version (schema {found}, this build knows {known}): update the uploader")]
    NewerSchema { found: i64, known: i64 },
    #[error("queue database error: {0}")]
    Sql(DbError),
    /// The shared (PostgreSQL) queue could not be reached or refused this machine.
    #[error("the shared queue: {0}")]
    Shared(DbError),
    /// Another runner holds this post's lease: this one must leave the post alone.
    #[error("post {post} is held by {holder}")]
    LeaseLost { post: i64, holder: String },
    #[error("no post with id {0}")]
    NoSuchPost(i64),
    #[error("no session with id {0}")]
    NoSuchSession(i64),
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    #[error("the queue database holds a bad value: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Stable snake_case code for front ends (the app branches on it, never on the message).
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Open { .. } => "store_unavailable",
            StoreError::CannotWrite { .. } => "data_dir_not_writable",
            StoreError::DiskFull { .. } => "disk_full",
            StoreError::NewerSchema { .. } => "store_newer_schema",
            StoreError::Sql(_) => "store_error",
            StoreError::Shared(_) => "store_unavailable",
            StoreError::LeaseLost { .. } => "lease_lost",
            StoreError::NoSuchPost(_) | StoreError::NoSuchSession(_) => "not_found",
            StoreError::Transition(_) => "invalid_transition",
            StoreError::Corrupt(_) => "store_corrupt",
        }
    }

    /// Names the data dir in a [`StoreError::DiskFull`] that does not name it yet.
    pub fn in_dir(self, data_dir: &Path) -> StoreError {
        match self {
            StoreError::DiskFull { dir: None } => StoreError::DiskFull {
                dir: Some(data_dir.to_path_buf()),
            },
            other => other,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::from(DbError::Sqlite(e))
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Sqlite(e) if is_disk_full(&e) => StoreError::DiskFull { dir: None },
            DbError::Unreachable { .. } | DbError::Interrupted { .. } => StoreError::Shared(e),
            DbError::Pg(ref p) if super::pg::is_connection_lost(p) => StoreError::Shared(e),
            e => StoreError::Sql(e),
        }
    }
}

impl From<UnknownState> for StoreError {
    fn from(e: UnknownState) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Whether SQLite failed for want of space: `SQLITE_FULL` (SQLite's answer to ENOSPC on a
/// write, and to `max_page_count`), or the shared-memory file that could not grow.
pub fn is_disk_full(e: &rusqlite::Error) -> bool {
    const SQLITE_IOERR_SHMSIZE: std::ffi::c_int = 10 | (19 << 8);
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            f.code == rusqlite::ErrorCode::DiskFull || f.extended_code == SQLITE_IOERR_SHMSIZE
        }
        _ => false,
    }
}

/// Whether an I/O error means the file system has no space left (ENOSPC, or a quota).
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Why `dir` cannot be written, found by writing a small file in it; `None` when it can.
pub fn write_probe(dir: &Path) -> Option<std::io::Error> {
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"ok"));
    let _ = std::fs::remove_file(&probe);
    result.err()
}
