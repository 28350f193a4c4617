//! The persistent queue end to end: the real `layers-upload` binary against an in-process
//! `layers-sandbox`, real media, crashes at every state, expiry, faults, quota, changed files.
//! After each scenario the sandbox's own state is the judge: exactly one completed item per
//! file, and no quota reserved beyond what completed.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;
use support::corpus::corpus;

const KEY: &str = "lp_live_queue1_TopSecretQueueKeyValue";
const SECRET: &str = "TopSecretQueueKeyValue";

struct World {
    base: String,
    project: String,
    data: tempfile::TempDir,
    media: tempfile::TempDir,
    _handle: SandboxHandle,
}

fn world(config: SandboxConfig) -> World {
    let (base, handle) = Sandbox::start(config).expect("sandbox starts");
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
            .env_remove("LAYERS_FAILPOINT")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cli(args).output().expect("run layers-upload");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains(SECRET),
            "the API key leaked into the output:\n{text}"
        );
        out
    }

    fn run_failing_at(&self, point: &str, args: &[&str]) -> Output {
        self.cli(args)
            .env("LAYERS_FAILPOINT", point)
            .output()
            .expect("run layers-upload")
    }

    fn state(&self) -> Value {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/_sandbox/state", self.base)])
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).expect("sandbox state JSON")
    }

    /// Distinct, valid JPEGs (the corpus image plus a unique trailer after its end marker).
    fn images(&self, n: usize, pad: usize) -> Vec<PathBuf> {
        let base = std::fs::read(corpus().join("jpeg_1080.jpg")).unwrap();
        (0..n)
            .map(|i| {
                let path = self.media.path().join(format!("img-{i:03}.jpg"));
                let mut bytes = base.clone();
                bytes.extend_from_slice(
                    format!("unique trailer {i} {}", self.media.path().display()).as_bytes(),
                );
                bytes.resize(bytes.len() + pad, (i % 251) as u8);
                std::fs::write(&path, bytes).unwrap();
                path
            })
            .collect()
    }

    fn completed(&self) -> Vec<Value> {
        containers(&self.state(), "completed")
    }

    fn quota_uploads(&self) -> u64 {
        self.state()["quota"][&self.project]["currentUploads"]
            .as_u64()
            .unwrap()
    }

    fn queue_json(&self) -> Vec<Value> {
        let out = self.run(&["queue", "list", "--json"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
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

fn strs(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn sha256(path: &Path) -> String {
    layers_uploader::media::inspect::sha256_path(path).unwrap()
}

/// Every local file is the object of exactly one completed container.
fn assert_each_uploaded_once(w: &World, files: &[PathBuf]) {
    let state = w.state();
    let mut by_sha: HashMap<String, usize> = HashMap::new();
    for c in containers(&state, "completed") {
        for f in c["files"].as_array().unwrap() {
            let key = f["r2Key"].as_str().unwrap();
            let sha = state["objects"][key]["sha256"]
                .as_str()
                .unwrap_or("missing")
                .to_string();
            *by_sha.entry(sha).or_default() += 1;
        }
    }
    for f in files {
        assert_eq!(
            by_sha.get(&sha256(f)).copied(),
            Some(1),
            "{} must be uploaded exactly once: {by_sha:?}",
            f.display()
        );
    }
    assert_eq!(
        by_sha.values().sum::<usize>(),
        files.len(),
        "no other objects were completed"
    );
}

fn args<'a>(head: &[&'a str], files: &'a [String]) -> Vec<&'a str> {
    head.iter()
        .copied()
        .chain(files.iter().map(String::as_str))
        .collect()
}

#[test]
fn upload_completes_every_post_and_prints_each_item_as_the_server_sent_it() {
    let w = world(SandboxConfig::default());
    let files = w.images(3, 0);
    let names = strs(&files);
    let out = w.run(&args(
        &["upload", "--json", "--caption", "Launch day ☕"],
        &names,
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Byte for byte what the server sends for that item (not re-serialised).
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let id = serde_json::from_str::<Value>(line).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let auth = format!("Authorization: Bearer {KEY}");
        let served = Command::new("curl")
            .args(["-sf", "-H", &auth, &format!("{}/v1/content/{id}", w.base)])
            .output()
            .unwrap();
        assert_eq!(
            line,
            String::from_utf8_lossy(&served.stdout).trim(),
            "printed verbatim"
        );
    }
    let items: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 3);
    let completed = w.completed();
    for item in &items {
        assert_eq!(item["caption"], "Launch day ☕");
        assert_eq!(item["creativeType"], "uploaded");
        let server = completed
            .iter()
            .find(|c| c["containerId"] == item["id"])
            .expect("item exists on the server");
        assert_eq!(
            &server["item"], item,
            "printed exactly as the server returned it"
        );
    }
    assert_each_uploaded_once(&w, &files);
    assert_eq!(w.quota_uploads(), 3);
    // The key never reaches the store or storage.
    let db = std::fs::read(w.data.path().join("queue.sqlite3")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(SECRET),
        "the key is in the SQLite store"
    );
    for r in w.state()["requests"].as_array().unwrap() {
        if r["method"] == "PUT" {
            assert_eq!(
                r["authHeaderPresent"], false,
                "storage got an auth header: {r}"
            );
        }
    }
}

#[test]
fn a_crash_at_every_step_resumes_to_exactly_one_item_per_file() {
    let points = [
        "before_create",
        "after_create",
        "after_record_session",
        "before_put",
        "before_finalize",
        "after_finalize",
    ];
    for point in points {
        let w = world(SandboxConfig::default());
        let files = w.images(3, 0);
        let names = strs(&files);
        let crashed = w.run_failing_at(point, &args(&["upload"], &names));
        assert!(
            !crashed.status.success(),
            "{point}: the failpoint must abort the run"
        );
        let resumed = w.run(&["resume"]);
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "{point}: {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert_each_uploaded_once(&w, &files);
        assert_eq!(
            w.quota_uploads(),
            3,
            "{point}: no reservation beyond the three items"
        );
        assert!(
            w.queue_json().iter().all(|p| p["state"] == "completed"),
            "{point}"
        );
    }
}

fn wait_for_state(w: &World, want: &str, within: Duration) {
    let start = Instant::now();
    while start.elapsed() < within {
        if w.queue_json().iter().any(|p| p["state"] == want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no post reached {want} within {within:?}");
}

#[test]
fn kill_9_during_a_slow_put_then_resume_gives_exactly_one_item() {
    let w = world(SandboxConfig::default().slow_put_bps(400_000));
    let files = w.images(1, 1_500_000);
    let names = strs(&files);
    let mut child = w
        .cli(&args(&["upload"], &names))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_state(&w, "uploading", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        w.completed().is_empty(),
        "killed before the PUT could finish"
    );
    let resumed = w.run(&["resume"]);
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_each_uploaded_once(&w, &files);
    assert_eq!(w.quota_uploads(), 1);
}

#[test]
fn sigint_stops_cleanly_with_130_and_resume_finishes() {
    let w = world(SandboxConfig::default().slow_put_bps(400_000));
    let files = w.images(2, 1_000_000);
    let names = strs(&files);
    let child = w
        .cli(&args(&["upload"], &names))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_state(&w, "uploading", Duration::from_secs(20));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("resume"),
        "says how to finish"
    );
    let resumed = w.run(&["resume"]);
    assert_eq!(resumed.status.code(), Some(0));
    assert_each_uploaded_once(&w, &files);
}

#[test]
fn expired_urls_get_a_new_session_and_the_old_one_is_reaped() {
    // Long enough that the new session's PUT finishes inside it even on a loaded machine.
    let ttl = Duration::from_secs(4);
    let w = world(
        SandboxConfig::default()
            .url_ttl(ttl)
            .reap_after(Duration::from_secs(8)),
    );
    let files = w.images(1, 0);
    let names = strs(&files);
    assert!(!w
        .run_failing_at("before_put", &args(&["upload"], &names))
        .status
        .success());
    std::thread::sleep(ttl + Duration::from_millis(500));
    let resumed = w.run(&["resume"]);
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_each_uploaded_once(&w, &files);
    let state = w.state();
    assert_eq!(
        state["containers"].as_array().unwrap().len(),
        2,
        "a second session was made"
    );
    // The abandoned one is reaped and its quota freed.
    let start = Instant::now();
    while containers(&w.state(), "reaped").is_empty() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(containers(&w.state(), "reaped").len(), 1);
    assert_eq!(w.quota_uploads(), 1);
}

#[test]
fn put_and_finalize_failures_and_rate_limits_still_end_with_each_file_once() {
    let config = SandboxConfig::default()
        .fail_put_first(2)
        .fail_finalize_first(2)
        .writes_per_minute(25);
    let w = world(config);
    let files = w.images(30, 0);
    let names = strs(&files);
    let out = w.run(&args(&["upload"], &names));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_each_uploaded_once(&w, &files);
    assert_eq!(w.quota_uploads(), 30);
    let statuses: Vec<u64> = w.state()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap_or(0))
        .collect();
    assert!(statuses.contains(&429), "the write limit was really hit");
    assert!(
        statuses.contains(&500),
        "finalize failures were really served"
    );
}

#[test]
fn quota_blocks_the_rest_with_usage_and_retry_completes_after_freeing() {
    let w = world(SandboxConfig::default().max_uploads(3));
    let files = w.images(5, 0);
    let names = strs(&files);
    let out = w.run(&args(&["upload"], &names));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("3/3 uploads"),
        "usage and limits are shown: {stderr}"
    );
    let posts = w.queue_json();
    let blocked: Vec<&Value> = posts.iter().filter(|p| p["state"] == "blocked").collect();
    assert_eq!((w.completed().len(), blocked.len()), (3, 2));
    assert_eq!(blocked[0]["error"]["details"]["maxUploads"], 3);
    // Free two slots (what archiving in the Layers app does), then retry the blocked posts.
    for c in w.completed().iter().take(2) {
        let url = format!(
            "{}/_sandbox/delete/{}",
            w.base,
            c["containerId"].as_str().unwrap()
        );
        assert!(Command::new("curl")
            .args(["-sf", "-o", "/dev/null", "-X", "POST", &url])
            .status()
            .unwrap()
            .success());
    }
    let ids: Vec<String> = blocked.iter().map(|p| p["id"].to_string()).collect();
    let retry = w.run(&args(&["queue", "retry"], &ids));
    assert_eq!(
        retry.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&retry.stderr)
    );
    assert!(w.queue_json().iter().all(|p| p["state"] == "completed"));
}

#[test]
fn a_file_changed_before_finalize_is_uploaded_again_never_finalized_stale() {
    let w = world(SandboxConfig::default());
    let files = w.images(1, 0);
    let names = strs(&files);
    assert!(!w
        .run_failing_at("before_finalize", &args(&["upload"], &names))
        .status
        .success());
    // Re-export: same name, new bytes.
    let mut bytes = std::fs::read(corpus().join("jpeg_1080.jpg")).unwrap();
    bytes.extend_from_slice(b"the re-exported version");
    std::fs::write(&files[0], &bytes).unwrap();
    let resumed = w.run(&["resume"]);
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_each_uploaded_once(&w, &files);
    let state = w.state();
    assert_eq!(containers(&state, "completed").len(), 1);
    assert_eq!(
        containers(&state, "reserved").len(),
        1,
        "the stale session was never finalized"
    );
}

#[test]
fn grouping_rules_are_enforced_before_any_request_and_sessions_are_planned() {
    let w = world(SandboxConfig::default());
    let eleven = strs(&w.images(11, 0));
    let out = w.run(&args(&["upload", "--grouping", "slideshow"], &eleven));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 10 images"));
    assert!(
        w.state()["requests"].as_array().unwrap().is_empty(),
        "nothing was sent"
    );

    let mut mixed = w.images(20, 0);
    for v in [
        "dur_3s.mp4",
        "fps_23.mp4",
        "fps_60.mp4",
        "edge_360.mp4",
        "silent.mp4",
    ] {
        let to = w.media.path().join(v);
        std::fs::copy(corpus().join(v), &to).unwrap();
        mixed.push(to);
    }
    let out = w.run(&args(&["upload"], &strs(&mixed)));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creates = w.state()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().unwrap().ends_with("/content/uploads")
        })
        .count();
    assert_eq!(creates, 3, "25 files per-file make 3 sessions");
    assert_eq!(w.completed().len(), 25);
}

#[test]
fn a_slideshow_is_one_item_and_duplicates_are_skipped() {
    let w = world(SandboxConfig::default());
    let files = w.images(4, 0);
    let names = strs(&files);
    let out = w.run(&args(
        &["upload", "--grouping", "slideshow", "--caption", "four"],
        &names,
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let completed = w.completed();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["files"].as_array().unwrap().len(), 4);
    // The same slideshow again is a duplicate; one of its images alone is not.
    let again = w.run(&args(&["upload", "--grouping", "slideshow"], &names));
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already uploaded"));
    let single = w.run(&["upload", &names[0]]);
    assert_eq!(single.status.code(), Some(0));
    assert_eq!(w.completed().len(), 2);
    // --force uploads a duplicate anyway.
    let forced = w.run(&["upload", "--force", &names[0]]);
    assert_eq!(forced.status.code(), Some(0));
    assert_eq!(w.completed().len(), 3);
}

#[test]
fn a_test_key_uploads_through_inert_urls() {
    let w = world(SandboxConfig::default());
    let files = w.images(2, 0);
    let names = strs(&files);
    let out = w
        .cli(&args(&["upload", "--json"], &names))
        .env("LAYERS_API_KEY", "lp_test_tk1_SandboxOnlyKey")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("test key"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
fn cannot_start_cases_exit_2_with_a_reason() {
    let w = world(SandboxConfig::default());
    let file = strs(&w.images(1, 0));
    let no_project = w
        .cli(&["upload", &file[0]])
        .env_remove("LAYERS_PROJECT_ID")
        .output()
        .unwrap();
    assert_eq!(no_project.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_project.stderr).contains("no project"));
    let bad_key = w
        .cli(&["upload", &file[0]])
        .env("LAYERS_API_KEY", "not-a-layers-key")
        .output()
        .unwrap();
    assert_eq!(bad_key.status.code(), Some(2));
    let unreachable = w
        .cli(&["upload", &file[0]])
        .env("LAYERS_API_BASE", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(2));
    let held = layers_uploader::queue::lock::RunLock::acquire(w.data.path()).unwrap();
    let locked = w.run(&["upload", &file[0]]);
    assert_eq!(locked.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&locked.stderr).contains("already running"));
    assert_eq!(
        w.run(&["queue", "list"]).status.code(),
        Some(0),
        "read-only commands still work"
    );
    drop(held);
}

#[test]
fn cancel_stops_a_post_and_list_shows_why() {
    let w = world(SandboxConfig::default());
    let files = w.images(1, 0);
    let names = strs(&files);
    assert!(!w
        .run_failing_at("after_record_session", &args(&["upload"], &names))
        .status
        .success());
    let id = w.queue_json()[0]["id"].to_string();
    let cancel = w.run(&["queue", "cancel", &id]);
    assert_eq!(cancel.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&cancel.stderr).contains("reaps the session"));
    assert_eq!(
        w.run(&["resume"]).status.code(),
        Some(0),
        "nothing left to run"
    );
    assert_eq!(w.queue_json()[0]["state"], "cancelled");
    assert!(w.completed().is_empty());
}

#[test]
fn a_resume_of_more_than_a_round_of_duplicates_skips_every_one() {
    use layers_uploader::api::types::Grouping;
    use layers_uploader::queue::runner::QUEUED_PER_ROUND;
    use layers_uploader::queue::store::{NewBatch, NewFile, NewPost, Store};

    let w = world(SandboxConfig::default());
    let files = w.images(QUEUED_PER_ROUND + 5, 0);
    let names = strs(&files);
    let first = w
        .cli(&args(&["upload"], &names))
        .env("LAYERS_WRITES_PER_MINUTE", "0")
        .output()
        .unwrap();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // The same files queued again (as a watch or the app would) without running: every post
    // is a duplicate, more of them than one round of the runner looks at.
    let store = Store::open_in(w.data.path()).unwrap();
    let posts = files
        .iter()
        .map(|f| NewPost {
            caption: "again".into(),
            files: vec![NewFile {
                path: f.clone(),
                filename: f.file_name().unwrap().to_string_lossy().into_owned(),
                content_type: "image/jpeg".into(),
                size_bytes: std::fs::metadata(f).unwrap().len(),
                mtime_ns: None,
                sha256: sha256(f),
            }],
            rejected: None,
        })
        .collect();
    store
        .enqueue(&NewBatch {
            project_id: w.project.clone(),
            destination: "layers-content".into(),
            grouping: Grouping::PerFile,
            force: false,
            posts,
        })
        .unwrap();
    drop(store);
    let resumed = w.run(&["resume"]);
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let listed = w.queue_json();
    let skipped = listed.iter().filter(|p| p["state"] == "skipped").count();
    let unfinished: Vec<&Value> = listed
        .iter()
        .filter(|p| !matches!(p["state"].as_str(), Some("skipped" | "completed")))
        .collect();
    assert!(unfinished.is_empty(), "left behind: {unfinished:?}");
    assert_eq!(skipped, files.len());
    assert_eq!(w.completed().len(), files.len(), "nothing uploaded twice");
}
