//! Row mapping and the transition write shared by the store's operations.

use std::path::PathBuf;

use super::db::{params, Db, DbError, OptionalExtension, Tx, Value};

use super::super::state::{next, PostEvent, PostState};
use super::types::{Change, PostError, StoredFile, StoredPost, StoredSession};
use super::{now_ms, StoreError};
use crate::api::types::Grouping;

pub(super) fn error_from(
    code: Option<String>,
    message: Option<String>,
    details: Option<String>,
) -> Option<PostError> {
    code.map(|code| PostError {
        code,
        message: message.unwrap_or_default(),
        details: details.and_then(|d| serde_json::from_str(&d).ok()),
    })
}

pub(super) fn post_state(conn: &Db, id: i64) -> Result<PostState, StoreError> {
    let state: String = conn
        .query_row("SELECT state FROM posts WHERE id = ?1", params![id], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or(StoreError::NoSuchPost(id))?;
    Ok(state.parse()?)
}

/// Refuses a runner's write to a post another runner holds. On PostgreSQL the row is locked
/// until the transaction ends, so no claim can slip in between this check and the write.
fn check_lease(tx: &Tx<'_>, owner: &str, id: i64) -> Result<(), StoreError> {
    let sql = if tx.is_shared() {
        "SELECT lease_owner FROM posts WHERE id = ?1 FOR UPDATE"
    } else {
        "SELECT lease_owner FROM posts WHERE id = ?1"
    };
    let holder: Option<String> = tx
        .query_row(sql, params![id], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NoSuchPost(id))?;
    match holder {
        Some(h) if h != owner => Err(StoreError::LeaseLost {
            post: id,
            holder: h.split('#').next().unwrap_or_default().to_string(),
        }),
        _ => Ok(()),
    }
}

/// A retry of a post that holds a finalize key is a [`PostEvent::Refinalize`]: that finalize
/// (or URL fetch) may have run on the server, so it is sent again with the same key before
/// anything else. Only a post without one starts over from `queued`.
fn retry_event(tx: &Tx<'_>, id: i64, event: PostEvent) -> Result<PostEvent, StoreError> {
    if event != PostEvent::Retry {
        return Ok(event);
    }
    let key: Option<String> = tx
        .query_row(
            "SELECT finalize_key FROM posts WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(StoreError::NoSuchPost(id))?;
    Ok(if key.is_some() {
        PostEvent::Refinalize
    } else {
        PostEvent::Retry
    })
}

pub(super) fn transition_in(
    tx: &Tx<'_>,
    owner: Option<&str>,
    id: i64,
    event: PostEvent,
    change: &Change,
) -> Result<PostState, StoreError> {
    if let Some(owner) = owner {
        check_lease(tx, owner, id)?;
    }
    let from = post_state(tx, id)?;
    let event = retry_event(tx, id, event)?;
    let to = next(from, event)?;
    // Waiting and paused posts remember where to resume; others clear it.
    let resume: Option<&str> = match to {
        PostState::Waiting | PostState::Paused if from.is_active() => Some(from.as_str()),
        PostState::Waiting | PostState::Paused => {
            let saved: Option<String> = tx.query_row(
                "SELECT resume_state FROM posts WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            let saved = saved.map(|s| s.parse::<PostState>()).transpose()?;
            saved.map(PostState::as_str)
        }
        _ => None,
    };
    tx.execute(
        "UPDATE posts SET state = ?1, resume_state = ?2, updated_at = ?3 WHERE id = ?4",
        params![to.as_str(), resume, now_ms(), id],
    )?;
    // Every step a post takes, in the log (support bundles, the journal with --verbose).
    tracing::info!(
        post = id,
        from = from.as_str(),
        to = to.as_str(),
        error = change
            .error
            .as_ref()
            .and_then(|e| e.as_ref())
            .map(|e| e.code.as_str()),
        "post state"
    );
    if let Some(error) = &change.error {
        let (code, message, details) = match error {
            Some(e) => (
                Some(e.code.as_str()),
                Some(e.message.as_str()),
                e.details.as_ref().map(|d| d.to_string()),
            ),
            None => (None, None, None),
        };
        tx.execute(
            "UPDATE posts SET error_code = ?1, error_message = ?2, error_details = ?3 WHERE id = ?4",
            params![code, message, details, id],
        )?;
    }
    if let Some(at) = change.next_attempt_at {
        tx.execute(
            "UPDATE posts SET next_attempt_at = ?1 WHERE id = ?2",
            params![at, id],
        )?;
    }
    if change.reset_attempts {
        tx.execute("UPDATE posts SET attempts = 0 WHERE id = ?1", params![id])?;
    }
    if change.count_attempt {
        tx.execute(
            "UPDATE posts SET attempts = attempts + 1 WHERE id = ?1",
            params![id],
        )?;
    }
    Ok(to)
}

pub(super) fn read_session(conn: &Db, id: i64) -> Result<StoredSession, StoreError> {
    conn.query_row(
        "SELECT id, batch_id, idempotency_key, request_json, response_json, expires_at, abandoned,
                sends
         FROM sessions WHERE id = ?1",
        params![id],
        |r| {
            Ok(StoredSession {
                id: r.get(0)?,
                batch_id: r.get(1)?,
                idempotency_key: r.get(2)?,
                request_json: r.get(3)?,
                response_json: r.get(4)?,
                expires_at: r.get(5)?,
                abandoned: r.get(6)?,
                sends: r.get(7)?,
            })
        },
    )
    .optional()?
    .ok_or(StoreError::NoSuchSession(id))
}

pub(super) fn read_post(conn: &Db, id: i64) -> Result<StoredPost, StoreError> {
    let mut post = conn
        .query_row(
            "SELECT p.id, p.batch_id, p.position, p.state, p.resume_state, p.caption, p.session_id,
                    p.session_index, p.container_id, p.finalize_key, p.content_json, p.dedupe_key,
                    p.error_code, p.error_message, p.error_details, p.attempts, p.next_attempt_at,
                    p.updated_at, b.project_id, b.destination, b.grouping, b.force, p.source_urls,
                    CASE WHEN ?2 = 1 THEN p.machine END
             FROM posts p JOIN batches b ON b.id = p.batch_id WHERE p.id = ?1",
            params![id, i64::from(conn.is_shared())],
            post_from_row,
        )
        .optional()?
        .ok_or(StoreError::NoSuchPost(id))??;
    let mut stmt = conn.prepare(
        "SELECT position, path, filename, content_type, size_bytes, mtime_ns, sha256, upload_url,
                r2_key, expires_at, put_confirmed, put_headers
         FROM post_files WHERE post_id = ?1 ORDER BY position",
    )?;
    post.files = stmt
        .query_map(params![id], |r| {
            Ok(StoredFile {
                position: r.get(0)?,
                path: path_from(r.get::<super::db::Value>(1)?)?,
                filename: r.get(2)?,
                content_type: r.get(3)?,
                size_bytes: r.get::<i64>(4)? as u64,
                mtime_ns: r.get(5)?,
                sha256: r.get(6)?,
                upload_url: r.get(7)?,
                r2_key: r.get(8)?,
                expires_at: r.get(9)?,
                put_confirmed: r.get(10)?,
                put_headers: r
                    .get::<Option<String>>(11)?
                    .and_then(|h| serde_json::from_str(&h).ok()),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(post)
}

/// Maps the `read_post` row; the inner `Result` carries values SQLite stored but we reject.
fn post_from_row(r: &super::db::Row<'_>) -> Result<Result<StoredPost, StoreError>, DbError> {
    let state: String = r.get(3)?;
    let resume: Option<String> = r.get(4)?;
    let grouping: String = r.get(20)?;
    let parsed = (|| -> Result<_, StoreError> {
        let grouping = match grouping.as_str() {
            "per-file" => Grouping::PerFile,
            "slideshow" => Grouping::Slideshow,
            other => return Err(StoreError::Corrupt(format!("grouping {other:?}"))),
        };
        Ok((
            state.parse::<PostState>()?,
            resume.map(|s| s.parse::<PostState>()).transpose()?,
            grouping,
        ))
    })();
    let (state, resume_state, grouping) = match parsed {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(StoredPost {
        id: r.get(0)?,
        batch_id: r.get(1)?,
        position: r.get(2)?,
        state,
        resume_state,
        caption: r.get(5)?,
        session_id: r.get(6)?,
        session_index: r.get(7)?,
        container_id: r.get(8)?,
        finalize_key: r.get(9)?,
        content_json: r.get(10)?,
        dedupe_key: r.get(11)?,
        error: error_from(r.get(12)?, r.get(13)?, r.get(14)?),
        attempts: r.get(15)?,
        next_attempt_at: r.get(16)?,
        updated_at: r.get(17)?,
        project_id: r.get(18)?,
        destination: r.get(19)?,
        grouping,
        force: r.get(21)?,
        files: Vec::new(),
        source_urls: r
            .get::<Option<String>>(22)?
            .and_then(|u| serde_json::from_str(&u).ok())
            .unwrap_or_default(),
        machine: r.get(23)?,
    }))
}

/// A path as the store keeps it: text when it is UTF-8, else its raw bytes (a BLOB), so a file
/// whose name is not valid UTF-8 (Linux allows any bytes) is found again on disk.
pub(crate) fn path_value(path: &std::path::Path) -> Value {
    match path.to_str() {
        Some(s) => Value::Text(s.to_owned()),
        None => Value::Blob(path_bytes(path)),
    }
}

/// Reads a path stored by [`path_value`] (text or raw bytes).
pub(crate) fn path_from(value: Value) -> Result<PathBuf, DbError> {
    match value {
        Value::Text(t) => Ok(PathBuf::from(t)),
        Value::Blob(b) => Ok(path_from_bytes(&b)),
        other => Err(DbError::Type {
            index: 0,
            want: "path",
            found: if other == Value::Null {
                "NULL"
            } else {
                "number"
            },
        }),
    }
}

#[cfg(unix)]
fn path_bytes(path: &std::path::Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &std::path::Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

#[cfg(unix)]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}
