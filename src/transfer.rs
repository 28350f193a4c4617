//! Streaming PUT of a local file to a presigned storage URL: exact `Content-Type` and
//! `Content-Length`, memory bounded by the read chunk (never by file size), throttled progress,
//! an optional shared bandwidth limit, and no API credentials — the URL is the only credential.

mod limiter;
mod stream;
pub mod target;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use thiserror::Error;

pub use limiter::BandwidthLimiter;
pub use target::Reach;

use crate::api::envelope::storage_error;
use crate::api::error::{ApiError, NetworkKind};
use crate::api::http::{network_error, CONNECT_TIMEOUT, USER_AGENT};
use crate::api::retry::Retryable;

/// Longest storage error body we read for the message.
const ERROR_BODY_LIMIT: usize = 8 * 1024;

/// Where and how to PUT one file.
#[derive(Debug, Clone, Copy)]
pub struct PutTarget<'a> {
    /// The presigned URL (the signature is in its query: never log it whole).
    pub url: &'a str,
    /// Exactly the declared content type (it is signed into the URL).
    pub content_type: &'a str,
    /// Size declared when the URL was issued; a file of another size is refused before sending.
    pub declared_size: Option<u64>,
    /// Headers the presign response said to send, verbatim (media library), if allowed.
    pub headers: Option<&'a BTreeMap<String, String>>,
    /// Which hosts the link may name (decided by the API base that handed it out).
    pub reach: Reach,
}

/// A progress report: at most ~10 per second per file, plus one at the end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Bytes handed to the connection so far.
    pub bytes_sent: u64,
    /// The file's size.
    pub total_bytes: u64,
    /// Time since the PUT started.
    pub elapsed: Duration,
}

impl Progress {
    /// Average rate so far, bytes per second.
    pub fn rate_bps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes_sent as f64 / secs
        } else {
            0.0
        }
    }

    /// Time left at the average rate, when there is one.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate_bps();
        (rate > 0.0).then(|| {
            Duration::from_secs_f64(self.total_bytes.saturating_sub(self.bytes_sent) as f64 / rate)
        })
    }
}

/// Receives progress reports; called from the upload task, so keep it cheap.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// What storage confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReceipt {
    /// Bytes sent (the file's size).
    pub bytes: u64,
    /// Storage's HTTP status.
    pub status: u16,
    /// Storage's ETag, when it sent one.
    pub etag: Option<String>,
}

/// Why a PUT failed.
#[derive(Debug, Error)]
pub enum TransferError {
    /// The file could not be opened or read.
    #[error("Cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not the size that was declared, or changed during the upload.
    #[error("{} changed ({detail}). Wait until it is fully written, then upload it again as a new upload.", .path.display())]
    FileChanged { path: PathBuf, detail: String },
    /// A presign header could not be sent as given.
    #[error("The upload instructions carry an unusable header {name:?}: {reason}")]
    BadHeader { name: String, reason: String },
    /// The upload link names a place file bytes must never go; nothing was sent.
    #[error("Refused to upload to {host}: {reason}. Nothing was sent. Upload links from a real Layers or Loops API always point at public storage over https; check --api-base (or LAYERS_API_BASE / LOOPS_API_BASE) and any proxy in between.")]
    UnsafeTarget { host: String, reason: String },
    /// Storage refused (`Storage`) or the network failed (`Network`).
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl TransferError {
    /// Stable snake_case code for UIs and the queue.
    pub fn code(&self) -> &'static str {
        match self {
            TransferError::Read { .. } => "read_failed",
            TransferError::FileChanged { .. } => "file_changed",
            TransferError::BadHeader { .. } => "bad_upload_header",
            TransferError::UnsafeTarget { .. } => "unsafe_upload_target",
            TransferError::Api(e) => e.code(),
        }
    }

    /// Network failures and storage 5xx may be retried on the same URL; a storage 4xx means
    /// the URL is unusable (new session); a changed file needs re-inspection first.
    pub fn is_retryable(&self) -> bool {
        match self {
            TransferError::Api(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl Retryable for TransferError {
    fn is_retryable(&self) -> bool {
        TransferError::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// Uploads files to presigned URLs over a client that has no default headers at all, so no
/// API key can leak to the storage host.
#[derive(Debug, Clone)]
pub struct Transfer {
    http: reqwest::Client,
    /// The same, resolving names to public addresses only (for [`Reach::Public`] links).
    public_http: reqwest::Client,
    limiter: Option<BandwidthLimiter>,
    stall_timeout: Duration,
}

impl Transfer {
    /// A transfer client: no default headers, no redirects (a redirected PUT would lose its body).
    pub fn new() -> Result<Transfer, ApiError> {
        let builder = || {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(CONNECT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
        };
        let http = builder().build().map_err(|e| network_error(&e, ""))?;
        let public_http = builder()
            .dns_resolver(Arc::new(target::PublicResolver))
            .build()
            .map_err(|e| network_error(&e, ""))?;
        Ok(Transfer {
            http,
            public_http,
            limiter: None,
            stall_timeout: Duration::from_secs(60),
        })
    }

    /// Shares a bandwidth limit with every other transfer holding the same limiter.
    pub fn with_limiter(mut self, limiter: BandwidthLimiter) -> Transfer {
        self.limiter = Some(limiter);
        self
    }

    /// Gives up when no byte moved (and no answer came) for this long.
    pub fn with_stall_timeout(mut self, timeout: Duration) -> Transfer {
        self.stall_timeout = timeout;
        self
    }

    /// PUTs the file at `path` to `target`, streaming it in `READ_CHUNK` pieces.
    pub async fn put_file(
        &self,
        path: &Path,
        target: &PutTarget<'_>,
        progress: Option<ProgressFn>,
    ) -> Result<PutReceipt, TransferError> {
        let read_err = |source| TransferError::Read {
            path: path.to_owned(),
            source,
        };
        let file = crate::media::inspect::open_regular(path).map_err(read_err)?;
        let meta = file.metadata().map_err(read_err)?;
        let size = meta.len();
        let mtime = meta.modified().ok();
        if let Some(declared) = target.declared_size.filter(|d| *d != size) {
            return Err(TransferError::FileChanged {
                path: path.to_owned(),
                detail: format!("it is {size} bytes now, {declared} bytes were declared"),
            });
        }
        let url = reqwest::Url::parse(target.url).map_err(|e| TransferError::BadHeader {
            name: "url".into(),
            reason: e.to_string(),
        })?;
        let host = crate::api::http::host_port(&url);
        self.check_target(target.reach, &url, &host).await?;
        let headers = put_headers(target, size)?;
        let client = match target.reach {
            Reach::Local => &self.http,
            Reach::Public => &self.public_http,
        };

        let started = Instant::now();
        let sent = Arc::new(AtomicU64::new(0));
        let failure = Arc::new(Mutex::new(None));
        let body = stream::FileStream {
            file: Arc::new(file),
            path: path.to_owned(),
            size,
            sent: 0,
            chunk: stream::chunk_size(self.limiter.as_ref()),
            limiter: self.limiter.clone(),
            counter: sent.clone(),
            failure: failure.clone(),
            progress: progress.clone(),
            started,
            last_report: None,
        }
        .into_body();

        tracing::debug!(%host, path = %url.path(), size, "storage PUT");
        let request = client.put(url).headers(headers).body(body).send();
        let response = tokio::select! {
            r = request => r,
            () = stall_watch(&sent, self.stall_timeout) => {
                return Err(ApiError::Network {
                    kind: NetworkKind::Timeout,
                    host,
                    detail: format!("the upload stalled for {} s", self.stall_timeout.as_secs()),
                }.into());
            }
        };
        let take_failure = || failure.lock().ok().and_then(|mut f| f.take());
        let response = match response {
            Ok(r) => r,
            Err(e) => return Err(take_failure().unwrap_or_else(|| network_error(&e, &host).into())),
        };
        if let Some(f) = take_failure() {
            return Err(f);
        }
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = read_limited(response).await;
            return Err(storage_error(status, &body).into());
        }
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        check_unchanged(path, size, mtime)?;
        if let Some(report) = progress {
            report(Progress {
                bytes_sent: size,
                total_bytes: size,
                elapsed: started.elapsed(),
            });
        }
        Ok(PutReceipt {
            bytes: size,
            status,
            etag,
        })
    }
}

impl Transfer {
    /// Refuses a link that names a place bytes must never go (see [`target`]); a name that
    /// cannot be resolved now is a network failure (retried), one that resolves only to
    /// private addresses is refused for good.
    async fn check_target(
        &self,
        reach: Reach,
        url: &reqwest::Url,
        host: &str,
    ) -> Result<(), TransferError> {
        let unsafe_target = |reason: String| TransferError::UnsafeTarget {
            host: host.to_owned(),
            reason,
        };
        if let Some(reason) = target::refusal(reach, url) {
            return Err(unsafe_target(reason));
        }
        if reach == Reach::Public && crate::api::http::host_ip(url).is_none() {
            let name = url.host_str().unwrap_or_default();
            let port = url.port_or_known_default().unwrap_or(443);
            match target::resolves_publicly(name, port).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(unsafe_target(format!(
                        "{name} resolves only to private, loopback or link-local addresses"
                    )))
                }
                Err(e) => {
                    return Err(ApiError::Network {
                        kind: NetworkKind::Connect,
                        host: host.to_owned(),
                        detail: format!("cannot resolve {name}: {e}"),
                    }
                    .into())
                }
            }
        }
        Ok(())
    }
}

/// Content-Type and Content-Length, then the presign headers verbatim: only the allowed ones
/// ([`target::header_allowed`]); instructions asking for any other header are refused.
fn put_headers(target: &PutTarget<'_>, size: u64) -> Result<HeaderMap, TransferError> {
    let bad = |name: &str, reason: String| TransferError::BadHeader {
        name: name.to_owned(),
        reason,
    };
    let mut headers = HeaderMap::new();
    let ct = HeaderValue::from_str(target.content_type)
        .map_err(|e| bad("Content-Type", e.to_string()))?;
    headers.insert(CONTENT_TYPE, ct);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
    for (name, value) in target.headers.into_iter().flatten() {
        let lower = name.to_ascii_lowercase();
        if !target::header_allowed(&lower) {
            return Err(bad(
                name,
                "only Content-Type, Content-Length, Content-MD5, Cache-Control, the other \
                 Content-* headers and x-amz-* are ever sent to storage"
                    .into(),
            ));
        }
        if lower == "content-length" && value.trim() != size.to_string() {
            return Err(bad(
                name,
                format!("it says {value} bytes but the file has {size}"),
            ));
        }
        let header_name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(name, e.to_string()))?;
        let header_value = HeaderValue::from_str(value).map_err(|e| bad(name, e.to_string()))?;
        headers.insert(header_name, header_value);
    }
    Ok(headers)
}

/// Resolves when `sent` has not moved for `timeout`.
async fn stall_watch(sent: &AtomicU64, timeout: Duration) {
    let tick = (timeout / 4).max(Duration::from_millis(50));
    let mut last = sent.load(Ordering::Relaxed);
    let mut still_since = Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let now = sent.load(Ordering::Relaxed);
        if now != last {
            last = now;
            still_since = Instant::now();
        } else if still_since.elapsed() >= timeout {
            return;
        }
    }
}

/// Fails if the file's size or modification time moved while we sent it.
fn check_unchanged(path: &Path, size: u64, mtime: Option<SystemTime>) -> Result<(), TransferError> {
    let meta = std::fs::metadata(path).map_err(|source| TransferError::Read {
        path: path.to_owned(),
        source,
    })?;
    if meta.len() != size {
        return Err(TransferError::FileChanged {
            path: path.to_owned(),
            detail: format!(
                "it was {size} bytes when the upload started and is {} now",
                meta.len()
            ),
        });
    }
    if mtime.is_some() && meta.modified().ok() != mtime {
        return Err(TransferError::FileChanged {
            path: path.to_owned(),
            detail: "it was modified during the upload".into(),
        });
    }
    Ok(())
}

/// The first few KiB of an error body (enough for an S3-style XML error).
async fn read_limited(mut response: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(c)) => out.extend_from_slice(&c[..c.len().min(ERROR_BODY_LIMIT - out.len())]),
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_exact_and_only_the_allowed_ones() {
        let mut extra = BTreeMap::new();
        extra.insert("Content-Type".to_owned(), "image/jpeg".to_owned());
        extra.insert("Content-Length".to_owned(), "10".to_owned());
        extra.insert("x-amz-meta-a".to_owned(), "b".to_owned());
        let t = PutTarget {
            url: "http://s/x",
            content_type: "image/jpeg",
            declared_size: None,
            headers: Some(&extra),
            reach: Reach::Public,
        };
        let h = put_headers(&t, 10).unwrap();
        assert_eq!(h[CONTENT_TYPE], "image/jpeg");
        assert_eq!(h[CONTENT_LENGTH], "10");
        assert_eq!(h["x-amz-meta-a"], "b");
        assert_eq!(put_headers(&t, 11).unwrap_err().code(), "bad_upload_header");
        for name in ["Authorization", "Host", "Cookie", "X-Api-Key"] {
            let mut more = extra.clone();
            more.insert(name.to_owned(), "v".to_owned());
            let with_more = PutTarget {
                headers: Some(&more),
                ..t
            };
            let e = put_headers(&with_more, 10).unwrap_err();
            assert_eq!(e.code(), "bad_upload_header", "{name}");
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn progress_figures() {
        let p = Progress {
            bytes_sent: 50,
            total_bytes: 100,
            elapsed: Duration::from_secs(5),
        };
        assert_eq!(p.rate_bps(), 10.0);
        assert_eq!(p.eta(), Some(Duration::from_secs(5)));
    }
}
