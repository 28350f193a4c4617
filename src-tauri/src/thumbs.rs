//! Thumbnails: a small JPEG per file, made by ffmpeg (the image scaled; a poster frame for a
//! video) into `<data>/thumbs`, the one directory the webview may read. Cached by the file's
//! canonical path, size and modification time, so an edited export gets a new thumbnail.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::{AppError, CmdResult};

/// Longest edge of a thumbnail, in pixels (cards show them at ~80 px; 2× for HiDPI, room to spare).
const EDGE: u32 = 240;

/// The thumbnail cache.
pub struct Thumbnails {
    dir: PathBuf,
    /// ffmpeg runs at once: a 1,000-file drop must not start 1,000 processes.
    slots: Semaphore,
}

impl Thumbnails {
    /// A cache in `dir` (created if missing).
    pub fn new(dir: PathBuf) -> std::io::Result<Thumbnails> {
        std::fs::create_dir_all(&dir)?;
        Ok(Thumbnails {
            dir,
            slots: Semaphore::new(2),
        })
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

    /// The thumbnail of a (granted, canonical) file, making it if needed.
    pub async fn get(&self, file: &Path, video: bool) -> CmdResult<PathBuf> {
        let out = self.cache_path(file)?;
        if out.is_file() {
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
        let tmp = out.with_extension("part.jpg");
        let scale = format!("scale={EDGE}:{EDGE}:force_original_aspect_ratio=decrease");
        // A video's first frame is often black: `thumbnail` picks a representative one.
        let filter = if video {
            format!("thumbnail=30,{scale}")
        } else {
            scale
        };
        let status = tokio::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-i"])
            .arg(file)
            .args(["-vf", &filter, "-frames:v", "1", "-q:v", "5", "-f", "mjpeg"])
            .arg(&tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status()
            .await
            .map_err(|e| AppError::internal(format!("cannot run ffmpeg for a thumbnail: {e}")))?;
        if !status.success() {
            let _ = std::fs::remove_file(&tmp);
            return Err(AppError::invalid(format!(
                "no thumbnail for {}: ffmpeg could not decode it",
                file.display()
            )));
        }
        std::fs::rename(&tmp, &out)
            .map_err(|e| AppError::internal(format!("cannot save a thumbnail: {e}")))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_image_gets_a_small_cached_jpeg_that_changes_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("frame.png");
        let ok = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=1080x1920",
                "-frames:v",
                "1",
            ])
            .arg(&src)
            .status()
            .unwrap();
        assert!(ok.success(), "ffmpeg made the test image");
        let thumbs = Thumbnails::new(dir.path().join("thumbs")).unwrap();
        let t = thumbs.get(&src, false).await.unwrap();
        assert!(t.starts_with(thumbs.dir()));
        let bytes = std::fs::read(&t).unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG");
        assert!(bytes.len() < 60_000, "small: {} bytes", bytes.len());
        assert_eq!(thumbs.get(&src, false).await.unwrap(), t, "cached");
        std::fs::write(&src, b"not an image any more").unwrap();
        assert_ne!(
            thumbs.cache_path(&src).unwrap(),
            t,
            "a changed file is a new key"
        );
        assert!(thumbs.get(&src, false).await.is_err());
    }
}
