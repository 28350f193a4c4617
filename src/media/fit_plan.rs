//! "Make it fit": from what a file measures, what a compliant copy changes, or why no honest
//! copy exists. Pure and table-driven like [`super::fit`], whose rules and values it reuses:
//! a change is planned only for a rule the file breaks, and never one that harms the picture
//! (no upscaling, no padding a short clip with frozen frames).

use super::fit::{fps_text, mbps, FitRules, MediaFacts, LAUNCH_RULES};
use super::{human_bytes, MediaKind};

/// Share of the allowed bitrate a copy aims for: room for container overhead and the rate
/// control's overshoot, so the copy lands under the limit rather than on it.
pub const BITRATE_MARGIN: f64 = 0.9;
/// Below this many bits per second for the picture the copy would be mush: say so instead.
pub const MIN_VIDEO_BPS: u64 = 300_000;
/// AAC bitrate for a stereo (or mono) re-encode; transparent for speech and music alike.
pub const AAC_STEREO_BPS: u64 = 192_000;
/// AAC bitrate for mono.
pub const AAC_MONO_BPS: u64 = 128_000;
/// Bits per second held back for an AAC track that is copied as it is (its rate is unknown).
pub const COPIED_AUDIO_RESERVE_BPS: u64 = 320_000;
/// The sample rate a re-encoded audio track gets.
pub const AAC_SAMPLE_RATE: u32 = 48_000;
/// How far under the maximum length a trim cuts: a stream copy ends on whole packets, and an
/// audio packet can run ~25 ms past the cut point (measured: 600.004 s for a 600 s cut).
pub const TRIM_HEADROOM_MS: u64 = 100;
/// The frame rate a too-slow clip is raised to (by repeating frames).
pub const LOW_FPS_TARGET: f64 = 30.0;
/// Pixel formats the H.264 High profile takes as they are.
const HIGH_PROFILE_PIX_FMTS: &[&str] = &["yuv420p", "yuvj420p"];
/// Frame rates a too-fast clip may become, best first; a source that is an exact multiple of
/// one keeps evenly spaced frames (120 → 60, 90 → 30), otherwise 60.
const HIGH_FPS_TARGETS: &[(f64, &str)] = &[
    (60.0, "60"),
    (60_000.0 / 1001.0, "60000/1001"),
    (30.0, "30"),
    (30_000.0 / 1001.0, "30000/1001"),
];

/// Stream details the fit rules do not judge but a conversion must know.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamDetails {
    /// ffmpeg's name for the video's pixel format (`yuv420p`, `yuv444p`, …).
    pub pix_fmt: Option<String>,
    /// Channels of the first audio track.
    pub audio_channels: Option<u32>,
}

/// What the user allowed and which cap applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanOptions {
    /// `--trim`: a clip over the maximum may be cut to it.
    pub trim: bool,
    /// The (overridable) video size cap, as the fit rules use it.
    pub video_cap_bytes: u64,
}

/// One change a copy makes, each for a rule the source breaks.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Remuxed from a container the API refuses into MP4.
    Container { from: String },
    /// Re-encoded from a codec the platforms refuse into H.264.
    VideoCodec { from: String },
    /// A re-encode's pixel format made yuv420p, the one H.264 High takes.
    PixelFormat { from: String },
    /// Re-encoded from an audio codec the platforms refuse into AAC.
    AudioCodec { from: String, channels: u32 },
    /// Frames dropped or repeated to reach a rate the platforms take.
    FrameRate {
        from: f64,
        to: f64,
        to_text: &'static str,
    },
    /// Scaled down to the maximum displayed width.
    Scale { from: (u32, u32), to: (u32, u32) },
    /// Re-encoded under a ceiling from the bitrate rule and the size cap.
    Bitrate {
        from_bps: Option<u64>,
        size_bytes: u64,
        max_total_bps: u64,
    },
    /// Cut to just under the maximum length (only with `--trim`).
    Trim { from_ms: u64, to_ms: u64 },
}

impl Change {
    /// The change in a line a person reads in the result.
    pub fn describe(&self) -> String {
        match self {
            Change::Container { from } => format!("{from} container → MP4"),
            Change::VideoCodec { from } => format!("{from} video → H.264 (High, yuv420p)"),
            Change::PixelFormat { from } => {
                format!("pixel format {from} → yuv420p (what H.264 players decode)")
            }
            Change::AudioCodec { from, channels } => format!(
                "{from} audio → AAC {} kHz {}",
                AAC_SAMPLE_RATE / 1000,
                if *channels == 1 { "mono" } else { "stereo" }
            ),
            Change::FrameRate { from, to, .. } if from < to => format!(
                "{}fps → {}fps by repeating frames (motion is no smoother than the source)",
                fps_text(*from),
                fps_text(*to)
            ),
            Change::FrameRate { from, to, .. } => {
                format!("{}fps → {}fps", fps_text(*from), fps_text(*to))
            }
            Change::Scale { from, to } => format!(
                "{}x{} → {}x{} (scaled down, aspect kept)",
                from.0, from.1, to.0, to.1
            ),
            Change::Bitrate {
                from_bps,
                size_bytes,
                max_total_bps,
            } => format!(
                "{} ({}) → at most {} overall",
                from_bps.map_or("unknown bitrate".to_string(), mbps),
                human_bytes(*size_bytes),
                mbps(*max_total_bps)
            ),
            Change::Trim { from_ms, to_ms } => format!(
                "cut from {} to its first {} (just under the {} maximum; the rest is not in \
                 the copy)",
                clock(*from_ms),
                clock(*to_ms),
                clock(to_ms + TRIM_HEADROOM_MS)
            ),
        }
    }
}

/// How the copy's video is made.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoOutput {
    /// The source's video stream as it is (only audio, container or length change).
    Copy,
    /// Re-encoded to H.264 High, yuv420p, displayed upright, capped at `max_bps`.
    Encode {
        /// Displayed size to scale to; `None` keeps the source's.
        scale_to: Option<(u32, u32)>,
        /// Frame rate as ffmpeg's `fps` filter takes it; `None` keeps the source's.
        fps: Option<&'static str>,
        /// The video stream's bitrate ceiling.
        max_bps: u64,
    },
}

/// How the copy's audio is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioOutput {
    /// The source is silent.
    None,
    /// The source's AAC track as it is.
    Copy,
    /// AAC at [`AAC_SAMPLE_RATE`] with this many channels and bits per second.
    Aac { channels: u32, bps: u64 },
}

/// The copy to make: what the converter needs, and nothing it must decide itself.
#[derive(Debug, Clone, PartialEq)]
pub struct CopySpec {
    /// How the picture is made.
    pub video: VideoOutput,
    /// How the sound is made.
    pub audio: AudioOutput,
    /// Cut the copy to this length.
    pub trim_ms: Option<u64>,
    /// The source's length (after a trim): what progress counts toward.
    pub duration_ms: u64,
}

/// The verdict for one file.
#[derive(Debug, Clone, PartialEq)]
pub enum FitPlan {
    /// Nothing to change: no copy is made.
    AlreadyFits,
    /// A copy with these changes fits.
    Convert {
        changes: Vec<Change>,
        spec: CopySpec,
    },
    /// No honest copy fits; each line says why and what to do instead.
    CannotFit { reasons: Vec<String> },
}

impl FitPlan {
    /// The changes as lines (empty unless a copy is made).
    pub fn change_lines(&self) -> Vec<String> {
        match self {
            FitPlan::Convert { changes, .. } => changes.iter().map(Change::describe).collect(),
            _ => Vec::new(),
        }
    }
}

/// Plans a copy under the launch rules (the rules both platforms share).
pub fn plan(facts: &MediaFacts, details: &StreamDetails, options: &PlanOptions) -> FitPlan {
    plan_with(facts, details, options, &LAUNCH_RULES)
}

/// Plans a copy under `rules`.
pub fn plan_with(
    facts: &MediaFacts,
    details: &StreamDetails,
    options: &PlanOptions,
    rules: &FitRules,
) -> FitPlan {
    let reasons = blockers(facts, options, rules);
    if !reasons.is_empty() {
        return FitPlan::CannotFit { reasons };
    }
    if facts.kind == MediaKind::Image {
        return FitPlan::AlreadyFits;
    }
    video_plan(facts, details, options, rules)
}

/// What no copy can fix honestly, each with what to do instead.
fn blockers(f: &MediaFacts, o: &PlanOptions, r: &FitRules) -> Vec<String> {
    let mut out = Vec::new();
    let (w, h) = (f.width, f.height);
    if f.kind == MediaKind::Image {
        if w.min(h) < r.image_min_short_edge {
            out.push(format!(
                "{w}x{h} image is under {}px on the short edge; enlarging it would only blur it \
                 (the mush the Layers docs warn of): re-export it from the source at {}px or more",
                r.image_min_short_edge, r.image_min_short_edge
            ));
        }
        return out;
    }
    match f.duration_ms {
        None => out.push(
            "the video's length cannot be measured, so no copy can be sized to fit: \
             re-export it from the source"
                .to_string(),
        ),
        Some(d) if d < r.min_duration_ms => out.push(format!(
            "{} is shorter than the {} minimum; padding it with frozen frames would not be your \
             video: re-export a cut of at least {}",
            clock(d),
            clock(r.min_duration_ms),
            clock(r.min_duration_ms)
        )),
        Some(d) if d > r.max_duration_ms && !o.trim => out.push(format!(
            "{} is longer than the {} maximum: run again with --trim to cut the copy to {}, \
             or re-export a shorter cut",
            clock(d),
            clock(r.max_duration_ms),
            clock(r.max_duration_ms)
        )),
        Some(_) => {}
    }
    if w < r.min_edge || h < r.min_edge {
        out.push(format!(
            "{w}x{h} is under {}px on an edge; enlarging it would only blur it (the mush the \
             Layers docs warn of): re-export it from the source at {}px or more on both edges",
            r.min_edge, r.min_edge
        ));
    } else if let Some((_, sh)) = scaled(w, h, r.max_width) {
        if sh < r.min_edge {
            out.push(format!(
                "{w}x{h} is too wide for its height: at {}px wide it would be {sh}px tall, under \
                 the {}px minimum; re-export it from the source with a less extreme aspect",
                r.max_width, r.min_edge
            ));
        }
    }
    if f.fps.is_none() {
        out.push(
            "the video's frame rate cannot be measured: re-export it from the source".to_string(),
        );
    }
    if out.is_empty() {
        if let Some(total) = total_ceiling(f, o, r) {
            let audio = audio_reserve(f, &StreamDetails::default());
            if total.saturating_sub(audio) < MIN_VIDEO_BPS {
                out.push(format!(
                    "to stay under {} for {} the picture would get under {}, too little to \
                     watch: re-export a shorter cut or at a lower resolution",
                    human_bytes(o.video_cap_bytes),
                    clock(kept_ms(f, o, r)),
                    mbps(MIN_VIDEO_BPS)
                ));
            }
        }
    }
    out
}

fn video_plan(f: &MediaFacts, d: &StreamDetails, o: &PlanOptions, r: &FitRules) -> FitPlan {
    let mut changes = Vec::new();
    let supported = |table: &[(&str, &str)], v: &str| table.iter().any(|(k, _)| *k == v);
    if !supported(r.video_containers, &f.content_type) {
        changes.push(Change::Container {
            from: f.content_type.clone(),
        });
    }
    let codec = f.video_codec.clone().unwrap_or_else(|| "unknown".into());
    let codec_ok = supported(r.video_codecs, &codec);
    if !codec_ok {
        changes.push(Change::VideoCodec { from: codec });
    }
    let fps = f.fps.unwrap_or(LOW_FPS_TARGET);
    let fps_to = if fps > r.max_fps + 1e-6 {
        Some(high_fps_target(fps))
    } else if fps < r.min_fps - 1e-6 {
        Some((LOW_FPS_TARGET, "30"))
    } else {
        None
    };
    if let Some((to, to_text)) = fps_to {
        changes.push(Change::FrameRate {
            from: fps,
            to,
            to_text,
        });
    }
    let scale_to = scaled(f.width, f.height, r.max_width);
    if let Some(to) = scale_to {
        changes.push(Change::Scale {
            from: (f.width, f.height),
            to,
        });
    }
    let over_bitrate = f.bitrate_bps.is_some_and(|b| b > r.max_bitrate_bps);
    let trim_ms = f
        .duration_ms
        .filter(|d| *d > r.max_duration_ms)
        .map(|_| r.max_duration_ms - TRIM_HEADROOM_MS);
    let total = total_ceiling(f, o, r).unwrap_or(r.max_bitrate_bps);
    // A trim alone brings the size down in proportion; only re-encode if it is not enough.
    let size_after_trim = match (trim_ms, f.duration_ms) {
        (Some(t), Some(dur)) if dur > 0 => (f.size_bytes as f64 * t as f64 / dur as f64) as u64,
        _ => f.size_bytes,
    };
    let needs_bitrate = over_bitrate || size_after_trim > o.video_cap_bytes;
    if needs_bitrate {
        changes.push(Change::Bitrate {
            from_bps: f.bitrate_bps,
            size_bytes: f.size_bytes,
            max_total_bps: total,
        });
    }
    let reencode = !codec_ok || fps_to.is_some() || scale_to.is_some() || needs_bitrate;
    if reencode {
        if let Some(px) = d.pix_fmt.as_deref() {
            if !HIGH_PROFILE_PIX_FMTS.contains(&px) {
                changes.push(Change::PixelFormat {
                    from: px.to_string(),
                });
            }
        }
    }
    let audio = match f.audio_codec.as_deref() {
        None => AudioOutput::None,
        Some(a) if supported(r.audio_codecs, a) => AudioOutput::Copy,
        Some(a) => {
            let channels = d.audio_channels.unwrap_or(2).clamp(1, 2);
            changes.push(Change::AudioCodec {
                from: a.to_string(),
                channels,
            });
            AudioOutput::Aac {
                channels,
                bps: aac_bps(channels),
            }
        }
    };
    if let (Some(to_ms), Some(from_ms)) = (trim_ms, f.duration_ms) {
        changes.push(Change::Trim { from_ms, to_ms });
    }
    if changes.is_empty() {
        return FitPlan::AlreadyFits;
    }
    let video = if reencode {
        VideoOutput::Encode {
            scale_to,
            fps: fps_to.map(|(_, t)| t),
            max_bps: total.saturating_sub(audio_reserve(f, d)),
        }
    } else {
        VideoOutput::Copy
    };
    let spec = CopySpec {
        video,
        audio,
        trim_ms,
        duration_ms: kept_ms(f, o, r),
    };
    FitPlan::Convert { changes, spec }
}

/// The overall bitrate a copy may use: under the bitrate rule and, over the kept length,
/// under the size cap, both with [`BITRATE_MARGIN`]. `None` when the length is unknown.
fn total_ceiling(f: &MediaFacts, o: &PlanOptions, r: &FitRules) -> Option<u64> {
    let secs = kept_ms(f, o, r) as f64 / 1000.0;
    if secs <= 0.0 || f.duration_ms.is_none() {
        return None;
    }
    let by_size = o.video_cap_bytes as f64 * 8.0 / secs;
    let ceiling = (r.max_bitrate_bps as f64).min(by_size) * BITRATE_MARGIN;
    Some(ceiling as u64)
}

/// The length the copy keeps: the source's, or the maximum when it is trimmed.
fn kept_ms(f: &MediaFacts, o: &PlanOptions, r: &FitRules) -> u64 {
    let d = f.duration_ms.unwrap_or(0);
    if o.trim && d > r.max_duration_ms {
        r.max_duration_ms - TRIM_HEADROOM_MS
    } else {
        d
    }
}

fn audio_reserve(f: &MediaFacts, d: &StreamDetails) -> u64 {
    match f.audio_codec.as_deref() {
        None => 0,
        Some("aac") => COPIED_AUDIO_RESERVE_BPS,
        Some(_) => aac_bps(d.audio_channels.unwrap_or(2).clamp(1, 2)),
    }
}

fn aac_bps(channels: u32) -> u64 {
    if channels == 1 {
        AAC_MONO_BPS
    } else {
        AAC_STEREO_BPS
    }
}

/// The displayed size scaled to `max_width` wide, aspect kept, both edges even; `None` when
/// the width already fits.
fn scaled(w: u32, h: u32, max_width: u32) -> Option<(u32, u32)> {
    if w <= max_width {
        return None;
    }
    let height = (h as f64 * max_width as f64 / w as f64 / 2.0).round() as u32 * 2;
    Some((max_width & !1, height.max(2)))
}

/// The first target the source is an exact multiple of, else 60.
fn high_fps_target(fps: f64) -> (f64, &'static str) {
    HIGH_FPS_TARGETS
        .iter()
        .find(|(t, _)| {
            let ratio = fps / t;
            (ratio - ratio.round()).abs() < 1e-3
        })
        .copied()
        .unwrap_or(HIGH_FPS_TARGETS[0])
}

/// `10:05`, `0:02.5`: minutes and seconds, tenths when not whole.
pub fn clock(ms: u64) -> String {
    let (m, rest) = (ms / 60_000, ms % 60_000);
    if rest.is_multiple_of(1000) {
        format!("{m}:{:02}", rest / 1000)
    } else {
        format!("{m}:{:02}.{}", rest / 1000, (rest % 1000) / 100)
    }
}

#[cfg(test)]
#[path = "fit_plan_tests.rs"]
mod tests;
