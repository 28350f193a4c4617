//! A [`CopySpec`] as ffmpeg arguments, and ffmpeg's `-progress` lines as figures. Pure, so the
//! exact command is testable without running it.

use std::ffi::OsString;
use std::path::Path;

use super::fit_plan::{AudioOutput, CopySpec, VideoOutput, AAC_SAMPLE_RATE};

/// x264 preset when `LAYERS_FIT_PRESET` is not set: `medium` is x264's own balance of size
/// and time; the copy is made once and the platforms re-encode it, so quality per bit matters
/// more than a faster run.
pub const DEFAULT_PRESET: &str = "medium";
/// Constant-quality level: 18 is visually transparent for H.264, so the copy loses nothing a
/// viewer sees; the bitrate ceiling still holds when the picture needs more.
pub const DEFAULT_CRF: u8 = 18;
/// x264 presets accepted from the environment (anything else falls back to the default).
const PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

/// How hard the encoder works; render servers may trade size for time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeSettings {
    /// The x264 preset.
    pub preset: String,
    /// The x264 constant-quality level (lower is better).
    pub crf: u8,
}

impl EncodeSettings {
    /// The defaults, with `LAYERS_FIT_PRESET` (an x264 preset name) applied when valid.
    pub fn from_env() -> EncodeSettings {
        let preset = std::env::var("LAYERS_FIT_PRESET")
            .ok()
            .filter(|p| PRESETS.contains(&p.as_str()))
            .unwrap_or_else(|| DEFAULT_PRESET.to_string());
        EncodeSettings {
            preset,
            crf: DEFAULT_CRF,
        }
    }
}

impl Default for EncodeSettings {
    fn default() -> Self {
        EncodeSettings {
            preset: DEFAULT_PRESET.to_string(),
            crf: DEFAULT_CRF,
        }
    }
}

/// The full ffmpeg argument list that makes `output` (an MP4, whatever its name) from `source`.
/// Progress goes to stdout (`-progress pipe:1`), errors alone to stderr.
pub fn ffmpeg_args(
    source: &Path,
    output: &Path,
    spec: &CopySpec,
    settings: &EncodeSettings,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    push(&[
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
        "-y",
        "-i",
    ]);
    a.push(source.as_os_str().to_owned());
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    push(&["-map", "0:v:0"]);
    if spec.audio != AudioOutput::None {
        push(&["-map", "0:a:0"]);
    }
    if let Some(ms) = spec.trim_ms {
        push(&["-t", &seconds(ms)]);
    }
    match &spec.video {
        VideoOutput::Copy => push(&["-c:v", "copy"]),
        VideoOutput::Encode {
            scale_to,
            fps,
            max_bps,
        } => {
            // ffmpeg turns the picture upright itself (autorotate) before these filters, so
            // the copy displays as the original with no rotation left in its metadata.
            let mut filters = Vec::new();
            if let Some((w, h)) = scale_to {
                filters.push(format!("scale={w}:{h}:flags=lanczos"));
                filters.push("setsar=1".to_string());
            }
            if let Some(rate) = fps {
                filters.push(format!("fps={rate}"));
            }
            if !filters.is_empty() {
                push(&["-vf", &filters.join(",")]);
            }
            push(&[
                "-c:v",
                "libx264",
                "-preset",
                &settings.preset,
                "-crf",
                &settings.crf.to_string(),
                "-maxrate",
                &max_bps.to_string(),
                "-bufsize",
                &max_bps.to_string(),
                // A one-second buffer that starts nearly empty: x264 cannot spend a full
                // buffer up front, so even a 3 s clip lands under the ceiling (measured).
                "-x264-params",
                "vbv-init=0.1",
                "-profile:v",
                "high",
                "-pix_fmt",
                "yuv420p",
            ]);
        }
    }
    match spec.audio {
        AudioOutput::None => {}
        AudioOutput::Copy => push(&["-c:a", "copy"]),
        AudioOutput::Aac { channels, bps } => push(&[
            "-c:a",
            "aac",
            "-b:a",
            &bps.to_string(),
            "-ar",
            &AAC_SAMPLE_RATE.to_string(),
            "-ac",
            &channels.to_string(),
        ]),
    }
    push(&["-movflags", "+faststart", "-f", "mp4"]);
    a.push(output.as_os_str().to_owned());
    a
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// One `-progress` report: how much of the output is written and how fast.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EncodeProgress {
    /// Output time written so far.
    pub done_ms: u64,
    /// Times real time (`2.5` = 2.5× faster than playback); `None` before ffmpeg knows.
    pub speed: Option<f64>,
    /// ffmpeg said `progress=end`.
    pub finished: bool,
}

/// Reads ffmpeg's `key=value` progress lines; each block ends with a `progress=` line.
#[derive(Debug, Default)]
pub struct ProgressParser {
    current: EncodeProgress,
}

impl ProgressParser {
    /// Takes one line; returns a report when it closes a block.
    pub fn line(&mut self, line: &str) -> Option<EncodeProgress> {
        let (key, value) = line.trim().split_once('=')?;
        match key {
            "out_time_us" | "out_time_ms" => {
                // Both keys carry microseconds (the `_ms` name is an old ffmpeg mistake);
                // before the first frame the value is `N/A` or negative.
                if let Ok(us) = value.parse::<i64>() {
                    self.current.done_ms = (us.max(0) / 1000) as u64;
                }
            }
            "speed" => {
                self.current.speed = value
                    .trim_end_matches('x')
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0);
            }
            "progress" => {
                self.current.finished = value == "end";
                return Some(self.current);
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn text(args: &[OsString]) -> String {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_full_reencode_names_every_setting() {
        let spec = CopySpec {
            video: VideoOutput::Encode {
                scale_to: Some((1920, 1080)),
                fps: Some("60"),
                max_bps: 22_000_000,
            },
            audio: AudioOutput::Aac {
                channels: 2,
                bps: 192_000,
            },
            trim_ms: Some(600_000),
            duration_ms: 600_000,
        };
        let args = ffmpeg_args(
            &PathBuf::from("in.mkv"),
            &PathBuf::from(".out.part"),
            &spec,
            &EncodeSettings::default(),
        );
        let t = text(&args);
        assert!(
            t.contains("-i in.mkv -map 0:v:0 -map 0:a:0 -t 600.000"),
            "{t}"
        );
        assert!(
            t.contains("-vf scale=1920:1080:flags=lanczos,setsar=1,fps=60"),
            "{t}"
        );
        assert!(
            t.contains("-c:v libx264 -preset medium -crf 18 -maxrate 22000000 -bufsize 22000000 -x264-params vbv-init=0.1"),
            "{t}"
        );
        assert!(t.contains("-profile:v high -pix_fmt yuv420p"), "{t}");
        assert!(t.contains("-c:a aac -b:a 192000 -ar 48000 -ac 2"), "{t}");
        assert!(t.ends_with("-movflags +faststart -f mp4 .out.part"), "{t}");
    }

    #[test]
    fn a_copy_touches_no_stream_and_silence_maps_no_audio() {
        let spec = CopySpec {
            video: VideoOutput::Copy,
            audio: AudioOutput::None,
            trim_ms: None,
            duration_ms: 5_000,
        };
        let t = text(&ffmpeg_args(
            &PathBuf::from("a.mp4"),
            &PathBuf::from("b"),
            &spec,
            &EncodeSettings::default(),
        ));
        assert!(t.contains("-map 0:v:0 -c:v copy -movflags"), "{t}");
        assert!(!t.contains("0:a"), "{t}");
    }

    #[test]
    fn progress_blocks_become_reports() {
        let mut p = ProgressParser::default();
        let mut reports = Vec::new();
        for line in [
            "frame=10",
            "out_time_us=N/A",
            "speed=N/A",
            "progress=continue",
            "out_time_us=1500000",
            "speed=2.47x",
            "progress=continue",
            "out_time_us=3000000",
            "speed= 2.5x",
            "progress=end",
        ] {
            reports.extend(p.line(line));
        }
        assert_eq!(reports.len(), 3);
        assert_eq!((reports[0].done_ms, reports[0].speed), (0, None));
        assert_eq!((reports[1].done_ms, reports[1].speed), (1500, Some(2.47)));
        assert!(reports[2].finished && reports[2].done_ms == 3000);
    }
}
