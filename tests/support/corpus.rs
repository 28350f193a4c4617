//! A media corpus generated with the real ffmpeg, covering both sides of every documented
//! boundary. Built once per target dir (atomically, so parallel test processes are safe) and
//! reused by every test that needs real media.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Bump when the corpus changes, so a stale cached copy is never used.
const CORPUS_VERSION: u32 = 4;

/// What a file is made from.
pub enum Source {
    /// ffmpeg arguments after `-y -v error`; the output path is appended.
    Ffmpeg(&'static [&'static str]),
    /// Made from another corpus file by a function.
    Derived(&'static str, fn(&Path, &Path)),
    /// Literal bytes.
    Bytes(&'static [u8]),
}

/// One corpus file: its name, how it is made, and what `probe` must say about it.
pub struct Entry {
    pub name: &'static str,
    pub source: Source,
    pub expect: Expect,
}

/// The exact classification `probe` must give.
pub struct Expect {
    pub content_type: Option<&'static str>,
    pub errors: &'static [&'static str],
    /// The exact issues (identical on both platforms); `None` means no fit is computed.
    pub issues: Option<&'static [&'static str]>,
    /// Displayed (width, height), when it matters.
    pub size: Option<(u32, u32)>,
}

const fn ok(ct: &'static str) -> Expect {
    Expect {
        content_type: Some(ct),
        errors: &[],
        issues: Some(&[]),
        size: None,
    }
}

const fn unfit(ct: &'static str, issues: &'static [&'static str]) -> Expect {
    Expect {
        content_type: Some(ct),
        errors: &[],
        issues: Some(issues),
        size: None,
    }
}

const fn rejected(ct: Option<&'static str>, errors: &'static [&'static str]) -> Expect {
    Expect {
        content_type: ct,
        errors,
        issues: None,
        size: None,
    }
}

const fn sized(mut e: Expect, w: u32, h: u32) -> Expect {
    e.size = Some((w, h));
    e
}

macro_rules! video {
    ($src:literal, $t:literal) => {
        Source::Ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            $src,
            "-t",
            $t,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
    };
}

macro_rules! image {
    ($src:literal) => {
        Source::Ffmpeg(&["-f", "lavfi", "-i", $src, "-frames:v", "1"])
    };
}

const MP4: &str = "video/mp4";
const MOV: &str = "video/quicktime";
const JPEG: &str = "image/jpeg";
const PNG: &str = "image/png";
const WEBP: &str = "image/webp";

/// Every corpus file. Tiny resolutions keep the long ones fast.
#[rustfmt::skip]
pub const ENTRIES: &[Entry] = &[
    // Duration: 2.9 s / 3 s / 10 min / 10 min + 1 s.
    Entry { name: "dur_2.9s.mp4", source: video!("color=c=black:s=360x360:r=30", "2.9"),
        expect: unfit(MP4, &["2.9s video too short (min 3s)"]) },
    Entry { name: "dur_3s.mp4", source: video!("color=c=black:s=360x360:r=30", "3"), expect: ok(MP4) },
    Entry { name: "dur_10min.mp4", source: video!("color=c=black:s=360x360:r=24", "600"), expect: ok(MP4) },
    Entry { name: "dur_10min1s.mp4", source: video!("color=c=black:s=360x360:r=24", "601"),
        expect: unfit(MP4, &["601s video too long (max 10min)"]) },
    // Frame rate: 22 / 23 / 60 / 61.
    Entry { name: "fps_22.mp4", source: video!("color=c=black:s=360x640:r=22", "3.5"),
        expect: unfit(MP4, &["22fps frame rate too low (min 23fps)"]) },
    Entry { name: "fps_23.mp4", source: video!("color=c=black:s=360x640:r=23", "3.5"), expect: ok(MP4) },
    Entry { name: "fps_60.mp4", source: video!("color=c=black:s=360x640:r=60", "3.5"), expect: ok(MP4) },
    Entry { name: "fps_61.mp4", source: video!("color=c=black:s=360x640:r=61", "3.5"),
        expect: unfit(MP4, &["61fps frame rate too high (max 60fps)"]) },
    // Width 1920 / 1921 and edges 359 / 360 (odd sizes need 4:4:4).
    Entry { name: "width_1920.mp4", source: video!("color=c=gray:s=1920x1080:r=30", "3.5"),
        expect: sized(ok(MP4), 1920, 1080) },
    Entry { name: "width_1921.mp4", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "color=c=gray:s=1921x1080:r=30,format=yuv444p", "-t", "3.5", "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv444p"]),
        expect: sized(unfit(MP4, &["1921x1080 video too wide (max 1920px wide)"]), 1921, 1080) },
    Entry { name: "edge_359.mp4", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "color=c=gray:s=359x640:r=30,format=yuv444p", "-t", "3.5", "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv444p"]),
        expect: unfit(MP4, &["359x640 video resolution too low (min 360px on both edges)"]) },
    Entry { name: "edge_360.mp4", source: video!("color=c=gray:s=360x640:r=30", "3.5"),
        expect: sized(ok(MP4), 360, 640) },
    // Bitrate just over 25 Mbps (CBR with filler so the overall rate is ~26 Mbps).
    Entry { name: "bitrate_26M.mp4", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "testsrc2=s=640x360:r=30", "-t", "3.5", "-c:v", "libx264", "-preset", "ultrafast",
            "-b:v", "26M", "-minrate", "26M", "-maxrate", "26M", "-bufsize", "2M",
            "-x264-params", "nal-hrd=cbr:force-cfr=1", "-pix_fmt", "yuv420p"]),
        expect: unfit(MP4, &["~Mbps bitrate too high (max 25 Mbps)"]) },
    // Codecs and containers.
    Entry { name: "h264_aac.mp4", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "testsrc2=s=1080x1920:r=30", "-f", "lavfi", "-i", "sine=f=440", "-t", "3.5",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
        expect: sized(ok(MP4), 1080, 1920) },
    Entry { name: "h264.mov", source: video!("color=c=black:s=640x360:r=30", "3.5"), expect: ok(MOV) },
    Entry { name: "hevc.mp4", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "color=c=black:s=640x360:r=30", "-t", "3.5", "-c:v", "libx265", "-preset",
            "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-pix_fmt", "yuv420p"]),
        expect: ok(MP4) },
    Entry { name: "hevc.mov", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "color=c=black:s=640x360:r=30", "-t", "3.5", "-c:v", "libx265", "-preset",
            "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-pix_fmt", "yuv420p"]),
        expect: ok(MOV) },
    Entry { name: "mpeg4_part2.mp4", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "color=c=black:s=640x360:r=30", "-t", "3.5", "-c:v", "mpeg4"]),
        expect: unfit(MP4, &["mpeg4 video codec not supported (H.264 or HEVC)"]) },
    Entry { name: "mp3_audio.mp4", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "color=c=black:s=640x360:r=30", "-f", "lavfi", "-i", "sine=f=440", "-t", "3.5",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "libmp3lame"]),
        expect: unfit(MP4, &["mp3 audio codec not supported (AAC or silent)"]) },
    Entry { name: "silent.mp4", source: video!("color=c=black:s=720x1280:r=30", "4"), expect: ok(MP4) },
    Entry { name: "vp9.webm", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "color=c=black:s=640x360:r=30", "-t", "3.5", "-c:v", "libvpx-vp9", "-deadline",
            "realtime", "-cpu-used", "8"]),
        expect: rejected(None, &["unsupported_type"]) },
    Entry { name: "landscape.mp4", source: video!("testsrc2=s=1920x1080:r=30", "3.5"),
        expect: sized(ok(MP4), 1920, 1080) },
    // A phone-style video: stored landscape, rotation metadata says display it upright.
    Entry { name: "rotated_phone.mp4", source: Source::Derived("landscape.mp4", rotate_90),
        expect: sized(ok(MP4), 1080, 1920) },
    // Broken files.
    Entry { name: "truncated.mp4", source: Source::Derived("h264_aac.mp4", truncate_half),
        expect: rejected(Some(MP4), &["unreadable"]) },
    Entry { name: "zero.mp4", source: Source::Bytes(b""), expect: rejected(None, &["empty"]) },
    Entry { name: "png_named.mp4", source: Source::Derived("png_1080.png", copy),
        expect: Expect { content_type: Some(PNG), errors: &["extension_mismatch"], issues: Some(&[]), size: Some((1920, 1080)) } },
    Entry { name: "noise.mp4", source: Source::Bytes(b"this is not a video at all, just some text bytes"),
        expect: rejected(None, &["unreadable"]) },
    Entry { name: "document.pdf", source: Source::Bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"),
        expect: rejected(None, &["unsupported_type"]) },
    // Images at 1079 / 1080 short edge in JPEG, PNG and WebP.
    Entry { name: "jpeg_1080.jpg", source: image!("testsrc=s=1080x1920"), expect: sized(ok(JPEG), 1080, 1920) },
    Entry { name: "jpeg_1079.jpg", source: image!("testsrc=s=1079x1920"),
        expect: unfit(JPEG, &["1079x1920 image resolution too low (min 1080px on the short edge)"]) },
    Entry { name: "png_1080.png", source: image!("testsrc=s=1920x1080"), expect: sized(ok(PNG), 1920, 1080) },
    Entry { name: "png_1079.png", source: image!("testsrc=s=1920x1079"),
        expect: unfit(PNG, &["1920x1079 image resolution too low (min 1080px on the short edge)"]) },
    Entry { name: "webp_1080.webp", source: image!("testsrc=s=1080x1350"), expect: sized(ok(WEBP), 1080, 1350) },
    Entry { name: "webp_1079.webp", source: image!("testsrc=s=1079x1350"),
        expect: unfit(WEBP, &["1079x1350 image resolution too low (min 1080px on the short edge)"]) },
    Entry { name: "webp_lossless.webp", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "color=c=red:s=1200x1080", "-frames:v", "1", "-lossless", "1"]),
        expect: sized(ok(WEBP), 1200, 1080) },
    Entry { name: "square_800.jpg", source: image!("testsrc=s=800x800"),
        expect: unfit(JPEG, &["800x800 image resolution too low (min 1080px on the short edge)"]) },
    Entry { name: "exif_portrait.jpg", source: Source::Derived("landscape_still.jpg", exif_orientation_6),
        expect: sized(ok(JPEG), 1080, 1920) },
    Entry { name: "landscape_still.jpg", source: image!("testsrc=s=1920x1080"), expect: sized(ok(JPEG), 1920, 1080) },
    Entry { name: "animation.gif", source: Source::Ffmpeg(&["-f", "lavfi", "-i",
            "testsrc2=s=320x240:r=10", "-t", "1"]),
        expect: rejected(None, &["unsupported_type"]) },
    Entry { name: "truncated.png", source: Source::Derived("png_1080.png", truncate_half),
        expect: rejected(Some(PNG), &["unreadable"]) },
];

/// Files the folder expansion must leave out (hidden, partial, sidecar).
pub const IGNORED: &[&str] = &[".hidden.mp4", "export.mp4.part", "caption.txt"];

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy");
}

fn truncate_half(from: &Path, to: &Path) {
    let bytes = std::fs::read(from).expect("read");
    std::fs::write(to, &bytes[..bytes.len() / 2]).expect("write");
}

fn rotate_90(from: &Path, to: &Path) {
    ffmpeg(
        &[
            "-i",
            &from.to_string_lossy(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
        to,
    );
}

/// Inserts an EXIF APP1 segment with orientation 6 ("rotate 90° clockwise to display").
fn exif_orientation_6(from: &Path, to: &Path) {
    let jpeg = std::fs::read(from).expect("read");
    let tiff: [u8; 26] = [
        b'I', b'I', 42, 0, 8, 0, 0, 0, // little-endian TIFF, IFD0 at 8
        1, 0, // one entry
        0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, // Orientation, SHORT, 1, value 6
        0, 0, 0, 0, // no next IFD
    ];
    let mut app1 = vec![0xFF, 0xE1];
    let len = (2 + 6 + tiff.len()) as u16;
    app1.extend_from_slice(&len.to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    std::fs::write(to, out).expect("write");
}

/// Runs ffmpeg quietly with `args`, writing `out`; panics with the file name on failure.
pub fn ffmpeg(args: &[&str], out: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-nostdin"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg must be installed (make deps)");
    assert!(status.success(), "ffmpeg failed making {}", out.display());
}

/// The corpus directory, generated on first use.
pub fn corpus() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = root.join(format!("corpus-v{CORPUS_VERSION}"));
        if dir.join(".complete").exists() {
            return dir;
        }
        let tmp = root.join(format!(
            "corpus-v{CORPUS_VERSION}.tmp-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).expect("create corpus dir");
        generate(&tmp);
        std::fs::write(tmp.join(".complete"), b"").expect("mark complete");
        // Another process may have won the race: then use its copy and drop ours.
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
}

fn generate(dir: &Path) {
    // Plain ffmpeg entries in parallel (2 at a time per core is plenty), then derived ones.
    let plain: Vec<&Entry> = ENTRIES
        .iter()
        .filter(|e| matches!(e.source, Source::Ffmpeg(_) | Source::Bytes(_)))
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(e) = plain.get(i) else { break };
                let out = dir.join(e.name);
                match &e.source {
                    Source::Ffmpeg(args) => ffmpeg(args, &out),
                    Source::Bytes(b) => std::fs::write(&out, b).expect("write"),
                    Source::Derived(..) => {}
                }
            });
        }
    });
    for e in ENTRIES {
        if let Source::Derived(from, f) = &e.source {
            f(&dir.join(from), &dir.join(e.name));
        }
    }
    for name in IGNORED {
        std::fs::write(dir.join(name), b"ignored").expect("write");
    }
}
