//! Real media for the `fit` tests, one file per rule a copy can fix and per rule it cannot,
//! made with ffmpeg once per target dir (atomically, like the corpus). Small where the rule
//! allows and `ultrafast` throughout: the picture is not what these files test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::corpus::ffmpeg;

/// Bump when a recipe changes, so a stale cached set is never used.
const VERSION: u32 = 2;

/// (file name, ffmpeg arguments before the output). The longest first, so two workers end
/// together.
#[rustfmt::skip]
pub const RECIPES: &[(&str, &[&str])] = &[
    // 10 min 05 s: tiny, black, 24 fps, with sound.
    ("long_10m05s.mp4", &["-f", "lavfi", "-i", "color=c=black:s=480x360:r=24", "-f", "lavfi", "-i",
        "sine=f=440", "-t", "605", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k"]),
    // 40 s at 15 fps: long enough to be killed mid-conversion.
    ("slow_15fps.mp4", &["-f", "lavfi", "-i", "testsrc2=s=640x360:r=15", "-t", "40", "-c:v",
        "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]),
    ("mpeg4.mp4", &["-f", "lavfi", "-i", "testsrc2=s=640x360:r=30", "-f", "lavfi", "-i", "sine=f=440",
        "-t", "3.5", "-c:v", "mpeg4", "-q:v", "4", "-c:a", "aac"]),
    ("mp3.mp4", &["-f", "lavfi", "-i", "testsrc2=s=640x360:r=30", "-f", "lavfi", "-i", "sine=f=440",
        "-t", "3.5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a",
        "libmp3lame", "-ac", "2"]),
    ("fps15.mp4", &["-f", "lavfi", "-i", "testsrc2=s=640x360:r=15", "-f", "lavfi", "-i", "sine=f=440",
        "-t", "3.5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    ("fps120.mp4", &["-f", "lavfi", "-i", "testsrc2=s=640x360:r=120", "-f", "lavfi", "-i", "sine=f=440",
        "-t", "3.5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    ("wide_2560x1440.mp4", &["-f", "lavfi", "-i", "testsrc2=s=2560x1440:r=30", "-f", "lavfi", "-i",
        "sine=f=440", "-t", "3.5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac"]),
    // A phone video: stored 2560x1440 (MPEG-4 part 2, so it must be re-encoded); rotation
    // metadata (added by a stream copy, see `media`) says display it upright, 1440x2560.
    ("phone_stored.mp4", &["-f", "lavfi", "-i", "testsrc2=s=2560x1440:r=30", "-f", "lavfi", "-i",
        "sine=f=440", "-t", "3.5", "-c:v", "mpeg4", "-q:v", "8", "-c:a", "aac"]),
    ("bitrate_30M.mp4", &["-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30", "-f", "lavfi", "-i",
        "sine=f=440", "-t", "3.5", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "30M",
        "-minrate", "30M", "-maxrate", "30M", "-bufsize", "3M", "-x264-params", "nal-hrd=cbr",
        "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    // ~3 MB: over a 2 MiB cap (the tests lower the cap with LAYERS_VIDEO_CAP_BYTES).
    ("over_cap.mp4", &["-f", "lavfi", "-i", "testsrc2=s=640x360:r=30", "-f", "lavfi", "-i",
        "sine=f=440", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "6M",
        "-minrate", "6M", "-maxrate", "6M", "-bufsize", "1M", "-x264-params", "nal-hrd=cbr",
        "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    ("fits.mp4", &["-f", "lavfi", "-i", "testsrc2=s=640x360:r=30", "-f", "lavfi", "-i", "sine=f=440",
        "-t", "3.5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    ("short_2s.mp4", &["-f", "lavfi", "-i", "testsrc2=s=640x360:r=30", "-t", "2", "-c:v", "libx264",
        "-preset", "ultrafast", "-pix_fmt", "yuv420p"]),
    ("small_320x240.mp4", &["-f", "lavfi", "-i", "testsrc2=s=320x240:r=30", "-t", "3.5", "-c:v",
        "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]),
    ("square_800.jpg", &["-f", "lavfi", "-i", "testsrc=s=800x800", "-frames:v", "1"]),
];

/// The cap the over-cap tests set, so `over_cap.mp4` (~3 MB) is over it.
pub const LOW_CAP_BYTES: u64 = 2 * 1024 * 1024;

/// The folder of generated media, made on first use.
pub fn media() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = root.join(format!("fit-media-v{VERSION}"));
        if dir.join(".complete").exists() {
            return dir;
        }
        let tmp = root.join(format!("fit-media-v{VERSION}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).expect("create fit media dir");
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((name, args)) = RECIPES.get(i) else {
                        break;
                    };
                    ffmpeg(args, &tmp.join(name));
                });
            }
        });
        // ffmpeg 5.1 writes the rotation tag only on a stream copy.
        let stored = tmp.join("phone_stored.mp4");
        let stored = stored.to_string_lossy();
        ffmpeg(
            &["-i", &stored, "-c", "copy", "-metadata:s:v:0", "rotate=90"],
            &tmp.join("rotated_phone.mp4"),
        );
        std::fs::write(tmp.join(".complete"), b"").expect("mark complete");
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
}

/// A generated file's path.
pub fn source(name: &str) -> PathBuf {
    media().join(name)
}
