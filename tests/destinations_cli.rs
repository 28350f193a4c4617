//! The other destinations end to end: the real `layers-upload` binary against an in-process
//! `layers-sandbox` — the media library, Loops email assets, URL-fetch from a local origin and
//! caption fixes — with their documented errors, crashes and resumes. The sandbox's own state
//! (assets, uploads, the request log) is the judge.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;
use support::corpus::corpus;

const KEY: &str = "lp_live_dest1_TopSecretDestKeyValue";
const SECRET: &str = "TopSecretDestKeyValue";
const LOOPS_KEY: &str = "loops_TopSecretLoopsKeyValue42";

struct World {
    base: String,
    project: String,
    data: tempfile::TempDir,
    media: tempfile::TempDir,
    _handle: SandboxHandle,
}

fn world(config: SandboxConfig) -> World {
    let (base, handle) = Sandbox::start(config.loops_key(LOOPS_KEY)).expect("sandbox starts");
    World {
        project: handle.projects()[0].clone(),
        base,
        data: tempfile::tempdir().unwrap(),
        media: tempfile::tempdir().unwrap(),
        _handle: handle,
    }
}

impl World {
    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-upload"));
        cmd.args(args)
            .env("LAYERS_API_KEY", KEY)
            .env("LAYERS_API_BASE", &self.base)
            .env("LAYERS_PROJECT_ID", &self.project)
            .env("LAYERS_UPLOADER_DATA_DIR", self.data.path())
            .env("LOOPS_API_KEY", LOOPS_KEY)
            .env("LOOPS_API_BASE", &self.base)
            .env("LAYERS_WRITES_PER_MINUTE", "0")
            .env_remove("LAYERS_FAILPOINT")
            .env_remove("LAYERS_MEDIA_CAP_BYTES")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs to the end; fails the test if either key shows in the output.
    fn run_cmd(&self, mut cmd: Command) -> Output {
        let out = cmd.output().expect("run layers-upload");
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!text.contains(SECRET), "the Layers key leaked:\n{text}");
        assert!(!text.contains(LOOPS_KEY), "the Loops key leaked:\n{text}");
        out
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_cmd(self.cli(args))
    }

    fn run_failing_at(&self, point: &str, args: &[&str]) -> Output {
        let mut cmd = self.cli(args);
        cmd.env("LAYERS_FAILPOINT", point);
        let out = self.run_cmd(cmd);
        assert!(
            !out.status.success() && stderr(&out).contains(&format!("failpoint {point}")),
            "the failpoint {point} must stop the run: {}",
            stderr(&out)
        );
        out
    }

    fn state(&self) -> Value {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/_sandbox/state", self.base)])
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).expect("sandbox state JSON")
    }

    /// A copy of a corpus file under another name, with a unique trailer (distinct bytes).
    fn copy(&self, corpus_name: &str, name: &str, trailer: &str) -> PathBuf {
        let mut bytes = std::fs::read(corpus().join(corpus_name)).unwrap();
        bytes.extend_from_slice(trailer.as_bytes());
        let path = self.media.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn requests(&self) -> Vec<Value> {
        self.state()["requests"].as_array().unwrap().clone()
    }

    fn queue_json(&self) -> Vec<Value> {
        let out = self.run(&["queue", "list", "--json"]);
        stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sha256(path: &Path) -> String {
    layers_uploader::media::inspect::sha256_path(path).unwrap()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn count(requests: &[Value], method: &str, path_part: &str, status: Option<u64>) -> usize {
    requests
        .iter()
        .filter(|r| {
            r["method"] == method
                && r["path"].as_str().unwrap().contains(path_part)
                && status.is_none_or(|st| r["status"] == st)
        })
        .count()
}

// ---------------------------------------------------------------- media library

#[test]
fn media_upload_prints_the_finalize_response_with_the_exact_checksum_and_dedupes() {
    let w = world(SandboxConfig::default());
    let logo = w.copy("png_1080.png", "logo.png", "logo v1");
    let out = w.run(&["media", "--kind", "logo", &s(&logo)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON line");
    let asset_id = printed["assetId"].as_str().expect("assetId").to_string();
    assert_eq!(printed["kind"], "logo");
    assert_eq!(printed["checksumSha256"], sha256(&logo).as_str());
    let uploads = w.state()["mediaUploads"].as_array().unwrap().clone();
    assert_eq!(uploads.len(), 1, "one presign: {uploads:?}");
    assert_eq!(
        uploads[0]["declaredSizeBytes"],
        std::fs::metadata(&logo).unwrap().len()
    );
    assert_eq!(uploads[0]["asset"]["assetId"], asset_id.as_str());
    let listed = w.queue_json();
    assert_eq!(listed[0]["destination"], "layers-media:logo");
    assert_eq!(listed[0]["containerId"], asset_id.as_str());

    // The same bytes again: skipped by the ledger, no second presign; as another kind: uploaded.
    let again = w.run(&["media", "--kind", "logo", &s(&logo)]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already uploaded"),
        "{}",
        stderr(&again)
    );
    assert_eq!(w.state()["mediaUploads"].as_array().unwrap().len(), 1);
    let other = w.run(&["media", "--kind", "reference_image", &s(&logo)]);
    assert_eq!(other.status.code(), Some(0), "{}", stderr(&other));
    assert_eq!(w.state()["mediaUploads"].as_array().unwrap().len(), 2);
    // The storage PUTs never carried a key.
    let requests = w.requests();
    let puts: Vec<&Value> = requests.iter().filter(|r| r["method"] == "PUT").collect();
    assert_eq!(puts.len(), 2);
    assert!(
        puts.iter().all(|r| r["authHeaderPresent"] == false),
        "{puts:?}"
    );
}

#[test]
fn media_caps_are_checked_locally_and_the_servers_413_and_422_are_explained() {
    let w = world(SandboxConfig::default());
    // 50 MiB + 1 byte of a PNG: over the logo cap.
    let big = w.media.path().join("huge-logo.png");
    {
        let mut bytes = std::fs::read(corpus().join("png_1080.png")).unwrap();
        bytes.resize(50 * 1024 * 1024 + 1, 0);
        std::fs::write(&big, bytes).unwrap();
    }
    let out = w.run(&["media", "--kind", "logo", &s(&big)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("too_large"), "{}", stderr(&out));
    assert_eq!(count(&w.requests(), "POST", "/media/presign", None), 0);

    // With the local cap raised, the server's own 413 decides, and reads as such.
    let mut cmd = w.cli(&["media", "--kind", "logo", &s(&big)]);
    cmd.env("LAYERS_MEDIA_CAP_BYTES", "1073741824");
    let out = w.run_cmd(cmd);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("over the 50MB cap for kind logo") && err.contains("413"),
        "{err}"
    );
    assert_eq!(count(&w.requests(), "POST", "/media/presign", Some(413)), 1);

    // An image as kind audio: the server's 422 VALIDATION_FAILED, surfaced as the media library's.
    let png = w.copy("png_1080.png", "not-audio.png", "x");
    let out = w.run(&["media", "--kind", "audio", &s(&png)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("refused not-audio.png as kind audio (422") && err.contains("does not fit"),
        "{err}"
    );
}

#[test]
fn a_crash_at_every_media_step_resumes_to_exactly_one_asset() {
    for point in [
        "before_create",
        "after_create",
        "after_record_session",
        "before_put",
        "before_finalize",
        "after_finalize",
    ] {
        let w = world(SandboxConfig::default());
        let img = w.copy("jpeg_1080.jpg", "ref.jpg", point);
        w.run_failing_at(point, &["media", "--kind", "reference_image", &s(&img)]);
        let out = w.run(&["resume"]);
        assert_eq!(out.status.code(), Some(0), "{point}: {}", stderr(&out));
        let uploads = w.state()["mediaUploads"].as_array().unwrap().clone();
        assert_eq!(
            uploads.len(),
            1,
            "{point}: one presign (replayed): {uploads:?}"
        );
        assert_eq!(
            uploads[0]["asset"]["checksumSha256"],
            sha256(&img).as_str(),
            "{point}"
        );
        let listed = w.queue_json();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["state"], "completed", "{point}");
    }
}

#[test]
fn a_file_changed_after_its_presign_is_hashed_again_never_finalized_with_a_stale_checksum() {
    let w = world(SandboxConfig::default());
    let img = w.copy("jpeg_1080.jpg", "hero.jpg", "first export");
    let first_sha = sha256(&img);
    // Presigned with the first bytes' checksum, then the process dies before the PUT.
    w.run_failing_at("before_put", &["media", "--kind", "image", &s(&img)]);
    // The editor exports again over the same name.
    let mut bytes = std::fs::read(&img).unwrap();
    bytes.extend_from_slice(b" -- second export, longer");
    std::fs::write(&img, bytes).unwrap();
    let new_sha = sha256(&img);
    assert_ne!(first_sha, new_sha);

    let out = w.run(&["resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let requests = w.requests();
    assert_eq!(
        count(&requests, "POST", "/media/finalize", Some(422)),
        0,
        "no checksum mismatch ever reaches finalize"
    );
    let state = w.state();
    let uploads = state["mediaUploads"].as_array().unwrap();
    assert_eq!(
        uploads.len(),
        2,
        "the changed file was presigned anew: {uploads:?}"
    );
    // The sandbox lists uploads in no particular order: find the stale one by its checksum.
    let stale: Vec<&Value> = uploads
        .iter()
        .filter(|u| u["checksumSha256"] == first_sha.as_str())
        .collect();
    assert_eq!(stale.len(), 1, "{uploads:?}");
    assert!(
        stale[0]["asset"].is_null(),
        "the stale presign is never finalized"
    );
    let finalized: Vec<&Value> = uploads.iter().filter(|u| !u["asset"].is_null()).collect();
    assert_eq!(finalized.len(), 1, "{uploads:?}");
    assert_eq!(finalized[0]["checksumSha256"], new_sha.as_str());
    assert_eq!(finalized[0]["asset"]["checksumSha256"], new_sha.as_str());
}

// ---------------------------------------------------------------- Loops

/// A small PNG-signed file with unique bytes (Loops checks the type from the first bytes).
fn tiny_png(dir: &Path, i: usize) -> PathBuf {
    let path = dir.join(format!("header-{i:02}.png"));
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(format!("unique email header {i}").as_bytes());
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn loops_uploads_print_the_final_url_and_the_loops_key_goes_only_to_loops() {
    let w = world(SandboxConfig::default());
    let png = w.copy("png_1080.png", "header.png", "loops");
    let gif = w.copy("animation.gif", "spinner.gif", "loops");
    let mut cmd = w.cli(&["loops", &s(&png), &s(&gif)]);
    cmd.env_remove("LAYERS_API_KEY"); // Loops alone needs no Layers key.
    let out = w.run_cmd(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let state = w.state();
    let assets = state["loopsAssets"].as_array().unwrap();
    assert_eq!(assets.len(), 2);
    for line in &lines {
        let obj = line.as_object().unwrap();
        assert_eq!(obj.len(), 2, "exactly {{emailAssetId, finalUrl}}: {line}");
        let id = line["emailAssetId"].as_str().unwrap();
        let asset = assets.iter().find(|a| a["emailAssetId"] == id).unwrap();
        assert_eq!(line["finalUrl"], asset["finalUrl"]);
    }
    let by_type: Vec<&str> = assets
        .iter()
        .map(|a| a["contentType"].as_str().unwrap())
        .collect();
    assert!(by_type.contains(&"image/png") && by_type.contains(&"image/gif"));
    // The key went to the Loops API only: never to storage, never into the store.
    let requests = w.requests();
    for r in &requests {
        let path = r["path"].as_str().unwrap();
        if path.starts_with("/api/v1/uploads") {
            assert_eq!(r["authHeaderPresent"], true, "{r}");
        } else {
            assert_eq!(r["authHeaderPresent"], false, "a key reached {path}");
        }
    }
    assert_eq!(count(&requests, "PUT", "/storage/", Some(200)), 2);
    for entry in std::fs::read_dir(w.data.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(LOOPS_KEY) && !text.contains(SECRET));
    }
    assert_eq!(w.queue_json()[0]["destination"], "loops");

    // The same bytes again: the ledger skips it, and Loops is not called.
    let again = w.run(&["loops", &s(&png)]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already uploaded to loops"),
        "{}",
        stderr(&again)
    );
    assert_eq!(count(&w.requests(), "POST", "/api/v1/uploads", None), 4);
}

#[test]
fn loops_refuses_other_types_and_sizes_locally_before_any_call() {
    let w = world(SandboxConfig::default());
    let pdf = w.copy("document.pdf", "flyer.png", "");
    let big = w.media.path().join("big.jpg");
    let mut bytes = std::fs::read(corpus().join("jpeg_1080.jpg")).unwrap();
    bytes.resize(4_000_001, 0);
    std::fs::write(&big, bytes).unwrap();
    let out = w.run(&["loops", &s(&pdf), &s(&big)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("JPEG, PNG, GIF or WebP only"), "{err}");
    assert!(err.contains("4,000,000 bytes"), "{err}");
    assert_eq!(count(&w.requests(), "POST", "/api/v1/uploads", None), 0);
}

#[test]
fn the_loops_upload_limit_says_when_it_frees_or_that_it_cannot_know() {
    let w = world(SandboxConfig::default());
    let files: Vec<String> = (0..50).map(|i| s(&tiny_png(w.media.path(), i))).collect();
    let mut args = vec!["loops"];
    args.extend(files.iter().map(String::as_str));
    let out = w.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 50, "50 assets completed");
    // The 51st: refused with 429, and this store saw all 50 creates, so it knows when the
    // oldest frees its slot.
    let out = w.run(&["loops", &s(&tiny_png(w.media.path(), 50))]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("50 uploads per 24 hours used; try again after 20") && err.contains(" UTC"),
        "{err}"
    );
    let listed = w.queue_json();
    assert_eq!(listed.iter().filter(|p| p["state"] == "blocked").count(), 1);
    assert_eq!(
        listed.iter().filter(|p| p["state"] == "completed").count(),
        50
    );

    // Another machine (another store) has no record of those creates: it cannot say when.
    let elsewhere = tempfile::tempdir().unwrap();
    let extra = tiny_png(w.media.path(), 99);
    let mut cmd = w.cli(&["loops", &s(&extra)]);
    cmd.env("LAYERS_UPLOADER_DATA_DIR", elsewhere.path());
    let out = w.run_cmd(cmd);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("50 uploads per 24 h reached"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_loops_create_lost_to_a_crash_is_made_again_with_at_most_one_orphan_and_the_user_told() {
    let w = world(SandboxConfig::default());
    let png = w.copy("png_1080.png", "banner.png", "orphan test");
    // The create reached Loops, then the process died before storing the answer.
    w.run_failing_at("after_create", &["loops", &s(&png)]);
    assert_eq!(w.state()["loopsAssets"].as_array().unwrap().len(), 1);
    let out = w.run(&["resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("one orphaned email asset may exist"),
        "{}",
        stderr(&out)
    );
    let state = w.state();
    let assets = state["loopsAssets"].as_array().unwrap();
    assert_eq!(assets.len(), 2, "at most one extra asset: {assets:?}");
    assert_eq!(
        assets.iter().filter(|a| !a["finalUrl"].is_null()).count(),
        1
    );

    // Dying before the create was sent leaves nothing behind and says nothing about orphans.
    let w = world(SandboxConfig::default());
    let png = w.copy("png_1080.png", "banner.png", "no orphan");
    w.run_failing_at("before_create", &["loops", &s(&png)]);
    let out = w.run(&["resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("orphan"), "{}", stderr(&out));
    assert_eq!(w.state()["loopsAssets"].as_array().unwrap().len(), 1);

    // A crash after the PUT: complete is replayed on the same asset, nothing new is created.
    let w = world(SandboxConfig::default());
    let png = w.copy("png_1080.png", "banner.png", "after put");
    w.run_failing_at("before_finalize", &["loops", &s(&png)]);
    let out = w.run(&["resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let state = w.state();
    let assets = state["loopsAssets"].as_array().unwrap();
    assert_eq!(assets.len(), 1);
    assert!(!assets[0]["finalUrl"].is_null());
}

// ---------------------------------------------------------------- caption fixes

#[test]
fn a_caption_fix_is_a_patch_read_back_through_get_never_a_second_finalize() {
    let w = world(SandboxConfig::default());
    let img = w.copy("jpeg_1080.jpg", "post.jpg", "caption");
    let out = w.run(&["upload", "--json", "--caption", "Frist draft", &s(&img)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let item: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let id = item["id"].as_str().unwrap().to_string();

    let fixed = "First draft ☕ — fixed";
    let out = w.run(&["caption", &id, "--caption", fixed, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let patched: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(patched["caption"], fixed);
    let auth = format!("Authorization: Bearer {KEY}");
    let got = Command::new("curl")
        .args(["-sf", "-H", &auth, &format!("{}/v1/content/{id}", w.base)])
        .output()
        .unwrap();
    let got: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(got["caption"], fixed, "GET reads the PATCHed caption back");
    let requests = w.requests();
    assert_eq!(count(&requests, "PATCH", &id, Some(200)), 1);
    assert_eq!(count(&requests, "POST", "finalize-upload", None), 1);

    // Too long: refused before any request.
    let long = "x".repeat(2201);
    let out = w.run(&["caption", &id, "--caption", &long]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("caption_too_long"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&w.requests(), "PATCH", &id, None), 1);
}

// ---------------------------------------------------------------- a real kill -9

fn wait_for_state(w: &World, want: &str, within: std::time::Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < within {
        if w.queue_json().iter().any(|p| p["state"] == want) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no post reached {want} within {within:?}");
}

#[test]
fn kill_9_during_a_slow_put_then_resume_gives_one_asset_for_media_and_for_loops() {
    for (label, head) in [
        ("media", vec!["media", "--kind", "image"]),
        ("loops", vec!["loops"]),
    ] {
        let w = world(SandboxConfig::default().slow_put_bps(400_000));
        let img = w.media.path().join("slow.png");
        let mut bytes = std::fs::read(corpus().join("png_1080.png")).unwrap();
        bytes.resize(1_500_000, 1);
        std::fs::write(&img, bytes).unwrap();
        let path = s(&img);
        let mut args = head.clone();
        args.push(&path);
        let mut child = w
            .cli(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_state(&w, "uploading", std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(700));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (list, done) = if label == "media" {
            ("mediaUploads", "asset")
        } else {
            ("loopsAssets", "finalUrl")
        };
        let before = w.state();
        assert!(
            before[list][0][done].is_null(),
            "{label}: killed before the PUT could finish"
        );
        let out = w.run(&["resume"]);
        assert_eq!(out.status.code(), Some(0), "{label}: {}", stderr(&out));
        let state = w.state();
        let items = state[list].as_array().unwrap();
        assert_eq!(
            items.len(),
            1,
            "{label}: the reservation was reused: {items:?}"
        );
        assert!(!items[0][done].is_null(), "{label}: completed");
        assert!(
            !stderr(&out).contains("orphan"),
            "{label}: the create's answer was stored, so no orphan is possible"
        );
    }
}
