//! `layers-upload fit` end to end: real ffmpeg-made media, the real binary, and two judges for
//! every copy: our own inspection and `layers-sandbox`'s finalize. Also: the length and the
//! audio/video sync of each copy, the original's bytes, the unfixable said plainly, no file
//! replaced, and a kill mid-conversion leaving nothing under the final name.
//!
//! The copies are encoded with `LAYERS_FIT_PRESET=ultrafast` (the product's default is x264's
//! `medium`): these tests check what changes, not how good the picture is.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig};
use layers_uploader::media::inspect::sha256_path;
use serde_json::Value;
use support::fit_media::{source, LOW_CAP_BYTES};

const KEY: &str = "lp_live_fit1_FitTestKeyValue";

fn cli(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-upload"));
    cmd.args(args)
        .env_remove("LAYERS_VIDEO_CAP_BYTES")
        .env_remove("LAYERS_FFMPEG")
        .env("LAYERS_FIT_PRESET", "ultrafast")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run layers-upload")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

fn say(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `fit --json --out DIR` with extra environment; returns the rows and the output.
fn fit(paths: &[PathBuf], out_dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = cli(&["fit", "--json", "--out"]);
    cmd.arg(out_dir).args(extra).args(paths);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

fn fits_both(platform_fit: &Value) -> bool {
    let list = platform_fit.as_array().expect("platformFit is a list");
    let names: Vec<&str> = list.iter().filter_map(|p| p["platform"].as_str()).collect();
    names == ["tiktok", "instagram"] && list.iter().all(|p| p["ok"] == true)
}

/// Stream timing as ffprobe reads it: (format duration, video start, audio start, video fps).
fn timing(path: &Path) -> (f64, f64, Option<f64>, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let num = |x: &Value| x.as_str().and_then(|s| s.parse::<f64>().ok());
    let stream = |kind: &str| {
        v["streams"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["codec_type"] == kind).cloned())
    };
    let video = stream("video").expect("a video stream");
    let rate = video["avg_frame_rate"].as_str().unwrap_or("0/1");
    let (n, d) = rate.split_once('/').unwrap_or((rate, "1"));
    let fps = n.parse::<f64>().unwrap_or(0.0) / d.parse::<f64>().unwrap_or(1.0);
    (
        num(&v["format"]["duration"]).expect("a duration"),
        num(&video["start_time"]).unwrap_or(0.0),
        stream("audio").and_then(|a| num(&a["start_time"])),
        fps,
    )
}

/// The copy lasts as long as the source (or `expect_secs`) within one frame, and its audio
/// starts with its video within one frame.
fn assert_length_and_sync(src: &Path, copy: &Path, expect_secs: Option<f64>) {
    let (src_len, _, _, src_fps) = timing(src);
    let (len, v0, a0, fps) = timing(copy);
    let frame = 1.0 / src_fps.min(fps) + 0.001;
    let want = expect_secs.unwrap_or(src_len);
    assert!(
        (len - want).abs() <= frame,
        "{}: {len}s, want {want}s within one frame ({frame}s)",
        copy.display()
    );
    if let Some(a0) = a0 {
        assert!(
            (a0 - v0).abs() <= frame,
            "{}: audio starts at {a0}s, video at {v0}s",
            copy.display()
        );
    }
}

/// Uploads the copies to an in-process sandbox (with `cap` as its video cap) and checks that
/// every finalized item fits both platforms by the sandbox's own measurement.
fn sandbox_agrees(copies: &[PathBuf], cap: Option<u64>) {
    let mut config = SandboxConfig::default();
    if let Some(cap) = cap {
        config = config.video_cap_bytes(cap);
    }
    let (base, handle) = Sandbox::start(config).expect("sandbox starts");
    let data = tempfile::tempdir().unwrap();
    let mut cmd = cli(&["upload", "--json", "--caption", "made to fit"]);
    cmd.args(copies)
        .env("LAYERS_API_KEY", KEY)
        .env("LAYERS_API_BASE", &base)
        .env("LAYERS_PROJECT_ID", &handle.projects()[0])
        .env("LAYERS_UPLOADER_DATA_DIR", data.path());
    if let Some(cap) = cap {
        cmd.env("LAYERS_VIDEO_CAP_BYTES", cap.to_string());
    }
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "upload: {}", say(&out));
    let items = json_lines(&out);
    assert_eq!(
        items.len(),
        copies.len(),
        "one item per copy: {}",
        say(&out)
    );
    for item in &items {
        assert!(
            fits_both(&item["platformFit"]),
            "the sandbox's finalize says a copy does not fit: {item}"
        );
    }
}

/// Fits `names`, then checks each copy by every judge; returns the copies and their folder.
fn fit_and_judge(
    names: &[&str],
    envs: &[(&str, &str)],
    cap: Option<u64>,
) -> (tempfile::TempDir, Vec<PathBuf>) {
    let sources: Vec<PathBuf> = names.iter().map(|n| source(n)).collect();
    let before: Vec<String> = sources.iter().map(|s| sha256_path(s).unwrap()).collect();
    let out_dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = fit(&sources, out_dir.path(), &[], envs);
    eprintln!("fit {names:?}: {:.1}s", started.elapsed().as_secs_f64());
    assert_eq!(out.status.code(), Some(0), "{}", say(&out));
    let rows = json_lines(&out);
    assert_eq!(rows.len(), names.len(), "{}", say(&out));
    let mut copies = Vec::new();
    for ((row, src), sha) in rows.iter().zip(&sources).zip(&before) {
        let name = src.file_name().unwrap().to_string_lossy();
        assert_eq!(row["errors"], Value::Array(vec![]), "{name}: {row}");
        assert!(
            !row["changes"].as_array().unwrap().is_empty(),
            "{name}: {row}"
        );
        assert!(fits_both(&row["platformFit"]), "{name}: {row}");
        let copy = PathBuf::from(row["output"].as_str().expect("a copy was made"));
        let stem = name.trim_end_matches(".mp4");
        assert_eq!(copy, out_dir.path().join(format!("{stem}.fit.mp4")));
        assert_length_and_sync(src, &copy, None);
        assert_eq!(
            &sha256_path(src).unwrap(),
            sha,
            "{name}: the original changed"
        );
        copies.push(copy);
    }
    // Our own inspection, in a separate run, agrees with what fit printed.
    let mut probe = cli(&["probe", "--json"]);
    probe.args(&copies);
    for (k, v) in envs {
        probe.env(k, v);
    }
    let probed = run(&mut probe);
    assert_eq!(probed.status.code(), Some(0), "{}", say(&probed));
    for row in json_lines(&probed) {
        assert!(fits_both(&row["platformFit"]), "probe: {row}");
    }
    sandbox_agrees(&copies, cap);
    (out_dir, copies)
}

#[test]
fn codec_audio_and_frame_rate_fixes_fit_both_platforms_and_the_sandbox_agrees() {
    let (_dir, copies) = fit_and_judge(
        &["mpeg4.mp4", "mp3.mp4", "fps15.mp4", "fps120.mp4"],
        &[],
        None,
    );
    let (_, _, _, fps) = timing(&copies[2]);
    assert!((fps - 30.0).abs() < 0.01, "15 fps becomes 30: {fps}");
    let (_, _, _, fps) = timing(&copies[3]);
    assert!((fps - 60.0).abs() < 0.01, "120 fps becomes 60: {fps}");
}

#[test]
fn size_fixes_scale_wide_and_rotated_video_and_cap_the_bitrate() {
    let (_dir, copies) = fit_and_judge(
        &["wide_2560x1440.mp4", "rotated_phone.mp4", "bitrate_30M.mp4"],
        &[],
        None,
    );
    let probed = run(cli(&["probe", "--json"]).args(&copies));
    let rows = json_lines(&probed);
    let row = |copy: &Path| {
        rows.iter()
            .find(|r| r["path"].as_str() == Some(&*copy.to_string_lossy()))
            .unwrap_or_else(|| panic!("{} not probed", copy.display()))
    };
    let size = |r: &Value| {
        (
            r["width"].as_u64(),
            r["height"].as_u64(),
            r["rotation"].as_i64(),
        )
    };
    assert_eq!(size(row(&copies[0])), (Some(1920), Some(1080), Some(0)));
    // The phone video displays upright as before, with no rotation left to apply.
    assert_eq!(size(row(&copies[1])), (Some(1440), Some(2560), Some(0)));
    let diff = frame_difference(&source("rotated_phone.mp4"), &copies[1]);
    assert!(
        diff <= 8,
        "the copy must look like the original: differs by {diff}/255"
    );
    assert!(row(&copies[2])["bitrateBps"].as_u64().unwrap() <= 25_000_000);
}

#[test]
fn a_video_over_the_lowered_cap_gets_a_copy_under_it() {
    let cap = LOW_CAP_BYTES.to_string();
    let (_dir, copies) = fit_and_judge(
        &["over_cap.mp4"],
        &[("LAYERS_VIDEO_CAP_BYTES", &cap)],
        Some(LOW_CAP_BYTES),
    );
    let size = std::fs::metadata(&copies[0]).unwrap().len();
    assert!(size <= LOW_CAP_BYTES, "{size} bytes over the {cap} cap");
}

#[test]
fn too_long_needs_trim_and_trim_cuts_to_ten_minutes() {
    let src = source("long_10m05s.mp4");
    let out_dir = tempfile::tempdir().unwrap();
    let refused = fit(std::slice::from_ref(&src), out_dir.path(), &[], &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", say(&refused));
    let row = &json_lines(&refused)[0];
    assert_eq!(row["output"], Value::Null);
    assert_eq!(row["errors"][0]["code"], "cannot_fit");
    assert!(
        row["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--trim"),
        "{row}"
    );
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);

    let trimmed = fit(std::slice::from_ref(&src), out_dir.path(), &["--trim"], &[]);
    assert_eq!(trimmed.status.code(), Some(0), "{}", say(&trimmed));
    let row = &json_lines(&trimmed)[0];
    assert!(fits_both(&row["platformFit"]), "{row}");
    assert!(
        row["changes"][0]
            .as_str()
            .unwrap()
            .starts_with("cut from 10:05 to its first 9:59.9"),
        "the trim is said in the result: {row}"
    );
    let copy = PathBuf::from(row["output"].as_str().unwrap());
    assert_length_and_sync(&src, &copy, Some(599.9));
    sandbox_agrees(&[copy], None);
}

#[test]
fn the_unfixable_are_said_plainly_and_what_fits_is_left_alone() {
    let out_dir = tempfile::tempdir().unwrap();
    let names = ["short_2s.mp4", "small_320x240.mp4", "square_800.jpg"];
    let sources: Vec<PathBuf> = names.iter().map(|n| source(n)).collect();
    let out = fit(&sources, out_dir.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", say(&out));
    let rows = json_lines(&out);
    for (row, hint) in rows
        .iter()
        .zip(["shorter than", "under 360px", "under 1080px"])
    {
        assert_eq!(row["output"], Value::Null, "{row}");
        assert_eq!(row["errors"][0]["code"], "cannot_fit", "{row}");
        let message = row["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(hint) && message.contains("re-export"),
            "{message}"
        );
    }
    let fitting = fit(&[source("fits.mp4")], out_dir.path(), &[], &[]);
    assert_eq!(fitting.status.code(), Some(0), "{}", say(&fitting));
    let row = &json_lines(&fitting)[0];
    assert_eq!(
        row["output"],
        Value::Null,
        "no copy of a file that fits: {row}"
    );
    assert_eq!(row["changes"], Value::Array(vec![]));
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);
}

#[test]
fn a_copy_beside_the_original_never_replaces_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("clip.mp4");
    std::fs::copy(source("mp3.mp4"), &src).unwrap();
    std::fs::write(dir.path().join("clip.fit.mp4"), b"someone's file").unwrap();
    let out = run(cli(&["fit", "--json"]).arg(&src));
    assert_eq!(out.status.code(), Some(0), "{}", say(&out));
    assert_eq!(
        json_lines(&out)[0]["output"].as_str().unwrap(),
        dir.path().join("clip.fit (2).mp4").to_string_lossy()
    );
    assert_eq!(
        std::fs::read(dir.path().join("clip.fit.mp4")).unwrap(),
        b"someone's file"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn a_kill_mid_conversion_leaves_nothing_under_the_final_name() {
    for signal in ["-KILL", "-INT"] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = cli(&["fit", "--out"])
            .arg(dir.path())
            .arg(source("slow_15fps.mp4"))
            // Slow on purpose, so the kill lands mid-conversion.
            .env("LAYERS_FIT_PRESET", "veryslow")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !partial_exists(dir.path()) {
            assert!(Instant::now() < deadline, "no conversion started");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        if signal == "-INT" {
            assert_eq!(status.code(), Some(130), "Ctrl-C exits 130");
            assert!(
                !partial_exists(dir.path()),
                "Ctrl-C removes the partial file"
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !dir.path().join("slow_15fps.fit.mp4").exists(),
            "{signal}: a half file under the final name"
        );
    }
}

#[test]
fn a_missing_ffmpeg_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(cli(&["fit", "--out"])
        .arg(dir.path())
        .arg(source("mp3.mp4"))
        .env("LAYERS_FFMPEG", "/nonexistent/ffmpeg"));
    assert_eq!(out.status.code(), Some(2), "{}", say(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ffmpeg is not installed"),
        "{}",
        say(&out)
    );
}

fn partial_exists(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".part"))
        })
        .unwrap_or(false)
}

/// How far apart (0–255, mean absolute difference) the displayed first frames of two videos
/// are, each turned upright by ffmpeg and shrunk to 18x32 grey: 0 for the same picture, far
/// more for a picture on its side.
fn frame_difference(a: &Path, b: &Path) -> u8 {
    let grab = |p: &Path| {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(p)
            .args([
                "-frames:v",
                "1",
                "-vf",
                "scale=18:32,format=gray",
                "-f",
                "rawvideo",
                "-",
            ])
            .output()
            .expect("ffmpeg");
        out.stdout
    };
    let (x, y) = (grab(a), grab(b));
    assert_eq!(x.len(), 18 * 32, "one small grey frame");
    assert_eq!(x.len(), y.len());
    let total: u64 = x
        .iter()
        .zip(&y)
        .map(|(p, q)| u64::from(p.abs_diff(*q)))
        .sum();
    (total / x.len() as u64) as u8
}

#[test]
fn upload_make_fit_queues_the_copy_instead_of_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("clip.mp4");
    std::fs::copy(source("fps120.mp4"), &src).unwrap();
    let sha = sha256_path(&src).unwrap();
    let (base, handle) = Sandbox::start(SandboxConfig::default()).expect("sandbox starts");
    let data = tempfile::tempdir().unwrap();
    let out = run(
        cli(&["upload", "--json", "--make-fit", "--caption", "fitted"])
            .arg(&src)
            .env("LAYERS_API_KEY", KEY)
            .env("LAYERS_API_BASE", &base)
            .env("LAYERS_PROJECT_ID", &handle.projects()[0])
            .env("LAYERS_UPLOADER_DATA_DIR", data.path()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", say(&out));
    let items = json_lines(&out);
    assert_eq!(items.len(), 1, "{}", say(&out));
    assert!(fits_both(&items[0]["platformFit"]), "{}", items[0]);
    let copy = dir.path().join("clip.fit.mp4");
    assert_eq!(
        items[0]["assets"][0]["sizeBytes"].as_u64(),
        Some(std::fs::metadata(&copy).unwrap().len()),
        "the copy's bytes were uploaded, not the original's"
    );
    assert_eq!(sha256_path(&src).unwrap(), sha, "the original changed");
}
