//! Makes the planned copy with ffmpeg, as a child process: writes to a hidden temp name in the
//! destination folder and renames it to a free final name only when ffmpeg succeeded, so a
//! crash or a cancel never leaves a half file under a name someone would upload. The original
//! is only ever read.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::fit::MediaFacts;
use super::fit_encode::{ffmpeg_args, EncodeProgress, EncodeSettings, ProgressParser};
use super::fit_plan::{self, CopySpec, FitPlan, PlanOptions, StreamDetails};
use super::{probe, sniff, ErrorCode, Inspection, MediaKind};
use crate::paths::{free_name, rename_no_replace};

/// Why no copy was made; `code` is what scripts branch on.
#[derive(Debug, thiserror::Error)]
pub enum MakeFitError {
    /// ffmpeg is not on PATH (nor at `LAYERS_FFMPEG`).
    #[error("ffmpeg is not installed (install ffmpeg, e.g. `apt-get install ffmpeg`)")]
    FfmpegMissing,
    /// ffmpeg is there but would not run.
    #[error("ffmpeg could not start: {0}")]
    Spawn(std::io::Error),
    /// ffmpeg ran and failed; its last error line.
    #[error("ffmpeg could not make the copy: {0}")]
    Ffmpeg(String),
    /// The destination folder refused the copy.
    #[error("cannot write the copy in {dir}: {source}")]
    Write { dir: String, source: std::io::Error },
    /// Cancelled (Ctrl-C); the partial file is gone.
    #[error("stopped before the copy was finished; nothing was kept")]
    Cancelled,
    /// ffprobe could not measure the source.
    #[error("{0}")]
    Probe(#[from] probe::ProbeError),
}

impl MakeFitError {
    /// The stable error code for a result row.
    pub fn code(&self) -> ErrorCode {
        match self {
            MakeFitError::Probe(probe::ProbeError::Unreadable(_)) => ErrorCode::Unreadable,
            _ => ErrorCode::ConversionFailed,
        }
    }
}

/// The ffmpeg to run: `LAYERS_FFMPEG` if set (tests, odd installs), else `ffmpeg` on PATH.
pub fn ffmpeg_program() -> std::ffi::OsString {
    std::env::var_os("LAYERS_FFMPEG").unwrap_or_else(|| "ffmpeg".into())
}

/// The facts to plan from. An accepted file's come from its inspection; a video in a container
/// the API refuses (MKV, WebM, AVI…) is measured with ffprobe so it can be remuxed. `None`
/// when the file is not media a copy could be made from (its inspection says why).
pub fn source_facts(ins: &Inspection) -> Result<Option<(MediaFacts, StreamDetails)>, MakeFitError> {
    let fixable =
        |e: &super::LocalError| matches!(e.code, ErrorCode::TooLarge | ErrorCode::UnsupportedType);
    if !ins.errors.iter().all(fixable) {
        return Ok(None);
    }
    let content_type = match (&ins.content_type, ins.kind) {
        (Some(ct), Some(MediaKind::Image)) => {
            let facts = MediaFacts {
                kind: MediaKind::Image,
                content_type: ct.clone(),
                width: ins.width.unwrap_or(0),
                height: ins.height.unwrap_or(0),
                size_bytes: ins.size_bytes,
                duration_ms: None,
                fps: None,
                video_codec: None,
                audio_codec: None,
                bitrate_bps: None,
            };
            return Ok(Some((facts, StreamDetails::default())));
        }
        (Some(ct), _) => ct.clone(),
        (None, _) => match sniffed_video(&ins.local_path) {
            Some(mime) => mime.to_string(),
            None => return Ok(None),
        },
    };
    let (v, details) = probe::probe_with_details(&ins.local_path)?;
    let facts = MediaFacts {
        kind: MediaKind::Video,
        content_type,
        width: v.width,
        height: v.height,
        size_bytes: ins.size_bytes,
        duration_ms: v.duration_ms,
        fps: v.fps,
        video_codec: Some(v.video_codec),
        audio_codec: v.audio_codec,
        bitrate_bps: v.bitrate_bps,
    };
    Ok(Some((facts, details)))
}

/// What "make it fit" would do with an inspected file: the planner's verdict, or `None` when
/// it is not media a copy could be made from (its inspection's errors say why). Front ends
/// call this before offering a conversion, so they offer one only when a copy would fit.
pub fn plan_for(ins: &Inspection, options: &PlanOptions) -> Result<Option<FitPlan>, MakeFitError> {
    Ok(source_facts(ins)?.map(|(facts, details)| fit_plan::plan(&facts, &details, options)))
}

/// The sniffed type when the bytes are a video container, accepted or not.
fn sniffed_video(path: &Path) -> Option<&'static str> {
    let mut head = [0u8; 512];
    let mut file = super::inspect::open_regular(path).ok()?;
    let n = file.read(&mut head).ok()?;
    let s = sniff::sniff(&head[..n])?;
    s.mime.starts_with("video/").then_some(s.mime)
}

/// `<dir>/<stem>.fit.mp4`, where `dir` is `out_dir` or the source's folder.
pub fn planned_output(source: &Path, out_dir: Option<&Path>) -> PathBuf {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "video".into());
    let dir = out_dir
        .map(Path::to_path_buf)
        .or_else(|| source.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    dir.join(format!("{stem}.fit.mp4"))
}

/// Makes the copy `spec` describes next to `planned` (under a free variant of its name) and
/// returns where it is. `cancel` stops ffmpeg and removes the partial file; `progress` hears
/// ffmpeg's reports as they come.
pub fn make_copy(
    source: &Path,
    planned: &Path,
    spec: &CopySpec,
    settings: &EncodeSettings,
    cancel: &AtomicBool,
    mut progress: impl FnMut(EncodeProgress),
) -> Result<PathBuf, MakeFitError> {
    let temp = TempCopy::new(planned)?;
    let args = ffmpeg_args(source, &temp.path, spec, settings);
    // The exact command line, so a benchmark or a bug report can run the same ffmpeg alone.
    tracing::debug!(program = ?ffmpeg_program(), ?args, "running ffmpeg for a fit copy");
    let mut child = spawn(&args)?;
    let reports = read_progress(&mut child);
    let stderr = read_stderr(&mut child);
    let status = loop {
        while let Ok(p) = reports.try_recv() {
            progress(p);
        }
        if cancel.load(Ordering::SeqCst) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(MakeFitError::Cancelled);
        }
        match child.try_wait().map_err(MakeFitError::Spawn)? {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    while let Ok(p) = reports.try_recv() {
        progress(p);
    }
    if !status.success() {
        let said = stderr.join().unwrap_or_default();
        let said = said.trim();
        tracing::warn!(source = %source.display(), %status, ffmpeg = said, "fit copy failed");
        return Err(MakeFitError::Ffmpeg(if said.is_empty() {
            format!("ffmpeg exited with {status}")
        } else {
            said.lines().last().unwrap_or(said).to_string()
        }));
    }
    temp.persist(planned)
}

fn spawn(args: &[std::ffi::OsString]) -> Result<Child, MakeFitError> {
    let mut cmd = Command::new(ffmpeg_program());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: a Ctrl-C at the terminal reaches us, and we stop ffmpeg and
        // clean up, instead of ffmpeg finishing a truncated file on its own.
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and touches no memory of ours; it makes the
        // kernel kill ffmpeg if we die (kill -9), so no orphan keeps writing.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => MakeFitError::FfmpegMissing,
        _ => MakeFitError::Spawn(e),
    })
}

fn read_progress(child: &mut Child) -> mpsc::Receiver<EncodeProgress> {
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut parser = ProgressParser::default();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(p) = parser.line(&line) {
                    if tx.send(p).is_err() {
                        break;
                    }
                }
            }
        });
    }
    rx
}

fn read_stderr(child: &mut Child) -> std::thread::JoinHandle<String> {
    let err = child.stderr.take();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut e) = err {
            // Read it all so ffmpeg never blocks on a full pipe; keep the last 16 KiB.
            let _ = e.read_to_end(&mut buf);
        }
        let start = buf.len().saturating_sub(16 * 1024);
        String::from_utf8_lossy(&buf[start..]).into_owned()
    })
}

/// A hidden `.part` file beside the final name, removed on drop unless persisted.
struct TempCopy {
    path: PathBuf,
    kept: bool,
}

impl TempCopy {
    fn new(planned: &Path) -> Result<TempCopy, MakeFitError> {
        let dir = planned.parent().unwrap_or(Path::new("."));
        let name = planned
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = dir.join(format!(
            ".{name}.{}-{:08x}.part",
            std::process::id(),
            fastrand::u32(..)
        ));
        let write_error = |source| MakeFitError::Write {
            dir: dir.display().to_string(),
            source,
        };
        // Claimed with create_new so two runs never share a temp file.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(write_error)?;
        Ok(TempCopy { path, kept: false })
    }

    /// Flushes the copy to disk and moves it to a free variant of `planned`, never replacing a
    /// file that appeared meanwhile.
    fn persist(mut self, planned: &Path) -> Result<PathBuf, MakeFitError> {
        let write_error = |source| MakeFitError::Write {
            dir: planned
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            source,
        };
        std::fs::File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(write_error)?;
        for _ in 0..100 {
            let target = free_name(planned);
            match rename_no_replace(&self.path, &target) {
                Ok(()) => {
                    self.kept = true;
                    return Ok(target);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(write_error(e)),
            }
        }
        Err(write_error(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "no free name for the copy",
        )))
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
