//! Watch folders end to end: the real `layers-upload watch` binary on real files with real
//! inotify, against an in-process `layers-sandbox`. The sandbox's own state is the judge: each
//! finished file is the object of exactly one completed item, with its final bytes.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use layers_uploader::queue::store::Store;
use layers_uploader::queue::PostState;
use serde_json::Value;
use support::corpus::corpus;

const KEY: &str = "lp_live_watch1_TopSecretWatchKeyValue";

struct World {
    base: String,
    project: String,
    data: tempfile::TempDir,
    /// The watched folder.
    dir: tempfile::TempDir,
    /// Where files are prepared before they are copied in.
    staging: tempfile::TempDir,
    _handle: SandboxHandle,
}

/// A running `layers-upload watch`.
struct Watching {
    child: Child,
    log: PathBuf,
}

fn world() -> World {
    // Room for the 305-file scenario (the default quota is the documented 250).
    let config = SandboxConfig::default().max_uploads(1000);
    let (base, handle) = Sandbox::start(config).expect("sandbox starts");
    World {
        project: handle.projects()[0].clone(),
        base,
        data: tempfile::tempdir().unwrap(),
        dir: tempfile::tempdir().unwrap(),
        staging: tempfile::tempdir().unwrap(),
        _handle: handle,
    }
}

impl World {
    fn watch(&self, args: &[&str]) -> Watching {
        let n = std::fs::read_dir(self.data.path()).map_or(0, |d| d.count());
        let log = self.data.path().join(format!("watch-{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_layers-upload"))
            .arg("watch")
            .args(args)
            .arg(self.dir.path())
            .env("LAYERS_API_KEY", KEY)
            .env("LAYERS_API_BASE", &self.base)
            .env("LAYERS_PROJECT_ID", &self.project)
            .env("LAYERS_UPLOADER_DATA_DIR", self.data.path())
            // The sandbox does not limit writes; 300 posts should not wait on the standard tier.
            .env("LAYERS_WRITES_PER_MINUTE", "0")
            .env_remove("LAYERS_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start layers-upload watch");
        let w = Watching { child, log };
        assert!(
            wait_until(Duration::from_secs(20), || w.log().contains("watching ")),
            "the watch did not start:\n{}",
            w.log()
        );
        w
    }

    fn state(&self) -> Value {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/_sandbox/state", self.base)])
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).expect("sandbox state JSON")
    }

    fn completed(&self) -> Vec<Value> {
        containers(&self.state(), "completed")
    }

    /// Waits until the queue has `n` completed posts (read from the store: the sandbox's
    /// state grows large and is serialised under its lock), then returns the sandbox's items.
    fn wait_completed(&self, n: usize, within: Duration, w: &Watching) -> Vec<Value> {
        let completed_in_queue = || {
            Store::open_in(self.data.path())
                .and_then(|s| s.list(None))
                .map_or(0, |posts| {
                    posts
                        .iter()
                        .filter(|p| p.state == PostState::Completed)
                        .count()
                })
        };
        let ok = wait_until(within, || completed_in_queue() >= n);
        assert!(
            ok,
            "expected {n} completed posts, have {}:\n{}",
            completed_in_queue(),
            w.log()
        );
        self.completed()
    }

    /// A distinct valid JPEG (the corpus image plus a unique trailer after its end marker).
    fn jpeg(&self, name: &str, tag: &str) -> PathBuf {
        let mut bytes = std::fs::read(corpus().join("jpeg_1080.jpg")).unwrap();
        bytes.extend_from_slice(format!("trailer {tag} {}", self.dir.path().display()).as_bytes());
        let path = self.staging.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

impl Watching {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&self, needle: &str, within: Duration) {
        assert!(
            wait_until(within, || self.log().contains(needle)),
            "the watch never said {needle:?}:\n{}",
            self.log()
        );
    }

    /// SIGINT, then the exit code (130: stopped cleanly, queue saved).
    fn interrupt(mut self) -> (Option<i32>, String) {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the watch did not stop on SIGINT:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (status.code(), self.log())
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sha-256 of each object of a completed item, in order.
fn object_shas(state: &Value, item: &Value) -> Vec<String> {
    item["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            state["objects"][f["r2Key"].as_str().unwrap()]["sha256"]
                .as_str()
                .unwrap_or("missing")
                .to_string()
        })
        .collect()
}

fn containers(state: &Value, wanted: &str) -> Vec<Value> {
    state["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == wanted)
        .cloned()
        .collect()
}

fn sha256(path: &Path) -> String {
    layers_uploader::media::inspect::sha256_path(path).unwrap()
}

fn sha256_bytes(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Writes like an exporter that finishes under a temporary name, then renames.
fn export(from: &Path, to: &Path) {
    let tmp = to.with_extension("export.tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

/// A real MP4 (index last, as ffmpeg writes it) grown to `size` with a `free` box before the
/// index: valid only once the last bytes are written, like a real export.
fn big_mp4(size: usize) -> Vec<u8> {
    let mp4 = std::fs::read(corpus().join("h264_aac.mp4")).unwrap();
    let mut at = 0usize;
    let mut moov = None;
    while at + 8 <= mp4.len() {
        let len = u32::from_be_bytes(mp4[at..at + 4].try_into().unwrap()) as usize;
        if &mp4[at + 4..at + 8] == b"moov" {
            moov = Some(at);
        }
        at += len.max(8);
    }
    let moov = moov.expect("the corpus MP4 has its index last");
    let pad = size - mp4.len();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&mp4[..moov]);
    out.extend_from_slice(&(pad as u32).to_be_bytes());
    out.extend_from_slice(b"free");
    out.resize(out.len() + pad - 8, 0);
    out.extend_from_slice(&mp4[moov..]);
    out
}

/// From the watch's "queued NAME as post N, X s after the last write" line: X.
fn queued_after(log: &str, name: &str) -> Option<f64> {
    let line = log
        .lines()
        .find(|l| l.starts_with(&format!("→ queued {name} as post")))?;
    let (_, rest) = line.split_once(", ")?;
    rest.split(' ').next()?.parse().ok()
}

#[test]
fn a_video_grown_over_ten_seconds_is_uploaded_once_with_its_final_bytes() {
    let w = world();
    let watching = w.watch(&["--settle", "1"]);
    let bytes = big_mp4(50 * 1024 * 1024);
    let path = w.at("render.mp4");
    let started = Instant::now();
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = 64 * 1024;
    let steps = bytes.len().div_ceil(chunk);
    for (i, piece) in bytes.chunks(chunk).enumerate() {
        file.write_all(piece).unwrap();
        let due = started + Duration::from_secs(10).mul_f64((i + 1) as f64 / steps as f64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    drop(file);
    let written = started.elapsed();
    assert!(written >= Duration::from_secs(10), "{written:?}");
    assert!(
        !watching.log().contains("→ queued"),
        "queued while still being written:\n{}",
        watching.log()
    );
    let done = w.wait_completed(1, Duration::from_secs(60), &watching);
    assert_eq!(done.len(), 1, "one item for one file");
    assert_eq!(
        object_shas(&w.state(), &done[0]),
        vec![sha256_bytes(&bytes)]
    );
    let (code, log) = watching.interrupt();
    assert_eq!(code, Some(130), "{log}");
    let after = queued_after(&log, "render.mp4").expect("queued line");
    eprintln!("measured: render.mp4 (50 MB) queued {after:.2} s after its last write (settle 1 s)");
    // Settle time plus hashing, probing and one commit: about 1.2 s here; the bound only
    // catches a watch that sat on a settled file (a debug build on a busy machine is slow).
    assert!((1.0..30.0).contains(&after), "{after} s\n{log}");
    assert_eq!(w.completed().len(), 1);
}

#[test]
fn exports_renames_sidecars_duplicates_and_re_exports() {
    let w = world();
    let default_caption = w.staging.path().join("default.txt");
    std::fs::write(&default_caption, "Default caption ☕\n").unwrap();
    let watching = w.watch(&[
        "--settle",
        "0.5",
        "--caption-file",
        default_caption.to_str().unwrap(),
    ]);
    // Export-style: written under a temporary name, renamed at the end; its sidecar arrives a
    // moment later, inside the settle window.
    let a = w.jpeg("a.jpg", "first export");
    export(&a, &w.at("a.jpg"));
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(w.at("a.txt"), "\u{feff}From the sidecar ☕\r\n").unwrap();
    // A partial download that never completes, and a file with no sidecar.
    let part = std::fs::read(corpus().join("h264_aac.mp4")).unwrap();
    std::fs::write(w.at("clip.mp4.part"), &part[..part.len() / 2]).unwrap();
    let c = w.jpeg("c.jpg", "no sidecar");
    std::fs::copy(&c, w.at("c.jpg")).unwrap();

    let done = w.wait_completed(2, Duration::from_secs(30), &watching);
    let state = w.state();
    let caption_of = |sha: &str| {
        done.iter()
            .find(|item| object_shas(&state, item) == vec![sha.to_string()])
            .map(|item| item["caption"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        caption_of(&sha256(&a)).as_deref(),
        Some("From the sidecar ☕")
    );
    assert_eq!(
        caption_of(&sha256(&c)).as_deref(),
        Some("Default caption ☕")
    );

    // The same bytes under another name: reported as a duplicate, not queued.
    std::fs::copy(&a, w.at("a-copy.jpg")).unwrap();
    watching.wait_log("a-copy.jpg: skipped (duplicate)", Duration::from_secs(10));
    // A re-export with new bytes under the same name is a new upload.
    let a2 = w.jpeg("a2.jpg", "second export");
    export(&a2, &w.at("a.jpg"));
    let done = w.wait_completed(3, Duration::from_secs(30), &watching);
    assert!(done
        .iter()
        .any(|item| object_shas(&w.state(), item) == vec![sha256(&a2)]));
    std::thread::sleep(Duration::from_secs(1));

    let (code, log) = watching.interrupt();
    assert_eq!(code, Some(130), "{log}");
    assert_eq!(w.completed().len(), 3, "nothing else was uploaded:\n{log}");
    assert_eq!(
        log.matches("clip.mp4.part: skipped (ignored_name)").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("export.tmp as post"), "{log}");
    assert_eq!(log.matches("→ queued a.jpg as post").count(), 2, "{log}");
    // Files are never touched without --move-uploaded.
    for name in ["a.jpg", "a.txt", "a-copy.jpg", "c.jpg", "clip.mp4.part"] {
        assert!(w.at(name).exists(), "{name} is still there");
    }
}

#[test]
fn three_hundred_files_survive_a_restart_and_files_added_while_stopped_are_caught_up() {
    let w = world();
    let staged: Vec<PathBuf> = (0..305)
        .map(|i| w.jpeg(&format!("img-{i:03}.jpg"), &format!("n{i}")))
        .collect();
    let watching = w.watch(&["--settle", "0.5"]);
    for f in &staged[..300] {
        std::fs::copy(f, w.at(f.file_name().unwrap().to_str().unwrap())).unwrap();
    }
    // Stop mid-batch.
    w.wait_completed(20, Duration::from_secs(60), &watching);
    let (code, log) = watching.interrupt();
    assert_eq!(code, Some(130), "{log}");
    let before = w.completed().len();
    assert!(before < 300, "stopped mid-batch ({before} done)");
    // Files added while the watch was stopped are caught up when it starts again.
    for f in &staged[300..] {
        std::fs::copy(f, w.at(f.file_name().unwrap().to_str().unwrap())).unwrap();
    }
    let watching = w.watch(&["--settle", "0.5"]);
    w.wait_completed(305, Duration::from_secs(80), &watching);
    std::thread::sleep(Duration::from_secs(1));
    let (code, log) = watching.interrupt();
    assert_eq!(code, Some(130), "{log}");

    let state = w.state();
    let mut by_sha: HashMap<String, usize> = HashMap::new();
    for item in containers(&state, "completed") {
        for sha in object_shas(&state, &item) {
            *by_sha.entry(sha).or_default() += 1;
        }
    }
    for f in &staged {
        assert_eq!(
            by_sha.get(&sha256(f)).copied(),
            Some(1),
            "{} uploaded exactly once",
            f.display()
        );
    }
    assert_eq!(by_sha.values().sum::<usize>(), 305, "nothing else");
    assert!(
        containers(&state, "reserved").is_empty(),
        "no session left holding quota"
    );
}

#[test]
fn slideshow_subfolders_become_one_post_each_and_move_to_uploaded_without_clobbering() {
    let w = world();
    std::fs::create_dir_all(w.at("Uploaded")).unwrap();
    std::fs::write(w.at("Uploaded/top.jpg"), b"an older upload").unwrap();
    let watching = w.watch(&[
        "--settle",
        "0.5",
        "--grouping",
        "slideshow",
        "--move-uploaded",
    ]);
    std::fs::create_dir_all(w.at("trip")).unwrap();
    let slides: Vec<PathBuf> = ["02.jpg", "01.jpg", "03.jpg"]
        .iter()
        .map(|n| {
            let p = w.jpeg(n, n);
            std::fs::copy(&p, w.at(&format!("trip/{n}"))).unwrap();
            p
        })
        .collect();
    std::fs::write(w.at("trip/caption.txt"), "Trip ☕\n").unwrap();
    let top = w.jpeg("top.jpg", "top");
    std::fs::copy(&top, w.at("top.jpg")).unwrap();
    std::fs::write(w.at("top.txt"), "Top").unwrap();

    let done = w.wait_completed(2, Duration::from_secs(30), &watching);
    let state = w.state();
    let show = done
        .iter()
        .find(|i| i["files"].as_array().unwrap().len() == 3)
        .expect("one slideshow of three images");
    let in_name_order: Vec<String> = [1, 0, 2].iter().map(|i| sha256(&slides[*i])).collect();
    assert_eq!(object_shas(&state, show), in_name_order);
    assert_eq!(show["caption"], "Trip ☕");
    let single = done
        .iter()
        .find(|i| i["files"].as_array().unwrap().len() == 1)
        .unwrap();
    assert_eq!(object_shas(&state, single), vec![sha256(&top)]);
    assert_eq!(single["caption"], "Top");

    // Moved only after completion, never over an existing file.
    let moved = [
        "Uploaded/trip/01.jpg",
        "Uploaded/trip/02.jpg",
        "Uploaded/trip/03.jpg",
        "Uploaded/trip/caption.txt",
        "Uploaded/top (2).jpg",
        "Uploaded/top.txt",
    ];
    let all_moved = wait_until(Duration::from_secs(10), || {
        moved.iter().all(|m| w.at(m).exists())
    });
    let (code, log) = watching.interrupt();
    assert!(all_moved, "{log}");
    assert_eq!(code, Some(130), "{log}");
    assert_eq!(
        std::fs::read(w.at("Uploaded/top.jpg")).unwrap(),
        b"an older upload"
    );
    assert_eq!(sha256(&w.at("Uploaded/top (2).jpg")), sha256(&top));
    for gone in ["trip/01.jpg", "trip/caption.txt", "top.jpg", "top.txt"] {
        assert!(!w.at(gone).exists(), "{gone} was moved");
    }
    assert_eq!(
        w.completed().len(),
        2,
        "moving uploads nothing again:\n{log}"
    );
}
