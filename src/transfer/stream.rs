//! The PUT body: a stream of `READ_CHUNK` reads that checks the file keeps its size, feeds the
//! bandwidth limiter, and reports throttled progress.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use std::io::Read;

use super::{BandwidthLimiter, Progress, ProgressFn, TransferError};
use crate::media::inspect::READ_CHUNK;

/// Least time between two progress reports (≤ 10 per second).
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Smallest chunk under a bandwidth limit (smaller chunks keep a slow limit smooth).
const MIN_LIMITED_CHUNK: usize = 16 * 1024;

/// Chunk size: `READ_CHUNK`, or about a tenth of a second's worth under a tight limit.
pub(super) fn chunk_size(limiter: Option<&BandwidthLimiter>) -> usize {
    match limiter {
        Some(l) => ((l.bytes_per_sec() / 10) as usize).clamp(MIN_LIMITED_CHUNK, READ_CHUNK),
        None => READ_CHUNK,
    }
}

/// State of one file being streamed.
pub(super) struct FileStream {
    /// Read with plain blocking reads (`&File` is `Read`), shared with the blocking pool.
    pub file: Arc<std::fs::File>,
    pub path: PathBuf,
    /// Size at open time: exactly this many bytes are sent (it is the Content-Length).
    pub size: u64,
    pub sent: u64,
    pub chunk: usize,
    pub limiter: Option<BandwidthLimiter>,
    /// Bytes sent, shared with the stall watchdog.
    pub counter: Arc<AtomicU64>,
    /// Why the stream failed, for a clear error instead of reqwest's generic one.
    pub failure: Arc<Mutex<Option<TransferError>>>,
    pub progress: Option<ProgressFn>,
    pub started: Instant,
    pub last_report: Option<Instant>,
}

impl FileStream {
    /// Wraps the state as a reqwest body.
    pub fn into_body(self) -> reqwest::Body {
        let stream = futures_util::stream::unfold(Some(self), |state| async move {
            let mut s = state?;
            match s.next_chunk().await {
                Ok(Some(bytes)) => Some((Ok(bytes), Some(s))),
                Ok(None) => None,
                Err(e) => {
                    let msg = e.to_string();
                    if let Ok(mut slot) = s.failure.lock() {
                        *slot = Some(e);
                    }
                    Some((Err(io::Error::other(msg)), None))
                }
            }
        });
        reqwest::Body::wrap_stream(stream)
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>, TransferError> {
        let remaining = self.size - self.sent;
        // Everything declared is sent: one more byte read means the file grew meanwhile.
        let want = if remaining == 0 {
            1
        } else {
            remaining.min(self.chunk as u64) as usize
        };
        let file = self.file.clone();
        // A plain read on the blocking pool, straight into fresh capacity: no zero-fill and
        // no second copy through an async file's own buffer.
        // `read_to_end` on a `Take` reads until `want` bytes or the end of the file, retrying
        // interrupted reads itself.
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = Vec::with_capacity(want);
            (&*file)
                .take(want as u64)
                .read_to_end(&mut buf)
                .map(|_| buf)
        })
        .await
        .map_err(|e| self.read_error(io::Error::other(e)))?;
        let buf = read.map_err(|source| self.read_error(source))?;
        if remaining == 0 {
            return match buf.len() {
                0 => Ok(None),
                _ => Err(self.changed(format!("it grew past {} bytes", self.size))),
            };
        }
        if buf.len() < want {
            let now = self.sent + buf.len() as u64;
            return Err(self.changed(format!(
                "it shrank to {now} bytes from {} while being read",
                self.size
            )));
        }
        if let Some(limiter) = &self.limiter {
            limiter.acquire(want).await;
        }
        self.sent += want as u64;
        self.counter.store(self.sent, Ordering::Relaxed);
        self.report();
        Ok(Some(Bytes::from(buf)))
    }

    fn report(&mut self) {
        let Some(report) = &self.progress else { return };
        let now = Instant::now();
        if self.last_report.is_some_and(|t| now - t < REPORT_EVERY) {
            return;
        }
        // The final figure comes from put_file once storage has answered.
        if self.sent == self.size {
            return;
        }
        self.last_report = Some(now);
        report(Progress {
            bytes_sent: self.sent,
            total_bytes: self.size,
            elapsed: now - self.started,
        });
    }

    fn changed(&self, detail: String) -> TransferError {
        TransferError::FileChanged {
            path: self.path.clone(),
            detail,
        }
    }

    fn read_error(&self, source: io::Error) -> TransferError {
        TransferError::Read {
            path: self.path.clone(),
            source,
        }
    }
}
