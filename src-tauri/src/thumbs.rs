//! Thumbnails: a small JPEG per file, made by ffmpeg (the image scaled; a poster frame for a
//! video) into `<data>/thumbs`, the one directory the webview may read. Cached by the file's
//! canonical path, size and modification time, so an edited export gets a new thumbnail.
//!
//! ffmpeg only ever sees files inspection accepted, read with the demuxer of the type the
//! bytes were sniffed as and with the `file` protocol alone (a crafted file cannot make it
//! open a playlist, a URL or another file). The cache is bounded: the least recently used
//! thumbnails go first.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use layers_uploader::media::{Inspection, MediaKind};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::{AppError, CmdResult};

/// Longest edge of a thumbnail, in pixels (cards show them at ~80 px; 2× for HiDPI, room to spare).
const EDGE: u32 = 240;

/// How much the cache may hold before the least recently used thumbnails are removed.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// A temp file older than this at start-up was left by a crash, not by a running ffmpeg.
const LEFTOVER_AGE: Duration = Duration::from_secs(60);

/// The ending of a thumbnail being written.
const PART: &str = ".part.jpg";

/// Tells one request's temp file from another's.
static REQUEST: AtomicU64 = AtomicU64::new(0);

/// The thumbnail cache.
pub struct Thumbnails {
    dir: PathBuf,
    /// ffmpeg runs at once: a 1,000-file drop must not start 1,000 processes.
    slots: Semaphore,
    max_bytes: u64,
    /// Bytes of finished thumbnails in `dir` (as counted at start and added since).
    used: Mutex<u64>,
}

/// The ffmpeg demuxer for a sniffed, accepted content type; `None` for anything else.
pub fn input_format(content_type: &str) -> Option<&'static str> {
    match content_type {
        "video/mp4" | "video/quicktime" => Some("mov"),
        "image/jpeg" => Some("jpeg_pipe"),
        "image/png" => Some("png_pipe"),
        "image/webp" => Some("webp_pipe"),
        _ => None,
    }
}

/// ffmpeg's arguments for one thumbnail: the input format fixed, the `file` protocol alone.
pub fn ffmpeg_args(file: &Path, out: &Path, format: &str, video: bool) -> Vec<OsString> {
    let scale = format!("scale={EDGE}:{EDGE}:force_original_aspect_ratio=decrease");
    // A video's first frame is often black: `thumbnail` picks a representative one.
    let filter = if video {
        format!("thumbnail=30,{scale}")
    } else {
        scale
    };
    let mut args: Vec<OsString> = [
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-protocol_whitelist",
        "file",
        "-f",
        format,
        "-i",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    // `file:` keeps a name like `a:b.jpg` or `-x.jpg` from reading as a protocol or option.
    let mut input = OsString::from("file:");
    input.push(file.as_os_str());
    args.push(input);
    args.extend(
        ["-vf", &filter, "-frames:v", "1", "-q:v", "5", "-f", "mjpeg"]
            .iter()
            .map(OsString::from),
    );
    let mut output = OsString::from("file:");
    output.push(out.as_os_str());
    args.push(output);
    args
}

impl Thumbnails {
    /// A cache in `dir` (created if missing) of at most [`DEFAULT_MAX_BYTES`].
    pub fn new(dir: PathBuf) -> std::io::Result<Thumbnails> {
        Thumbnails::with_limit(dir, DEFAULT_MAX_BYTES)
    }

    /// A cache in `dir` of at most `max_bytes`; removes the temp files a crash left behind.
    pub fn with_limit(dir: PathBuf, max_bytes: u64) -> std::io::Result<Thumbnails> {
        std::fs::create_dir_all(&dir)?;
        let mut used = 0;
        for entry in std::fs::read_dir(&dir)?.filter_map(Result::ok) {
            let Ok(meta) = entry.metadata() else { continue };
            let name = entry.file_name();
            if name.to_string_lossy().ends_with(PART) {
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age > LEFTOVER_AGE);
                if old {
                    let _ = std::fs::remove_file(entry.path());
                }
            } else if meta.is_file() {
                used += meta.len();
            }
        }
        let thumbs = Thumbnails {
            dir,
            slots: Semaphore::new(2),
            max_bytes,
            used: Mutex::new(used),
        };
        thumbs.prune();
        Ok(thumbs)
    }

    /// The cache directory (the asset-protocol scope).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the thumbnail of this file version lives.
    pub fn cache_path(&self, file: &Path) -> CmdResult<PathBuf> {
        let meta = std::fs::metadata(file)
            .map_err(|e| AppError::invalid(format!("cannot read {}: {e}", file.display())))?;
        let mtime = layers_uploader::queue::plan::mtime_ns(&meta).unwrap_or(0);
        let mut h = Sha256::new();
        h.update(file.as_os_str().as_encoded_bytes());
        h.update(meta.len().to_le_bytes());
        h.update(mtime.to_le_bytes());
        let name = hex::encode(&h.finalize()[..16]);
        Ok(self.dir.join(format!("{name}.jpg")))
    }

    /// A temp name no other request uses, beside `out`.
    fn temp_path(&self, out: &Path) -> PathBuf {
        let n = REQUEST.fetch_add(1, Ordering::Relaxed);
        let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned());
        let stem = stem.unwrap_or_default();
        self.dir
            .join(format!("{stem}.{}-{n}{PART}", std::process::id()))
    }

    /// The thumbnail of a (granted, canonical) file that inspection accepted, making it if
    /// needed.
    pub async fn get(&self, file: &Path, inspection: &Inspection) -> CmdResult<PathBuf> {
        let no_thumb = || {
            AppError::invalid(format!(
                "no thumbnail for {}: it is not a video or image the upload accepts",
                file.display()
            ))
        };
        if !inspection.is_accepted() {
            return Err(no_thumb());
        }
        let video = match inspection.kind {
            Some(MediaKind::Video) => true,
            Some(MediaKind::Image) => false,
            _ => return Err(no_thumb()),
        };
        let format = inspection
            .content_type
            .as_deref()
            .and_then(input_format)
            .ok_or_else(no_thumb)?;
        let out = self.cache_path(file)?;
        if out.is_file() {
            touch(&out);
            return Ok(out);
        }
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| AppError::internal("the thumbnail maker stopped"))?;
        if out.is_file() {
            return Ok(out);
        }
        let tmp = self.temp_path(&out);
        let status = tokio::process::Command::new("ffmpeg")
            .args(ffmpeg_args(file, &tmp, format, video))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status()
            .await;
        let made = match status {
            Ok(s) if s.success() => std::fs::rename(&tmp, &out)
                .map_err(|e| AppError::internal(format!("cannot save a thumbnail: {e}"))),
            Ok(_) => Err(AppError::invalid(format!(
                "no thumbnail for {}: ffmpeg could not decode it",
                file.display()
            ))),
            Err(e) => Err(AppError::internal(format!(
                "cannot run ffmpeg for a thumbnail: {e}"
            ))),
        };
        if made.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        made?;
        let size = std::fs::metadata(&out).map_or(0, |m| m.len());
        let over = {
            let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            *used += size;
            *used > self.max_bytes
        };
        if over {
            self.prune();
        }
        Ok(out)
    }

    /// Removes the least recently used thumbnails until the cache holds at most three
    /// quarters of its limit (so a full cache is not pruned on every new thumbnail).
    fn prune(&self) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if *used <= self.max_bytes {
            return;
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut done: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().ends_with(PART))
            .filter_map(|e| {
                let meta = e.metadata().ok().filter(|m| m.is_file())?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        done.sort();
        let mut total: u64 = done.iter().map(|(_, len, _)| len).sum();
        let target = self.max_bytes / 4 * 3;
        for (_, len, path) in done {
            if total <= target {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
        *used = total;
    }
}

/// Marks a thumbnail as just used (its mtime is the cache's recency).
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests;
