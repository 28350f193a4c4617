//! The documented platform-fit rules, as data: one rule set per media kind, shared across the
//! launch platforms (the guide: "the same issues appear on every platform an asset doesn't fit").
//! Pure functions of measured facts; no I/O. Adding a platform is adding a row to `PLATFORMS`.

use serde::{Deserialize, Serialize};

use super::MediaKind;

/// One platform's verdict, in the API's `platformFit` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformFit {
    pub platform: String,
    pub ok: bool,
    pub issues: Vec<String>,
}

/// The rules a platform admits; values straight from the guide's "Platform fit" table.
#[derive(Debug, Clone, Copy)]
pub struct FitRules {
    pub image_min_short_edge: u32,
    pub video_containers: &'static [(&'static str, &'static str)],
    pub video_codecs: &'static [(&'static str, &'static str)],
    pub audio_codecs: &'static [(&'static str, &'static str)],
    pub min_duration_ms: u64,
    pub max_duration_ms: u64,
    pub min_edge: u32,
    pub max_width: u32,
    pub min_fps: f64,
    pub max_fps: f64,
    pub max_bitrate_bps: u64,
}

/// The launch set's shared rule set ("we admit only what comes out clean on both platforms").
pub const LAUNCH_RULES: FitRules = FitRules {
    image_min_short_edge: 1080,
    video_containers: &[("video/mp4", "MP4"), ("video/quicktime", "MOV")],
    video_codecs: &[("h264", "H.264"), ("hevc", "HEVC")],
    audio_codecs: &[("aac", "AAC")],
    min_duration_ms: 3_000,
    max_duration_ms: 600_000,
    min_edge: 360,
    max_width: 1920,
    min_fps: 23.0,
    max_fps: 60.0,
    max_bitrate_bps: 25_000_000,
};

/// Platforms in the order the API lists them, each with its rules.
pub const PLATFORMS: &[(&str, &FitRules)] =
    &[("tiktok", &LAUNCH_RULES), ("instagram", &LAUNCH_RULES)];

/// What the rules look at; the probe fills it from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaFacts {
    pub kind: MediaKind,
    pub content_type: String,
    /// Displayed width and height (rotation applied).
    pub width: u32,
    pub height: u32,
    pub size_bytes: u64,
    pub duration_ms: Option<u64>,
    pub fps: Option<f64>,
    pub video_codec: Option<String>,
    /// `None` means silent (no audio stream).
    pub audio_codec: Option<String>,
    pub bitrate_bps: Option<u64>,
}

/// Every platform's verdict for these facts; `video_cap_bytes` is the (overridable) size rule.
pub fn evaluate(facts: &MediaFacts, video_cap_bytes: u64) -> Vec<PlatformFit> {
    PLATFORMS
        .iter()
        .map(|(platform, rules)| {
            let issues = issues(facts, rules, video_cap_bytes);
            PlatformFit {
                platform: (*platform).to_string(),
                ok: issues.is_empty(),
                issues,
            }
        })
        .collect()
}

/// The issues one rule set finds, in a fixed order, each in the server's message style:
/// the measured value, what is wrong, the limit in parentheses.
pub fn issues(facts: &MediaFacts, rules: &FitRules, video_cap_bytes: u64) -> Vec<String> {
    match facts.kind {
        MediaKind::Image => image_issues(facts, rules),
        MediaKind::Video => video_issues(facts, rules, video_cap_bytes),
    }
}

fn image_issues(f: &MediaFacts, r: &FitRules) -> Vec<String> {
    let short = f.width.min(f.height);
    if short < r.image_min_short_edge {
        vec![format!(
            "{}x{} image resolution too low (min {}px on the short edge)",
            f.width, f.height, r.image_min_short_edge
        )]
    } else {
        Vec::new()
    }
}

fn video_issues(f: &MediaFacts, r: &FitRules, video_cap_bytes: u64) -> Vec<String> {
    let mut out = Vec::new();
    if !r.video_containers.iter().any(|(t, _)| *t == f.content_type) {
        out.push(format!(
            "{} container not supported ({})",
            f.content_type,
            names(r.video_containers)
        ));
    }
    match f.video_codec.as_deref() {
        Some(c) if r.video_codecs.iter().any(|(k, _)| *k == c) => {}
        other => out.push(format!(
            "{} video codec not supported ({})",
            other.unwrap_or("unknown"),
            names(r.video_codecs)
        )),
    }
    if let Some(a) = f.audio_codec.as_deref() {
        if !r.audio_codecs.iter().any(|(k, _)| *k == a) {
            out.push(format!(
                "{a} audio codec not supported ({} or silent)",
                names(r.audio_codecs)
            ));
        }
    }
    match f.duration_ms {
        Some(d) if d < r.min_duration_ms => out.push(format!(
            "{} video too short (min {})",
            seconds(d),
            duration_limit(r.min_duration_ms)
        )),
        Some(d) if d > r.max_duration_ms => out.push(format!(
            "{} video too long (max {})",
            seconds(d),
            duration_limit(r.max_duration_ms)
        )),
        Some(_) => {}
        None => out.push("unknown duration (3s to 10min required)".to_string()),
    }
    if f.width < r.min_edge || f.height < r.min_edge {
        out.push(format!(
            "{}x{} video resolution too low (min {}px on both edges)",
            f.width, f.height, r.min_edge
        ));
    }
    if f.width > r.max_width {
        out.push(format!(
            "{}x{} video too wide (max {}px wide)",
            f.width, f.height, r.max_width
        ));
    }
    match f.fps {
        // A hair of tolerance so 23.976 or a 60.0000001 rounding never flips a verdict.
        Some(fps) if fps < r.min_fps - 1e-6 => out.push(format!(
            "{}fps frame rate too low (min {}fps)",
            fps_text(fps),
            fps_text(r.min_fps)
        )),
        Some(fps) if fps > r.max_fps + 1e-6 => out.push(format!(
            "{}fps frame rate too high (max {}fps)",
            fps_text(fps),
            fps_text(r.max_fps)
        )),
        Some(_) => {}
        None => out.push("unknown frame rate (23 to 60fps required)".to_string()),
    }
    if let Some(b) = f.bitrate_bps {
        if b > r.max_bitrate_bps {
            out.push(format!(
                "{} bitrate too high (max {})",
                mbps(b),
                mbps(r.max_bitrate_bps)
            ));
        }
    }
    if f.size_bytes > video_cap_bytes {
        out.push(format!(
            "{} video file too large (max {})",
            super::human_bytes(f.size_bytes),
            super::human_bytes(video_cap_bytes)
        ));
    }
    out
}

fn names(table: &[(&str, &str)]) -> String {
    let n: Vec<&str> = table.iter().map(|(_, name)| *name).collect();
    match n.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_string(),
        None => String::new(),
    }
}

/// `2.9s`, `600s`: milliseconds shown to a tenth of a second, trailing `.0` dropped.
fn seconds(ms: u64) -> String {
    let tenths = (ms + 50) / 100;
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if tenths.is_multiple_of(10) {
        // Round the displayed value away from the boundary so "too short" never reads "3s".
        format!("{:.3}s", ms as f64 / 1000.0)
    } else {
        format!("{}.{}s", tenths / 10, tenths % 10)
    }
}

fn duration_limit(ms: u64) -> String {
    if ms >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{}min", ms / 60_000)
    } else {
        seconds(ms)
    }
}

/// `29.97`, `60`, `22`: up to two decimals, trailing zeros dropped.
pub fn fps_text(fps: f64) -> String {
    let s = format!("{fps:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `25 Mbps`, `25.1 Mbps`, `640 kbps` (decimal units, as the table states the limit).
pub fn mbps(bps: u64) -> String {
    if bps < 1_000_000 {
        return format!("{} kbps", (bps + 500) / 1000);
    }
    let m = bps as f64 / 1_000_000.0;
    let s = format!("{m:.1}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    // Never print a value over the limit as the limit itself.
    if bps > 25_000_000 && s == "25" {
        return format!("{m:.3} Mbps");
    }
    format!("{s} Mbps")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: u64 = 100 * 1024 * 1024;

    fn video() -> MediaFacts {
        MediaFacts {
            kind: MediaKind::Video,
            content_type: "video/mp4".into(),
            width: 1080,
            height: 1920,
            size_bytes: 38 * 1024 * 1024,
            duration_ms: Some(31_000),
            fps: Some(29.97),
            video_codec: Some("h264".into()),
            audio_codec: Some("aac".into()),
            bitrate_bps: Some(8_100_000),
        }
    }

    fn image(w: u32, h: u32) -> MediaFacts {
        MediaFacts {
            kind: MediaKind::Image,
            content_type: "image/jpeg".into(),
            width: w,
            height: h,
            size_bytes: 1000,
            duration_ms: None,
            fps: None,
            video_codec: None,
            audio_codec: None,
            bitrate_bps: None,
        }
    }

    fn only_issue(f: &MediaFacts) -> Vec<String> {
        let fit = evaluate(f, CAP);
        assert_eq!(fit.len(), 2);
        assert_eq!(fit[0].platform, "tiktok");
        assert_eq!(fit[1].platform, "instagram");
        assert_eq!(
            fit[0].issues, fit[1].issues,
            "launch set shares one rule set"
        );
        fit[0].issues.clone()
    }

    #[test]
    fn the_documented_800x800_message_is_exact() {
        assert_eq!(
            only_issue(&image(800, 800)),
            vec!["800x800 image resolution too low (min 1080px on the short edge)"]
        );
    }

    #[test]
    fn image_short_edge_boundary_is_inclusive() {
        assert!(only_issue(&image(1080, 1920)).is_empty());
        assert!(only_issue(&image(4000, 1080)).is_empty());
        assert_eq!(
            only_issue(&image(1079, 1920)),
            vec!["1079x1920 image resolution too low (min 1080px on the short edge)"]
        );
    }

    #[test]
    fn a_clean_video_fits_everywhere() {
        let fit = evaluate(&video(), CAP);
        assert!(fit.iter().all(|p| p.ok && p.issues.is_empty()));
    }

    #[test]
    fn duration_boundaries() {
        let mut v = video();
        for (ms, ok) in [
            (2_900, false),
            (3_000, true),
            (600_000, true),
            (601_000, false),
        ] {
            v.duration_ms = Some(ms);
            assert_eq!(only_issue(&v).is_empty(), ok, "{ms} ms");
        }
        v.duration_ms = Some(2_900);
        assert_eq!(only_issue(&v), vec!["2.9s video too short (min 3s)"]);
        v.duration_ms = Some(601_000);
        assert_eq!(only_issue(&v), vec!["601s video too long (max 10min)"]);
        v.duration_ms = Some(2_999);
        assert_eq!(only_issue(&v), vec!["2.999s video too short (min 3s)"]);
    }

    #[test]
    fn fps_boundaries() {
        let mut v = video();
        for (fps, ok) in [
            (22.0, false),
            (23.0, true),
            (23.976, true),
            (60.0, true),
            (61.0, false),
        ] {
            v.fps = Some(fps);
            assert_eq!(only_issue(&v).is_empty(), ok, "{fps} fps");
        }
        v.fps = Some(22.0);
        assert_eq!(only_issue(&v), vec!["22fps frame rate too low (min 23fps)"]);
        v.fps = Some(61.0);
        assert_eq!(
            only_issue(&v),
            vec!["61fps frame rate too high (max 60fps)"]
        );
    }

    #[test]
    fn dimension_boundaries() {
        let mut v = video();
        (v.width, v.height) = (1920, 1080);
        assert!(only_issue(&v).is_empty());
        (v.width, v.height) = (1921, 1080);
        assert_eq!(
            only_issue(&v),
            vec!["1921x1080 video too wide (max 1920px wide)"]
        );
        (v.width, v.height) = (360, 360);
        assert!(only_issue(&v).is_empty());
        (v.width, v.height) = (359, 640);
        assert_eq!(
            only_issue(&v),
            vec!["359x640 video resolution too low (min 360px on both edges)"]
        );
    }

    #[test]
    fn bitrate_boundary_and_message() {
        let mut v = video();
        v.bitrate_bps = Some(25_000_000);
        assert!(only_issue(&v).is_empty());
        v.bitrate_bps = Some(25_000_001);
        assert_eq!(
            only_issue(&v),
            vec!["25.000 Mbps bitrate too high (max 25 Mbps)"]
        );
        v.bitrate_bps = Some(31_400_000);
        assert_eq!(
            only_issue(&v),
            vec!["31.4 Mbps bitrate too high (max 25 Mbps)"]
        );
    }

    #[test]
    fn codecs_and_audio() {
        let mut v = video();
        v.video_codec = Some("hevc".into());
        v.audio_codec = None;
        assert!(only_issue(&v).is_empty(), "HEVC, silent");
        v.video_codec = Some("mpeg4".into());
        v.audio_codec = Some("mp3".into());
        assert_eq!(
            only_issue(&v),
            vec![
                "mpeg4 video codec not supported (H.264 or HEVC)",
                "mp3 audio codec not supported (AAC or silent)"
            ]
        );
    }

    #[test]
    fn size_rule_follows_the_overridable_cap() {
        let mut v = video();
        v.size_bytes = CAP;
        assert!(evaluate(&v, CAP)[0].ok);
        v.size_bytes = CAP + 1;
        assert_eq!(
            evaluate(&v, CAP)[0].issues,
            vec!["100.0MB video file too large (max 100MB)"]
        );
        assert!(evaluate(&v, 2 * CAP)[0].ok, "a raised cap admits it");
    }
}
