//! The PUT body: a stream of `READ_CHUNK` reads that checks the file keeps its size, feeds the
//! bandwidth limiter, and reports throttled progress.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncReadExt;

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
    pub file: tokio::fs::File,
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
        if remaining == 0 {
            // Everything declared is sent: one more byte means the file grew meanwhile.
            let mut probe = [0u8; 1];
            return match self.file.read(&mut probe).await {
                Ok(0) => Ok(None),
                Ok(_) => Err(self.changed(format!("it grew past {} bytes", self.size))),
                Err(source) => Err(self.read_error(source)),
            };
        }
        let want = remaining.min(self.chunk as u64) as usize;
        let mut buf = vec![0u8; want];
        let mut filled = 0;
        while filled < want {
            match self.file.read(&mut buf[filled..]).await {
                Ok(0) => {
                    let now = self.sent + filled as u64;
                    return Err(self.changed(format!(
                        "it shrank to {now} bytes from {} while being read",
                        self.size
                    )));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(self.read_error(source)),
            }
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
