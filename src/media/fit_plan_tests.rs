//! The planner's table, row by row: each broken rule gets its change, each unfixable one its
//! reason, and a file that fits is left alone.

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

fn yuv420() -> StreamDetails {
    StreamDetails {
        pix_fmt: Some("yuv420p".into()),
        audio_channels: Some(2),
    }
}

fn opts() -> PlanOptions {
    PlanOptions {
        trim: false,
        video_cap_bytes: CAP,
    }
}

fn convert(f: &MediaFacts) -> (Vec<Change>, CopySpec) {
    convert_with(f, &yuv420(), &opts())
}

fn convert_with(f: &MediaFacts, d: &StreamDetails, o: &PlanOptions) -> (Vec<Change>, CopySpec) {
    match plan(f, d, o) {
        FitPlan::Convert { changes, spec } => (changes, spec),
        other => panic!("expected a conversion, got {other:?}"),
    }
}

fn reasons(f: &MediaFacts, o: &PlanOptions) -> Vec<String> {
    match plan(f, &yuv420(), o) {
        FitPlan::CannotFit { reasons } => reasons,
        other => panic!("expected cannot-fit, got {other:?}"),
    }
}

fn encode_of(spec: &CopySpec) -> (Option<(u32, u32)>, Option<&'static str>, u64) {
    match &spec.video {
        VideoOutput::Encode {
            scale_to,
            fps,
            max_bps,
        } => (*scale_to, *fps, *max_bps),
        VideoOutput::Copy => panic!("expected a re-encode"),
    }
}

#[test]
fn a_fitting_video_or_image_is_left_alone() {
    assert_eq!(plan(&video(), &yuv420(), &opts()), FitPlan::AlreadyFits);
    let mut hevc_silent = video();
    hevc_silent.video_codec = Some("hevc".into());
    hevc_silent.audio_codec = None;
    assert_eq!(plan(&hevc_silent, &yuv420(), &opts()), FitPlan::AlreadyFits);
    let mut image = video();
    image.kind = MediaKind::Image;
    image.content_type = "image/jpeg".into();
    assert_eq!(plan(&image, &yuv420(), &opts()), FitPlan::AlreadyFits);
}

#[test]
fn mpeg4_part2_becomes_h264_and_its_pixel_format_is_fixed_too() {
    let mut f = video();
    f.video_codec = Some("mpeg4".into());
    let d = StreamDetails {
        pix_fmt: Some("yuv444p".into()),
        audio_channels: Some(2),
    };
    let (changes, spec) = convert_with(&f, &d, &opts());
    assert_eq!(
        changes,
        vec![
            Change::VideoCodec {
                from: "mpeg4".into()
            },
            Change::PixelFormat {
                from: "yuv444p".into()
            },
        ]
    );
    assert_eq!(changes[0].describe(), "mpeg4 video → H.264 (High, yuv420p)");
    let (scale, fps, max) = encode_of(&spec);
    assert_eq!((scale, fps), (None, None));
    // 25 Mbps × 0.9, less the copied AAC track's reserve.
    assert_eq!(max, 22_500_000 - COPIED_AUDIO_RESERVE_BPS);
    assert_eq!(spec.audio, AudioOutput::Copy);
}

#[test]
fn mp3_audio_becomes_aac_and_the_video_is_copied() {
    let mut f = video();
    f.audio_codec = Some("mp3".into());
    let (changes, spec) = convert(&f);
    assert_eq!(changes[0].describe(), "mp3 audio → AAC 48 kHz stereo");
    assert_eq!(spec.video, VideoOutput::Copy);
    assert_eq!(
        spec.audio,
        AudioOutput::Aac {
            channels: 2,
            bps: AAC_STEREO_BPS
        }
    );
    // Surround keeps at most stereo; mono stays mono.
    let six = StreamDetails {
        pix_fmt: None,
        audio_channels: Some(6),
    };
    assert!(matches!(
        convert_with(&f, &six, &opts()).1.audio,
        AudioOutput::Aac { channels: 2, .. }
    ));
    let mono = StreamDetails {
        pix_fmt: None,
        audio_channels: Some(1),
    };
    assert_eq!(
        convert_with(&f, &mono, &opts()).1.audio,
        AudioOutput::Aac {
            channels: 1,
            bps: AAC_MONO_BPS
        }
    );
}

#[test]
fn another_container_is_remuxed_to_mp4_without_touching_the_picture() {
    let mut f = video();
    f.content_type = "video/x-matroska".into();
    let (changes, spec) = convert(&f);
    assert_eq!(changes[0].describe(), "video/x-matroska container → MP4");
    assert_eq!(spec.video, VideoOutput::Copy);
}

#[test]
fn high_frame_rates_drop_to_an_even_divisor() {
    for (src, want) in [
        (120.0, "60"),
        (240.0, "60"),
        (90.0, "30"),
        (150.0, "30"),
        (119.88, "60000/1001"),
        (100.0, "60"),
        (61.0, "60"),
    ] {
        let mut f = video();
        f.fps = Some(src);
        let (_, spec) = convert(&f);
        assert_eq!(encode_of(&spec).1, Some(want), "{src} fps");
    }
}

#[test]
fn low_frame_rates_are_raised_to_30_and_the_result_says_frames_repeat() {
    let mut f = video();
    f.fps = Some(15.0);
    let (changes, spec) = convert(&f);
    assert_eq!(encode_of(&spec).1, Some("30"));
    assert_eq!(
        changes[0].describe(),
        "15fps → 30fps by repeating frames (motion is no smoother than the source)"
    );
}

#[test]
fn too_wide_is_scaled_to_1920_with_even_edges() {
    let mut f = video();
    (f.width, f.height) = (2560, 1440);
    let (changes, spec) = convert(&f);
    assert_eq!(encode_of(&spec).0, Some((1920, 1080)));
    assert_eq!(
        changes[0].describe(),
        "2560x1440 → 1920x1080 (scaled down, aspect kept)"
    );
    (f.width, f.height) = (4096, 2160);
    assert_eq!(encode_of(&convert(&f).1).0, Some((1920, 1012)));
    // Portrait phone video: displayed 1440 wide fits as it is.
    (f.width, f.height) = (1440, 2560);
    assert_eq!(plan(&f, &yuv420(), &opts()), FitPlan::AlreadyFits);
}

#[test]
fn bitrate_over_25_mbps_gets_a_ceiling_under_it() {
    let mut f = video();
    f.bitrate_bps = Some(30_000_000);
    let (changes, spec) = convert(&f);
    assert!(matches!(changes[0], Change::Bitrate { .. }));
    let (_, _, max) = encode_of(&spec);
    assert!(max + COPIED_AUDIO_RESERVE_BPS <= 22_500_000, "{max}");
}

#[test]
fn over_the_size_cap_gets_a_bitrate_from_the_duration() {
    let mut f = video();
    // 5 MB cap, 10 s: 4 Mbps allowed overall, 3.6 with the margin.
    f.size_bytes = 6 * 1024 * 1024;
    f.duration_ms = Some(10_000);
    f.bitrate_bps = Some(5_000_000);
    f.audio_codec = None;
    let o = PlanOptions {
        trim: false,
        video_cap_bytes: 5 * 1024 * 1024,
    };
    let (_, spec) = convert_with(&f, &yuv420(), &o);
    let (_, _, max) = encode_of(&spec);
    assert_eq!(
        max,
        (5.0 * 1024.0 * 1024.0 * 8.0 / 10.0 * BITRATE_MARGIN) as u64
    );
}

#[test]
fn too_long_needs_trim_and_a_trim_alone_copies_the_streams() {
    let mut f = video();
    f.duration_ms = Some(605_000);
    f.size_bytes = 20 * 1024 * 1024;
    let why = reasons(&f, &opts());
    assert_eq!(
        why,
        vec![
            "10:05 is longer than the 10:00 maximum: run again with --trim to cut the copy \
              to 10:00, or re-export a shorter cut"
        ]
    );
    let trim = PlanOptions {
        trim: true,
        ..opts()
    };
    let (changes, spec) = convert_with(&f, &yuv420(), &trim);
    assert_eq!(
        changes,
        vec![Change::Trim {
            from_ms: 605_000,
            to_ms: 599_900
        }]
    );
    assert_eq!(
        changes[0].describe(),
        "cut from 10:05 to its first 9:59.9 (just under the 10:00 maximum; the rest is not \
         in the copy)"
    );
    assert_eq!(spec.video, VideoOutput::Copy);
    assert_eq!((spec.trim_ms, spec.duration_ms), (Some(599_900), 599_900));
}

#[test]
fn the_unfixable_say_why_and_what_to_do() {
    let mut short = video();
    short.duration_ms = Some(2_000);
    let why = reasons(&short, &opts());
    assert!(why[0].contains("shorter than the 0:03 minimum"), "{why:?}");
    assert!(why[0].contains("re-export"), "{why:?}");

    let mut small = video();
    (small.width, small.height) = (320, 240);
    let why = reasons(&small, &opts());
    assert!(
        why[0].starts_with("320x240 is under 360px on an edge"),
        "{why:?}"
    );
    assert!(why[0].contains("re-export it from the source"), "{why:?}");

    let mut image = video();
    image.kind = MediaKind::Image;
    (image.width, image.height) = (800, 800);
    let why = reasons(&image, &opts());
    assert!(why[0].starts_with("800x800 image is under 1080px on the short edge"));

    let mut sliver = video();
    (sliver.width, sliver.height) = (6000, 1000);
    assert!(reasons(&sliver, &opts())[0].contains("too wide for its height"));
}

#[test]
fn a_cap_too_small_for_the_length_is_said_not_attempted() {
    let mut f = video();
    f.size_bytes = 2 * 1024 * 1024;
    f.duration_ms = Some(600_000);
    let o = PlanOptions {
        trim: false,
        video_cap_bytes: 1024 * 1024,
    };
    assert!(reasons(&f, &o)[0].contains("too little to watch"));
}

#[test]
fn clock_reads_like_a_player() {
    assert_eq!(clock(605_000), "10:05");
    assert_eq!(clock(3_000), "0:03");
    assert_eq!(clock(2_500), "0:02.5");
}
