//! The object store on the API's port: presigned `PUT /storage/<key>` and public
//! `GET /media/<key>`. Bodies stream to a temp file (hashing as they go) and are renamed into
//! place only when complete, so a dropped connection never leaves an object behind. The
//! object's file is fsynced and its rename made durable before the `200`.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::app::App;
use crate::error::StorageError;
use crate::server::ConnControl;
use crate::signing::SignatureError;
use crate::state::StoredObject;

/// Prefix of the upload URLs handed to test keys: storage refuses them, harmlessly.
pub const INERT_PREFIX: &str = "inert/";

/// Why streaming a body to disk stopped.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The disk refused.
    #[error("cannot write: {0}")]
    Io(#[from] std::io::Error),
    /// The sender's stream failed (connection dropped, upstream error).
    #[error("the body was cut off: {0}")]
    Body(String),
    /// More bytes arrived than the hard cap allows.
    #[error("the body exceeds {0} bytes")]
    OverLimit(u64),
    /// `stop_after` bytes were read (failure injection).
    #[error("stopped on purpose")]
    Stopped,
}

/// How a body is streamed to disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Read at most this many bytes per second.
    pub throttle_bps: Option<u64>,
    /// Fail with `OverLimit` past this many bytes.
    pub limit: Option<u64>,
    /// Fail with `Stopped` once this many bytes were read.
    pub stop_after: Option<u64>,
}

/// Streams `stream` into `dest`, returning (bytes, hex sha-256); on any error `dest` is removed.
pub async fn write_stream<S, E>(
    stream: S,
    dest: &FsPath,
    opts: WriteOptions,
) -> Result<(u64, String), WriteError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let result = write_inner(stream, dest, opts).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(dest).await;
    }
    result
}

async fn write_inner<S, E>(
    mut stream: S,
    dest: &FsPath,
    opts: WriteOptions,
) -> Result<(u64, String), WriteError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let file = tokio::fs::File::create(dest).await?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let started = Instant::now();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| WriteError::Body(e.to_string()))?;
        total += chunk.len() as u64;
        if let Some(limit) = opts.limit {
            if total > limit {
                return Err(WriteError::OverLimit(limit));
            }
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await?;
        if opts.stop_after.is_some_and(|n| total >= n) {
            return Err(WriteError::Stopped);
        }
        if let Some(bps) = opts.throttle_bps.filter(|b| *b > 0) {
            let due = Duration::from_secs_f64(total as f64 / bps as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    out.flush().await?;
    out.into_inner().sync_all().await?;
    Ok((total, hex::encode(hasher.finalize())))
}

/// Whether a key is one we could have issued: plain segments, no traversal.
fn key_is_safe(key: &str) -> bool {
    !key.is_empty()
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
}

/// `PUT /storage/<key>?X-Amz-…`: S3's checks, then a streamed, atomic write.
pub async fn put_object(
    State(app): State<Arc<App>>,
    Extension(conn): Extension<ConnControl>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match put_checked(&app, &conn, &key, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn put_checked(
    app: &App,
    conn: &ConnControl,
    key: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, StorageError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(StorageError::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        ));
    }
    if key.starts_with(INERT_PREFIX) {
        return Err(StorageError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "This upload URL belongs to a test-key (sandbox) session and is inert: nothing is stored.",
        ));
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            StorageError::new(
                StatusCode::LENGTH_REQUIRED,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
            )
        })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let query = uri.query().unwrap_or("");
    if !key_is_safe(key) {
        return Err(signature_error(SignatureError::Mismatch));
    }
    app.signer
        .verify(key, query, content_type, Some(length), app.now_secs())
        .map_err(signature_error)?;
    let content_type = content_type.unwrap_or_default().to_string();
    let temp = app.temp_path("part");
    let mut opts = WriteOptions {
        throttle_bps: app.config.slow_put_bps,
        limit: None,
        stop_after: None,
    };
    let injected = app.take_put_failure();
    if injected {
        opts.stop_after = Some((length / 2).max(1));
    }
    match write_stream(body.into_data_stream(), &temp, opts).await {
        Ok((size, sha256)) if size == length => {
            let dest = app.object_path(key);
            if let Some(parent) = dest.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(internal)?;
            }
            tokio::fs::rename(&temp, &dest).await.map_err(internal)?;
            if let Some(parent) = dest.parent().map(FsPath::to_path_buf) {
                // The rename must be durable before the 200 (the state file then names it).
                tokio::task::spawn_blocking(move || crate::persist::sync_dir(&parent))
                    .await
                    .map_err(internal)?
                    .map_err(internal)?;
            }
            let etag = format!("\"{}\"", &sha256[..32]);
            app.world().objects.insert(
                key.to_string(),
                StoredObject {
                    size_bytes: size,
                    sha256,
                    content_type,
                    stored_at_ms: app.now_ms(),
                },
            );
            tracing::info!(key, size, "object stored");
            Ok((StatusCode::OK, [(header::ETAG, etag)]).into_response())
        }
        Ok(_) => {
            let _ = tokio::fs::remove_file(&temp).await;
            Err(StorageError::new(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            ))
        }
        Err(WriteError::Stopped) => {
            tracing::warn!(key, "dropping the connection mid-body (--fail-put-first)");
            conn.kill();
            // Never answer: the connection task is torn down instead.
            std::future::pending::<()>().await;
            Err(internal("unreachable"))
        }
        Err(WriteError::Body(e)) => {
            tracing::info!(key, error = %e, "PUT body cut off; nothing stored");
            Err(StorageError::new(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "The request body was cut off; nothing was stored.",
            ))
        }
        Err(e) => Err(internal(e)),
    }
}

fn signature_error(e: SignatureError) -> StorageError {
    match e {
        SignatureError::Expired => {
            StorageError::new(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired")
        }
        SignatureError::Mismatch | SignatureError::Malformed => StorageError::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ),
    }
}

fn internal(e: impl std::fmt::Display) -> StorageError {
    StorageError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        e.to_string(),
    )
}

/// `GET /media/<key>`: the public URL of a stored object.
pub async fn get_object(State(app): State<Arc<App>>, Path(key): Path<String>) -> Response {
    let meta = app.world().objects.get(&key).cloned();
    let (Some(meta), true) = (meta, key_is_safe(&key)) else {
        return StorageError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .into_response();
    };
    match tokio::fs::File::open(app.object_path(&key)).await {
        Ok(file) => (
            [
                (header::CONTENT_TYPE, meta.content_type),
                (header::CONTENT_LENGTH, meta.size_bytes.to_string()),
            ],
            Body::from_stream(tokio_util::io::ReaderStream::new(file)),
        )
            .into_response(),
        Err(_) => StorageError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_keys_are_safe() {
        assert!(key_is_safe(
            "public-media/content-container/a-b/media/upload-1.mp4"
        ));
        assert!(!key_is_safe("../etc/passwd"));
        assert!(!key_is_safe("a//b"));
        assert!(!key_is_safe("a/./b"));
        assert!(!key_is_safe("a/b%2F"));
    }
}
