//! `layers-upload probe` over the generated corpus: every file classified exactly as the
//! documented table says, the exit codes, the folder expansion, the caps overrides, the cache.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use layers_uploader::media::{Inspector, Limits};
use serde_json::Value;
use support::corpus::{corpus, ENTRIES, IGNORED};

fn probe(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-upload"));
    cmd.arg("probe").args(args);
    cmd.env_remove("LAYERS_VIDEO_CAP_BYTES")
        .env_remove("LAYERS_IMAGE_CAP_BYTES");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run layers-upload")
}

fn json_rows(out: &Output) -> HashMap<String, Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}"));
            let name = Path::new(v["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, v)
        })
        .collect()
}

fn path_of(name: &str) -> String {
    corpus().join(name).to_string_lossy().into_owned()
}

#[test]
fn the_corpus_is_classified_exactly_as_documented() {
    let dir = corpus().to_string_lossy().into_owned();
    let out = probe(&["--json", &dir], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the corpus has rejected files, so exit 1"
    );
    let rows = json_rows(&out);
    let mut failures = Vec::new();
    for e in ENTRIES {
        let Some(row) = rows.get(e.name) else {
            failures.push(format!("{}: missing from the output", e.name));
            continue;
        };
        let ct = row["contentType"].as_str();
        if ct != e.expect.content_type {
            failures.push(format!(
                "{}: contentType {ct:?}, want {:?}",
                e.name, e.expect.content_type
            ));
        }
        let codes: Vec<&str> = row["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["code"].as_str().unwrap())
            .collect();
        if codes != e.expect.errors {
            failures.push(format!(
                "{}: errors {codes:?}, want {:?} ({})",
                e.name, e.expect.errors, row["errors"]
            ));
        }
        let fit = row["platformFit"].as_array().unwrap();
        match e.expect.issues {
            None => {}
            Some(want) => {
                let platforms: Vec<&str> = fit
                    .iter()
                    .map(|p| p["platform"].as_str().unwrap())
                    .collect();
                if platforms != ["tiktok", "instagram"] {
                    failures.push(format!("{}: platforms {platforms:?}", e.name));
                    continue;
                }
                for p in fit {
                    let got: Vec<&str> = p["issues"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i.as_str().unwrap())
                        .collect();
                    let matches = got.len() == want.len()
                        && got
                            .iter()
                            .zip(want.iter())
                            .all(|(g, w)| match w.strip_prefix('~') {
                                Some(part) => g.contains(part),
                                None => g == w,
                            });
                    if !matches {
                        failures.push(format!(
                            "{} on {}: issues {got:?}, want {want:?}",
                            e.name, p["platform"]
                        ));
                    }
                    if p["ok"].as_bool() != Some(want.is_empty()) {
                        failures.push(format!(
                            "{} on {}: ok={} disagrees with issues",
                            e.name, p["platform"], p["ok"]
                        ));
                    }
                }
            }
        }
        if let Some((w, h)) = e.expect.size {
            let got = (row["width"].as_u64(), row["height"].as_u64());
            if got != (Some(w.into()), Some(h.into())) {
                failures.push(format!("{}: displayed size {got:?}, want {w}x{h}", e.name));
            }
        }
    }
    for name in IGNORED {
        if rows.contains_key(*name) {
            failures.push(format!("{name}: a folder probe must leave it out"));
        }
    }
    assert!(
        failures.is_empty(),
        "misclassified:\n{}",
        failures.join("\n")
    );
}

#[test]
fn figures_of_a_clean_video_are_measured() {
    let out = probe(&["--json", &path_of("h264_aac.mp4")], &[]);
    assert_eq!(out.status.code(), Some(0));
    let row = &json_rows(&out)["h264_aac.mp4"];
    assert_eq!(row["kind"], "video");
    assert_eq!(row["videoCodec"], "h264");
    assert_eq!(row["audioCodec"], "aac");
    assert_eq!(row["durationMs"], 3500);
    assert_eq!(row["fps"], 30.0);
    assert_eq!(row["rotation"], 0);
    assert!(row["bitrateBps"].as_u64().unwrap() > 0);
    let bytes = std::fs::read(corpus().join("h264_aac.mp4")).unwrap();
    assert_eq!(row["sizeBytes"].as_u64(), Some(bytes.len() as u64));
    let sha = Command::new("sha256sum")
        .arg(corpus().join("h264_aac.mp4"))
        .output()
        .unwrap();
    let want = String::from_utf8_lossy(&sha.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        row["sha256"],
        want.as_str(),
        "sha-256 agrees with sha256sum"
    );
}

#[test]
fn rotation_metadata_is_applied_and_reported() {
    let out = probe(
        &[
            "--json",
            &path_of("rotated_phone.mp4"),
            &path_of("exif_portrait.jpg"),
        ],
        &[],
    );
    let rows = json_rows(&out);
    let video = &rows["rotated_phone.mp4"];
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(1080), Some(1920))
    );
    let r = video["rotation"].as_i64().unwrap();
    assert!(r == 90 || r == 270, "a quarter turn, got {r}");
    let still = &rows["exif_portrait.jpg"];
    assert_eq!(still["rotation"], 90);
}

#[test]
fn extension_mismatch_names_both_types() {
    let out = probe(&["--json", &path_of("png_named.mp4")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let row = &json_rows(&out)["png_named.mp4"];
    assert_eq!(row["contentType"], "image/png");
    assert_eq!(row["kind"], "image");
    let msg = row["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains(".mp4") && msg.contains("PNG") && msg.contains("png_named.png"),
        "{msg}"
    );
}

#[test]
fn exit_codes_follow_the_contract() {
    // Fit issues are advisory: still exit 0.
    let ok = probe(&[&path_of("dur_3s.mp4"), &path_of("jpeg_1079.jpg")], &[]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // Any hard error: exit 1.
    let bad = probe(&[&path_of("dur_3s.mp4"), &path_of("zero.mp4")], &[]);
    assert_eq!(bad.status.code(), Some(1));
    // A missing path is a `not_found` row, exit 1.
    let missing = probe(&["--json", "/nonexistent/clip.mp4"], &[]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        json_rows(&missing)["clip.mp4"]["errors"][0]["code"],
        "not_found"
    );
    // Usage errors: exit 2.
    assert_eq!(probe(&[], &[]).status.code(), Some(2));
    assert_eq!(probe(&["--no-such-flag", "x"], &[]).status.code(), Some(2));
}

#[test]
fn the_table_marks_each_platform_and_lists_issues() {
    let out = probe(
        &[
            &path_of("square_800.jpg"),
            &path_of("h264_aac.mp4"),
            &path_of("vp9.webm"),
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("TikTok ✓") && text.contains("Instagram ✓"),
        "{text}"
    );
    assert!(text.contains("TikTok !"), "{text}");
    assert!(
        text.contains("800x800 image resolution too low (min 1080px on the short edge)"),
        "{text}"
    );
    assert!(
        text.contains("1080×1920 · 3.5 s · 30 fps · H.264/AAC"),
        "{text}"
    );
    assert!(
        text.contains("unsupported_type") && text.contains("WebM"),
        "{text}"
    );
    assert!(
        text.contains("3 file(s): 2 accepted (1 with platform-fit issues), 1 rejected"),
        "{text}"
    );
    assert!(
        !text.contains('\x1b'),
        "no colour codes when stdout is not a terminal"
    );
}

#[test]
fn caps_are_overridable_from_the_environment() {
    let small = [
        ("LAYERS_IMAGE_CAP_BYTES", "1000"),
        ("LAYERS_VIDEO_CAP_BYTES", "1000"),
    ];
    let out = probe(
        &[
            "--json",
            &path_of("jpeg_1080.jpg"),
            &path_of("h264_aac.mp4"),
        ],
        &small,
    );
    assert_eq!(out.status.code(), Some(1));
    let rows = json_rows(&out);
    assert_eq!(rows["jpeg_1080.jpg"]["errors"][0]["code"], "too_large");
    let video = &rows["h264_aac.mp4"];
    assert_eq!(video["errors"][0]["code"], "too_large");
    let issues = video["platformFit"][0]["issues"].as_array().unwrap();
    assert!(
        issues.iter().any(|i| i
            .as_str()
            .unwrap()
            .ends_with("video file too large (max 1000 bytes)")),
        "{issues:?}"
    );
    // A raised cap never blocks what the server would take.
    let raised = probe(
        &[&path_of("h264_aac.mp4")],
        &[("LAYERS_VIDEO_CAP_BYTES", "209715200")],
    );
    assert_eq!(raised.status.code(), Some(0));
}

#[test]
fn results_are_cached_until_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("still.png");
    std::fs::copy(corpus().join("png_1080.png"), &file).unwrap();
    let inspector = Inspector::new(Limits::DOCUMENTED);
    let first = inspector.inspect(&file);
    assert!(first.is_accepted());
    assert_eq!(
        inspector.inspect(&file),
        first,
        "unchanged file: same answer"
    );
    // Replace the bytes (size changes): the cache must not answer for the new file.
    std::fs::copy(corpus().join("png_1079.png"), &file).unwrap();
    let second = inspector.inspect(&file);
    assert_ne!(second.sha256, first.sha256);
    assert_eq!(second.height, Some(1079));
}

#[test]
fn parallel_inspection_keeps_the_input_order() {
    let names = [
        "zero.mp4",
        "dur_3s.mp4",
        "square_800.jpg",
        "hevc.mov",
        "noise.mp4",
        "fps_61.mp4",
    ];
    let paths: Vec<PathBuf> = names.iter().map(|n| corpus().join(n)).collect();
    let results = Inspector::new(Limits::DOCUMENTED)
        .with_workers(4)
        .inspect_all(&paths);
    let got: Vec<String> = results
        .iter()
        .map(|r| {
            Path::new(&r.path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(got, names);
}
