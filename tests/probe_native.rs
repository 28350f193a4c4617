//! The native MP4/MOV reader against ffprobe: for every corpus file and a set of harder
//! variants (B-frames with edit lists, NTSC rates, faststart, cropped H.264 and HEVC, every
//! quarter turn, more audio codecs), a file it accepts must get exactly ffprobe's figures, and
//! it must decline what it cannot be sure of (fragmented, truncated, other containers).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use layers_uploader::media::probe::{probe_ffprobe, probe_native};
use support::corpus::{corpus, ffmpeg, ENTRIES};

const SRC: &[&str] = &["-f", "lavfi", "-i", "testsrc2=s=640x360:r=30", "-t", "3.2"];
const SINE: &[&str] = &["-f", "lavfi", "-i", "sine=f=440", "-t", "3.2"];

/// Extra files: name, ffmpeg arguments (the output is appended), whether the reader must
/// accept it.
fn variants(dir: &Path) -> Vec<(PathBuf, bool)> {
    let x264 = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ];
    let mut made = Vec::new();
    let mut make = |name: &str, args: Vec<&str>, accepted: bool| {
        let out = dir.join(name);
        ffmpeg(&args, &out);
        made.push((out, accepted));
    };
    make(
        "bframes_aac.mp4",
        [
            SRC,
            SINE,
            &[
                "-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p", "-c:a", "aac",
            ],
        ]
        .concat(),
        true,
    );
    make(
        "ntsc.mp4",
        [
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=s=640x360:r=30000/1001",
                "-t",
                "3.5",
            ][..],
            &x264,
        ]
        .concat(),
        true,
    );
    make(
        "faststart.mov",
        [
            SRC,
            SINE,
            &x264,
            &["-c:a", "aac", "-movflags", "+faststart"],
        ]
        .concat(),
        true,
    );
    make(
        "odd_h264.mp4",
        [
            &["-f", "lavfi", "-i", "testsrc2=s=642x362:r=25", "-t", "3.2"][..],
            &x264,
        ]
        .concat(),
        true,
    );
    make(
        "odd_hevc.mp4",
        vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=642x362:r=24",
            "-t",
            "3.2",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
            "-tag:v",
            "hvc1",
            "-pix_fmt",
            "yuv420p",
        ],
        true,
    );
    make(
        "ac3.mp4",
        [SRC, SINE, &x264, &["-c:a", "ac3"]].concat(),
        true,
    );
    make(
        "opus.mp4",
        [SRC, SINE, &x264, &["-c:a", "libopus"]].concat(),
        true,
    );
    make(
        "fragmented.mp4",
        [SRC, &x264, &["-movflags", "frag_keyframe+empty_moov"]].concat(),
        false,
    );
    make(
        "sar_2_1.mp4",
        [SRC, &x264, &["-vf", "setsar=2"]].concat(),
        false,
    );
    let base = dir.join("bframes_aac.mp4").to_string_lossy().into_owned();
    for turn in ["90", "180", "270"] {
        let name = format!("rotate_{turn}.mp4");
        let tag = format!("rotate={turn}");
        make(
            &name,
            vec!["-i", &base, "-c", "copy", "-metadata:s:v:0", &tag],
            true,
        );
    }
    made
}

fn compare(path: &Path) -> Result<(), String> {
    let mut file = std::fs::File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let native = probe_native(&mut file, size).map_err(|d| d.to_string())?;
    let ffprobe = probe_ffprobe(path)
        .unwrap_or_else(|e| panic!("{}: native read it, ffprobe said {e}", path.display()));
    assert_eq!(
        native,
        ffprobe,
        "{}: native and ffprobe differ",
        path.display()
    );
    Ok(())
}

#[test]
fn accepted_files_get_exactly_ffprobes_figures() {
    let mut accepted = BTreeSet::new();
    let mut declined = BTreeSet::new();
    for entry in ENTRIES {
        let path = corpus().join(entry.name);
        match compare(&path) {
            Ok(()) => accepted.insert(entry.name.to_string()),
            Err(why) => declined.insert(format!("{} ({why})", entry.name)),
        };
    }
    // Every clean MP4/MOV in the corpus is read natively (else the fast path is dead code).
    for entry in ENTRIES {
        let clean = entry.expect.errors.is_empty()
            && matches!(
                entry.expect.content_type,
                Some("video/mp4" | "video/quicktime")
            );
        assert!(
            !clean || accepted.contains(entry.name),
            "{} was left to ffprobe; declined: {declined:?}",
            entry.name
        );
    }
    // The damaged and foreign ones go to ffprobe.
    for name in [
        "truncated.mp4",
        "noise.mp4",
        "vp9.webm",
        "zero.mp4",
        "png_named.mp4",
    ] {
        assert!(!accepted.contains(name), "{name} must be left to ffprobe");
    }

    let dir = tempfile::tempdir().unwrap();
    for (path, must_accept) in variants(dir.path()) {
        let got = compare(&path);
        assert_eq!(
            got.is_ok(),
            must_accept,
            "{}: expected {}, got {got:?}",
            path.display(),
            if must_accept { "accepted" } else { "declined" }
        );
    }
}

#[test]
fn layers_probe_ffprobe_turns_the_native_reader_off() {
    let out = Command::new(env!("CARGO_BIN_EXE_layers-upload"))
        .args(["probe", "--json"])
        .arg(corpus().join("h264_aac.mp4"))
        .env("LAYERS_PROBE", "ffprobe")
        .env("LAYERS_FFPROBE", "/nonexistent/ffprobe")
        .env("LAYERS_DATA_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ffprobe is not installed"),
        "with the native reader off, a missing ffprobe must show: {text}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_layers-upload"))
        .args(["probe", "--json"])
        .arg(corpus().join("h264_aac.mp4"))
        .env("LAYERS_FFPROBE", "/nonexistent/ffprobe")
        .env("LAYERS_DATA_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a clean MP4 needs no ffprobe: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Damage anywhere in the header never panics or misreads: each of many single-byte and
/// multi-byte corruptions of a real `moov` is either declined or read as ffprobe reads it.
#[test]
fn corrupted_headers_are_declined_or_read_exactly() {
    // PROBE_FUZZ_ROUNDS and PROBE_FUZZ_FILE (a corpus name) widen the search by hand.
    let rounds: usize = std::env::var("PROBE_FUZZ_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(400);
    let name = std::env::var("PROBE_FUZZ_FILE").unwrap_or_else(|_| "h264_aac.mp4".into());
    let clean = std::fs::read(corpus().join(name)).unwrap();
    let moov = clean
        .windows(4)
        .rposition(|w| w == b"moov")
        .expect("the corpus MP4 has a moov")
        - 4;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.mp4");
    // A fixed linear congruential sequence: the same corruptions on every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) as usize
    };
    let mut agreed = 0;
    for round in 0..rounds {
        let mut bytes = clean.clone();
        for _ in 0..1 + round % 3 {
            let at = moov + next() % (clean.len() - moov);
            bytes[at] = match next() % 4 {
                0 => 0,
                1 => 0xff,
                2 => bytes[at] ^ 0x80,
                _ => next() as u8,
            };
        }
        std::fs::write(&path, &bytes).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let size = bytes.len() as u64;
        if let Ok(native) = probe_native(&mut file, size) {
            // Keep a failing file where a person can look at it.
            let keep = || {
                let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{round}.mp4"));
                std::fs::write(&kept, &bytes).unwrap();
                kept.display().to_string()
            };
            // Only compare when ffprobe can read it too; a header ffprobe rejects but ours
            // accepts would be a finding.
            let ffprobe = probe_ffprobe(&path);
            match ffprobe {
                Ok(f) if f == native => agreed += 1,
                Ok(f) => {
                    // A changed figure both read the same way is fine; a different one is not.
                    assert_eq!(
                        native,
                        f,
                        "round {round}: native and ffprobe differ ({})",
                        keep()
                    );
                }
                Err(e) => panic!(
                    "round {round}: native read {} but ffprobe rejects it ({e})",
                    keep()
                ),
            }
        }
    }
    eprintln!("{agreed} of {rounds} corrupted headers were read, each exactly as ffprobe reads it");
    assert!(
        agreed > 0,
        "some corruptions (in unread fields) must still read"
    );
}
