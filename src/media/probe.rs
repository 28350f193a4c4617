//! Video figures from ffprobe's JSON. We run ffprobe ourselves rather than through the `ffprobe`
//! crate: we need the display-matrix rotation from `side_data_list` (which that crate's types
//! do not carry), a time limit on a hung probe, and tolerance for fields older builds omit.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

pub use super::fit_plan::StreamDetails;
pub use super::mp4::Declined;

/// Longest a single ffprobe may run before the file counts as unreadable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Measured video figures, with rotation already applied to width and height.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    pub rotation: i32,
    pub duration_ms: Option<u64>,
    pub fps: Option<f64>,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub bitrate_bps: Option<u64>,
}

/// Why a probe gave no figures; the messages are for a person.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("ffprobe is not installed (install ffmpeg, e.g. `apt-get install ffmpeg`)")]
    FfprobeMissing,
    #[error("ffprobe could not start: {0}")]
    Spawn(std::io::Error),
    #[error("ffprobe gave up after {}s", PROBE_TIMEOUT.as_secs())]
    Timeout,
    #[error("{0}")]
    Unreadable(String),
}

/// A running ffprobe, started early so the caller can hash the file meanwhile.
pub struct PendingProbe {
    child: Child,
    started: Instant,
}

/// Starts ffprobe on `path`; finish with [`PendingProbe::wait`].
pub fn start(path: &Path) -> Result<PendingProbe, ProbeError> {
    let child = Command::new(ffprobe_program())
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ProbeError::FfprobeMissing,
            _ => ProbeError::Spawn(e),
        })?;
    Ok(PendingProbe {
        child,
        started: Instant::now(),
    })
}

/// The ffprobe to run: `LAYERS_FFPROBE` if set (tests, odd installs), else `ffprobe` on PATH.
pub fn ffprobe_program() -> std::ffi::OsString {
    std::env::var_os("LAYERS_FFPROBE").unwrap_or_else(|| "ffprobe".into())
}

impl PendingProbe {
    /// Waits for ffprobe (killing it past `PROBE_TIMEOUT`) and reads its figures.
    pub fn wait(self) -> Result<VideoInfo, ProbeError> {
        parse(&self.wait_json()?)
    }

    /// Waits for ffprobe and returns its JSON as it is.
    fn wait_json(mut self) -> Result<Vec<u8>, ProbeError> {
        // Drain both pipes on helper threads so a chatty ffprobe never blocks on a full pipe.
        let mut stdout = self.child.stdout.take();
        let mut stderr = self.child.stderr.take();
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut buf);
            }
            buf
        });
        let err = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.take(16 * 1024).read_to_end(&mut buf);
            }
            buf
        });
        let status = loop {
            match self.child.try_wait().map_err(ProbeError::Spawn)? {
                Some(status) => break status,
                None if self.started.elapsed() > PROBE_TIMEOUT => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(ProbeError::Timeout);
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if !status.success() {
            return Err(ProbeError::Unreadable(ffprobe_reason(
                &String::from_utf8_lossy(&stderr),
            )));
        }
        Ok(stdout)
    }
}

/// ffprobe's complaint without its `[mov,mp4 @ 0x…]` and `path:` prefixes, one clause per line.
fn ffprobe_reason(stderr: &str) -> String {
    let mut reasons: Vec<&str> = Vec::new();
    for line in stderr.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let line = match (line.starts_with('['), line.find("] ")) {
            (true, Some(i)) => &line[i + 2..],
            _ => line,
        };
        // "path: Invalid data found when processing input": keep what is said, not where.
        let line = line.rsplit_once(": ").map_or(line, |(_, said)| said);
        if !reasons.contains(&line) {
            reasons.push(line);
        }
    }
    if reasons.is_empty() {
        "ffprobe gave no details".to_string()
    } else {
        reasons.join("; ")
    }
}

/// Probes a video synchronously: natively when the file is a clean MP4/MOV, else with ffprobe.
pub fn probe_video(path: &Path) -> Result<VideoInfo, ProbeError> {
    let native = std::fs::File::open(path).ok().and_then(|mut f| {
        let size = f.metadata().ok()?.len();
        probe_native(&mut f, size).ok()
    });
    match native {
        Some(v) => Ok(v),
        None => probe_ffprobe(path),
    }
}

/// Probes a video with ffprobe, with the stream details a conversion needs (pixel format,
/// audio channels) that the fit figures leave out.
pub fn probe_with_details(path: &Path) -> Result<(VideoInfo, StreamDetails), ProbeError> {
    let json = start(path)?.wait_json()?;
    let out: Output = serde_json::from_slice(&json)
        .map_err(|e| ProbeError::Unreadable(format!("ffprobe gave output we cannot read ({e})")))?;
    let info = figures(&out)?;
    let stream = |kind: &str| {
        out.streams
            .iter()
            .find(|s| s.codec_type.as_deref() == Some(kind) && s.disposition.attached_pic == 0)
    };
    let details = StreamDetails {
        pix_fmt: stream("video").and_then(|s| s.pix_fmt.clone()),
        audio_channels: stream("audio").and_then(|s| s.channels),
    };
    Ok((info, details))
}

/// Probes a video with ffprobe only (the authority the native reader is tested against).
pub fn probe_ffprobe(path: &Path) -> Result<VideoInfo, ProbeError> {
    start(path)?.wait()
}

/// Whether the native reader may be used: `LAYERS_PROBE=ffprobe` turns it off.
pub fn native_enabled() -> bool {
    std::env::var_os("LAYERS_PROBE").is_none_or(|v| v != "ffprobe")
}

/// Reads a clean MP4/MOV's figures without ffprobe, or says why it will not (the caller then
/// runs ffprobe). The figures are the ones ffprobe gives for the same file.
pub fn probe_native(file: &mut std::fs::File, size: u64) -> Result<VideoInfo, Declined> {
    if !native_enabled() {
        return Err(Declined("LAYERS_PROBE=ffprobe"));
    }
    let out = super::mp4::read(file, size)?;
    figures(&out).map_err(|_| Declined("figures incomplete"))
}

/// ffprobe's `-show_format -show_streams` JSON, the fields we read; the native MP4 reader
/// fills the same shape so both paths share one interpretation.
#[derive(Deserialize, Debug, Default, PartialEq)]
pub(crate) struct Output {
    #[serde(default)]
    pub streams: Vec<Stream>,
    pub format: Option<Format>,
}

#[derive(Deserialize, Debug, Default, PartialEq)]
pub(crate) struct Stream {
    pub codec_type: Option<String>,
    pub codec_name: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub avg_frame_rate: Option<String>,
    pub r_frame_rate: Option<String>,
    pub duration: Option<String>,
    pub pix_fmt: Option<String>,
    pub channels: Option<u32>,
    #[serde(default)]
    pub side_data_list: Vec<SideData>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub disposition: Disposition,
}

#[derive(Deserialize, Debug, Default, PartialEq)]
pub(crate) struct Tags {
    pub rotate: Option<String>,
}

#[derive(Deserialize, Debug, Default, PartialEq)]
pub(crate) struct Disposition {
    #[serde(default)]
    pub attached_pic: u8,
}

#[derive(Deserialize, Debug, Default, PartialEq)]
pub(crate) struct SideData {
    pub rotation: Option<serde_json::Value>,
}

#[derive(Deserialize, Debug, Default, PartialEq)]
pub(crate) struct Format {
    pub duration: Option<String>,
    pub bit_rate: Option<String>,
    pub size: Option<String>,
}

/// Reads ffprobe's JSON into figures; public for tests over recorded output.
pub fn parse(json: &[u8]) -> Result<VideoInfo, ProbeError> {
    let out: Output = serde_json::from_slice(json)
        .map_err(|e| ProbeError::Unreadable(format!("ffprobe gave output we cannot read ({e})")))?;
    figures(&out)
}

/// What the figures of one probe's output are, however it was read.
pub(crate) fn figures(out: &Output) -> Result<VideoInfo, ProbeError> {
    let video = out
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && s.disposition.attached_pic == 0)
        .ok_or_else(|| ProbeError::Unreadable("the file has no video stream".into()))?;
    let (w, h) = match (video.width, video.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => {
            return Err(ProbeError::Unreadable(
                "the video stream has no picture size".into(),
            ))
        }
    };
    let rotation = rotation_of(video);
    let (width, height) = if rotation.rem_euclid(180) == 90 {
        (h, w)
    } else {
        (w, h)
    };
    let audio_codec = out
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .map(|s| s.codec_name.clone().unwrap_or_else(|| "unknown".into()));
    let format = out.format.as_ref();
    let duration_s = format
        .and_then(|f| f.duration.as_deref())
        .or(video.duration.as_deref())
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0);
    let duration_ms = duration_s.map(|d| (d * 1000.0).round() as u64);
    let fps = [
        video.avg_frame_rate.as_deref(),
        video.r_frame_rate.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(ratio);
    let bitrate_bps = format
        .and_then(|f| f.bit_rate.as_deref())
        .and_then(|b| b.parse::<u64>().ok())
        .or_else(|| {
            // Some containers omit bit_rate: derive it from size and duration.
            let size = format?.size.as_deref()?.parse::<f64>().ok()?;
            Some((size * 8.0 / duration_s?).round() as u64)
        });
    Ok(VideoInfo {
        width,
        height,
        rotation,
        duration_ms,
        fps,
        video_codec: video.codec_name.clone().unwrap_or_else(|| "unknown".into()),
        audio_codec,
        bitrate_bps,
    })
}

/// Clockwise rotation in degrees (0, 90, 180, 270) from the display matrix or the old tag.
fn rotation_of(s: &Stream) -> i32 {
    let from_matrix = s.side_data_list.iter().find_map(|sd| match &sd.rotation {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(t)) => t.parse::<f64>().ok(),
        _ => None,
    });
    let from_tag = || s.tags.rotate.as_deref().and_then(|t| t.parse::<f64>().ok());
    // The display matrix counts counter-clockwise (-90 for a phone held upright); the old tag
    // and our output count clockwise, the way players apply it.
    let deg = from_matrix.map(|d| -d).or_else(from_tag).unwrap_or(0.0);
    ((deg.round() as i32) % 360 + 360) % 360
}

/// `30000/1001` → 29.97; `0/0` → none.
fn ratio(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/')?;
    let (n, d) = (n.parse::<f64>().ok()?, d.parse::<f64>().ok()?);
    (n > 0.0 && d > 0.0).then(|| n / d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_rotated_phone_video() {
        let json = br#"{"streams":[
          {"codec_type":"video","codec_name":"h264","width":1920,"height":1080,
           "avg_frame_rate":"30000/1001","r_frame_rate":"30000/1001",
           "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]},
          {"codec_type":"audio","codec_name":"aac"}],
          "format":{"duration":"31.000000","bit_rate":"8100000","size":"31387500"}}"#;
        let v = parse(json).unwrap();
        assert_eq!((v.width, v.height, v.rotation), (1080, 1920, 90));
        assert_eq!(v.duration_ms, Some(31_000));
        assert!((v.fps.unwrap() - 29.97).abs() < 0.01);
        assert_eq!(v.audio_codec.as_deref(), Some("aac"));
        assert_eq!(v.bitrate_bps, Some(8_100_000));
    }

    #[test]
    fn cover_art_is_not_the_video_stream() {
        let json = br#"{"streams":[
          {"codec_type":"video","codec_name":"mjpeg","width":500,"height":500,"disposition":{"attached_pic":1}},
          {"codec_type":"audio","codec_name":"mp3"}],"format":{"duration":"3.0"}}"#;
        assert!(matches!(parse(json), Err(ProbeError::Unreadable(_))));
    }

    #[test]
    fn missing_bitrate_is_derived() {
        let json = br#"{"streams":[{"codec_type":"video","codec_name":"hevc","width":360,"height":640,
          "avg_frame_rate":"0/0","r_frame_rate":"25/1"}],"format":{"duration":"4.0","size":"1000000"}}"#;
        let v = parse(json).unwrap();
        assert_eq!(v.bitrate_bps, Some(2_000_000));
        assert_eq!(v.fps, Some(25.0));
        assert_eq!(v.audio_codec, None);
    }

    #[test]
    fn ffprobe_noise_is_trimmed_from_reasons() {
        let stderr = "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x556dd11391c0] moov atom not found\n/tmp/t.mp4: Invalid data found when processing input\n";
        assert_eq!(
            ffprobe_reason(stderr),
            "moov atom not found; Invalid data found when processing input"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"not json").is_err());
        assert!(parse(b"{}").is_err());
    }
}
