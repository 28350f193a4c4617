//! One file → one [`Inspection`]: stat, name checks, sniff, measure, hash, fit. The hash runs
//! while ffprobe does, so a video costs max(probe, hash), not their sum. [`Inspector`] adds
//! the in-process (path, size, mtime, ctime) cache of whole inspections and bounded parallelism over many paths.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use super::fit::{self, MediaFacts};
use super::hash_cache::FileStamp;
use super::sniff::{self, Sniffed};
use super::{human_bytes, image, probe, ErrorCode, Inspection, Limits, LocalError, MediaKind};
use crate::api::types::MAX_FILENAME_CHARS;

pub use super::bytes::{open_regular, sha256_file, sha256_path, READ_CHUNK};

/// Inspects one file with no cache.
pub fn inspect(path: &Path, limits: &Limits) -> Inspection {
    let mut out = blank(path);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            out.errors.push(io_error(path, &e));
            return out;
        }
    };
    if !meta.is_file() {
        out.errors.push(LocalError::new(
            ErrorCode::NotAFile,
            format!("{} is not a regular file", display(path)),
        ));
        return out;
    }
    out.size_bytes = meta.len();
    if let Some(e) = filename_error(path) {
        out.errors.push(e);
    }
    if meta.len() == 0 {
        out.errors.push(LocalError::new(
            ErrorCode::Empty,
            format!("{} is empty (0 bytes): export it again", display(path)),
        ));
        return out;
    }
    let mut file = match open_regular(path) {
        Ok(f) => f,
        Err(e) => {
            out.errors.push(io_error(path, &e));
            return out;
        }
    };
    let mut head = [0u8; 512];
    let n = match read_up_to(&mut file, &mut head) {
        Ok(n) => n,
        Err(e) => {
            out.errors.push(io_error(path, &e));
            return out;
        }
    };
    let Some(sniffed) = sniff::sniff(&head[..n]) else {
        out.errors.push(unknown_bytes(path));
        return out;
    };
    let Some(kind) = sniffed.accepted_kind() else {
        out.errors.push(LocalError::new(
            ErrorCode::UnsupportedType,
            format!(
                "{} is {} ({}); Layers accepts MP4 or MOV video and JPEG, PNG or WebP images",
                display(path),
                article(sniffed.name),
                sniffed.mime
            ),
        ));
        return out;
    };
    out.content_type = Some(sniffed.mime.to_string());
    out.kind = Some(kind);
    if !sniff::extension_agrees(path, &sniffed) {
        out.errors.push(extension_mismatch(path, &sniffed));
    }
    let cap = limits.cap_for(kind);
    if meta.len() > cap {
        out.errors.push(LocalError::new(
            ErrorCode::TooLarge,
            format!(
                "{} is {}; Layers takes {} up to {} (export a smaller, platform-ready file)",
                display(path),
                human_bytes(meta.len()),
                match kind {
                    MediaKind::Video => "videos",
                    MediaKind::Image => "images",
                },
                human_bytes(cap)
            ),
        ));
    }
    measure(path, &mut file, &sniffed, kind, limits, &mut out);
    out
}

/// Measures, hashes and fits an accepted file, recording any failure as `unreadable`.
fn measure(
    path: &Path,
    file: &mut File,
    sniffed: &Sniffed,
    kind: MediaKind,
    limits: &Limits,
    out: &mut Inspection,
) {
    let facts = match kind {
        MediaKind::Video => {
            let probed = match probe::probe_native(file, out.size_bytes) {
                Ok(v) => {
                    out.sha256 = sha256_file(file).ok();
                    Ok(v)
                }
                Err(why) => {
                    let name = display(path);
                    tracing::debug!(file = %name, %why, "ffprobe measures this file");
                    let pending = probe::start(path);
                    out.sha256 = sha256_file(file).ok();
                    pending.and_then(probe::PendingProbe::wait)
                }
            };
            match probed {
                Ok(v) => {
                    out.width = Some(v.width);
                    out.height = Some(v.height);
                    out.rotation = Some(v.rotation);
                    out.duration_ms = v.duration_ms;
                    out.fps = v.fps.map(|f| (f * 1000.0).round() / 1000.0);
                    out.video_codec = Some(v.video_codec.clone());
                    out.audio_codec = v.audio_codec.clone();
                    out.bitrate_bps = v.bitrate_bps;
                    Ok(MediaFacts {
                        kind,
                        content_type: sniffed.mime.to_string(),
                        width: v.width,
                        height: v.height,
                        size_bytes: out.size_bytes,
                        duration_ms: v.duration_ms,
                        fps: v.fps,
                        video_codec: Some(v.video_codec),
                        audio_codec: v.audio_codec,
                        bitrate_bps: v.bitrate_bps,
                    })
                }
                Err(probe::ProbeError::Unreadable(reason)) => Err(damaged(path, &reason)),
                Err(e) => Err(format!("{} could not be checked: {e}", display(path))),
            }
        }
        MediaKind::Image => {
            let info = image::read_image_info(file, sniffed.mime, out.size_bytes);
            out.sha256 = sha256_file(file).ok();
            match info {
                Ok(i) => {
                    out.width = Some(i.width);
                    out.height = Some(i.height);
                    out.rotation = Some(i.rotation);
                    Ok(MediaFacts {
                        kind,
                        content_type: sniffed.mime.to_string(),
                        width: i.width,
                        height: i.height,
                        size_bytes: out.size_bytes,
                        duration_ms: None,
                        fps: None,
                        video_codec: None,
                        audio_codec: None,
                        bitrate_bps: None,
                    })
                }
                Err(image::ImageError::Io(e)) => {
                    Err(format!("{} cannot be read: {e}", display(path)))
                }
                Err(e) => Err(damaged(path, &e.to_string())),
            }
        }
    };
    match facts {
        Ok(f) => out.platform_fit = fit::evaluate(&f, limits.video_cap_bytes),
        Err(message) => out
            .errors
            .push(LocalError::new(ErrorCode::Unreadable, message)),
    }
    if out.sha256.is_none() {
        out.errors.push(LocalError::new(
            ErrorCode::Unreadable,
            format!("{} could not be read to the end", display(path)),
        ));
    }
}

/// The name check the create-session call makes: `filename` is at most 512 characters.
pub fn filename_error(path: &Path) -> Option<LocalError> {
    let name = path.file_name()?.to_string_lossy();
    let chars = name.chars().count();
    (chars > MAX_FILENAME_CHARS).then(|| {
        LocalError::new(
            ErrorCode::FilenameTooLong,
            format!(
                "the file name is {chars} characters long; Layers takes at most {MAX_FILENAME_CHARS}: rename it"
            ),
        )
    })
}

fn damaged(path: &Path, reason: &str) -> String {
    format!(
        "{} cannot be read as media ({reason}): it is damaged or was not copied completely",
        display(path)
    )
}

fn blank(path: &Path) -> Inspection {
    Inspection {
        path: path.to_string_lossy().into_owned(),
        local_path: path.to_path_buf(),
        content_type: None,
        kind: None,
        size_bytes: 0,
        width: None,
        height: None,
        duration_ms: None,
        fps: None,
        video_codec: None,
        audio_codec: None,
        bitrate_bps: None,
        rotation: None,
        sha256: None,
        errors: Vec::new(),
        platform_fit: Vec::new(),
    }
}

fn display(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string_lossy().into_owned())
}

fn article(name: &str) -> String {
    let vowel = name.starts_with(['A', 'E', 'I', 'O', 'U', 'M']);
    // "an MP4", "an AVI", "an Ogg", "a PNG", "a JPEG", "a WebM", "a GIF"
    let an = vowel && !name.starts_with("Matroska");
    format!("{} {name}", if an { "an" } else { "a" })
}

fn io_error(path: &Path, e: &io::Error) -> LocalError {
    match e.kind() {
        io::ErrorKind::NotFound => LocalError::new(
            ErrorCode::NotFound,
            format!(
                "{} does not exist (moved or deleted?)",
                path.to_string_lossy()
            ),
        ),
        io::ErrorKind::PermissionDenied => LocalError::new(
            ErrorCode::PermissionDenied,
            format!("{} cannot be read: permission denied", display(path)),
        ),
        io::ErrorKind::InvalidInput => LocalError::new(
            ErrorCode::NotAFile,
            format!("{} is not a regular file", display(path)),
        ),
        _ if is_symlink_loop(e) => LocalError::new(
            ErrorCode::NotFound,
            format!(
                "{} is a symbolic link that leads in a circle (or through too many links): point it at a real file",
                display(path)
            ),
        ),
        _ => LocalError::new(
            ErrorCode::Unreadable,
            format!("{} cannot be read: {e}", display(path)),
        ),
    }
}

/// ELOOP: a symbolic link that points (through others) back at itself.
fn is_symlink_loop(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

fn unknown_bytes(path: &Path) -> LocalError {
    match sniff::claimed_by_extension(path) {
        Some(claimed) => LocalError::new(
            ErrorCode::Unreadable,
            format!(
                "{} is named like {} but its bytes are not a media format we know: the file is damaged or not what its name says",
                display(path),
                claimed
            ),
        ),
        None => LocalError::new(
            ErrorCode::UnsupportedType,
            format!(
                "{} is not a video or image; Layers accepts MP4 or MOV video and JPEG, PNG or WebP images",
                display(path)
            ),
        ),
    }
}

fn extension_mismatch(path: &Path, sniffed: &Sniffed) -> LocalError {
    let suggestion = path
        .file_stem()
        .map(|s| format!("{}.{}", s.to_string_lossy(), sniffed.preferred_extension()))
        .unwrap_or_default();
    let message = match sniff::extension_of(path) {
        Some(ext) => format!(
            "{} is named .{ext} but its bytes are {} ({}): rename it to {suggestion}",
            display(path),
            article(sniffed.name),
            sniffed.mime
        ),
        None => format!(
            "{} has no file extension but its bytes are {} ({}): rename it to {suggestion}",
            display(path),
            article(sniffed.name),
            sniffed.mime
        ),
    };
    LocalError::new(ErrorCode::ExtensionMismatch, message)
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The identity a cached inspection is valid for: size and mtime, and where the platform has
/// them inode and ctime too (bytes swapped in place with the mtime put back move the ctime).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: Option<SystemTime>,
    file: Option<FileStamp>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        size: m.len(),
        mtime: m.modified().ok(),
        file: FileStamp::of(&m),
    })
}

/// Inspects many files in parallel (bounded by cores) and remembers results by
/// (path, size, mtime), because the app inspects the same files again and again.
pub struct Inspector {
    limits: Limits,
    workers: usize,
    cache: Mutex<HashMap<PathBuf, (Stamp, Inspection)>>,
}

impl Inspector {
    /// An inspector with these caps and one worker per core.
    pub fn new(limits: Limits) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Inspector {
            limits,
            workers,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Sets how many files are inspected at once (at least one).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// The caps this inspector applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Inspects one path, from the cache when the file has not changed since.
    pub fn inspect(&self, path: &Path) -> Inspection {
        let before = stamp(path);
        if let Some(s) = &before {
            if let Ok(cache) = self.cache.lock() {
                if let Some((cached, result)) = cache.get(path) {
                    if cached == s {
                        return result.clone();
                    }
                }
            }
        }
        let result = inspect(path, &self.limits);
        // Cache only when the file did not change while we read it.
        if let (Some(b), Some(a)) = (before, stamp(path)) {
            if a == b {
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(path.to_path_buf(), (a, result.clone()));
                }
            }
        }
        result
    }

    /// Inspects every path, in parallel, returning results in the order given.
    pub fn inspect_all(&self, paths: &[PathBuf]) -> Vec<Inspection> {
        let results: Mutex<Vec<Option<Inspection>>> = Mutex::new(vec![None; paths.len()]);
        self.inspect_each(paths, |i, r| {
            if let Ok(mut all) = results.lock() {
                all[i] = Some(r);
            }
        });
        let all = results.into_inner().unwrap_or_else(|p| p.into_inner());
        all.into_iter()
            .zip(paths)
            .map(|(r, p)| r.unwrap_or_else(|| inspect(p, &self.limits)))
            .collect()
    }

    /// Inspects every path in parallel and hands each result (with its index) to `done` as
    /// soon as it is ready, so uploading can start before the last file is checked.
    pub fn inspect_each(&self, paths: &[PathBuf], done: impl Fn(usize, Inspection) + Sync) {
        let next = AtomicUsize::new(0);
        let workers = self.workers.min(paths.len()).max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    done(i, self.inspect(path));
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_over_512_characters_is_refused() {
        let long = format!("{}.mp4", "é".repeat(509));
        assert_eq!(long.chars().count(), 513);
        let e = filename_error(Path::new(&long)).unwrap();
        assert_eq!(e.code, ErrorCode::FilenameTooLong);
        assert!(e.message.contains("513 characters"), "{}", e.message);
        let ok = format!("{}.mp4", "a".repeat(508));
        assert!(filename_error(Path::new(&ok)).is_none());
    }

    #[test]
    fn articles_read_naturally() {
        assert_eq!(article("MP4 video"), "an MP4 video");
        assert_eq!(article("GIF image"), "a GIF image");
        assert_eq!(article("PNG image"), "a PNG image");
        assert_eq!(article("Matroska (MKV) video"), "a Matroska (MKV) video");
    }
}
