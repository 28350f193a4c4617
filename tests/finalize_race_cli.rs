//! A pause or cancel while a finalize is (or may be) in flight, then a retry: the real
//! `layers-upload` binary against an in-process `layers-sandbox` that is slow to answer
//! finalize. The server's state is the judge: whatever the user did, exactly one item.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use layers_uploader::queue::state::PostEvent;
use layers_uploader::queue::store::{Change, Store};
use serde_json::Value;
use support::corpus::corpus;

const KEY: &str = "lp_live_race1_TopSecretRaceKeyValue";
const LOOPS_KEY: &str = "loops_race_key_0123456789";

/// Long enough for a `queue list` and a `queue cancel` to run on a loaded machine.
const SLOW_FINALIZE: Duration = Duration::from_secs(5);

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
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cli(args).output().expect("run layers-upload")
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cli(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start layers-upload")
    }

    fn state(&self) -> Value {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/_sandbox/state", self.base)])
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).expect("sandbox state JSON")
    }

    fn image(&self, tag: &str) -> PathBuf {
        let mut bytes = std::fs::read(corpus().join("jpeg_1080.jpg")).unwrap();
        bytes.extend_from_slice(format!("race trailer {tag}").as_bytes());
        let path = self.media.path().join(format!("{tag}.jpg"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn png(&self, tag: &str) -> PathBuf {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend_from_slice(format!("race header {tag}").as_bytes());
        let path = self.media.path().join(format!("{tag}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn queue_json(&self) -> Vec<Value> {
        let out = self.run(&["queue", "list", "--json"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The id of the first post in `want`, waiting for it.
    fn wait_for_state(&self, want: &str, within: Duration) -> i64 {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(p) = self.queue_json().iter().find(|p| p["state"] == want) {
                return p["id"].as_i64().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no post reached {want} within {within:?}");
    }

    fn store(&self) -> Store {
        Store::open_in(self.data.path()).unwrap()
    }

    /// Items the server made, of every destination.
    fn items(&self) -> usize {
        let state = self.state();
        let count = |key: &str, done: &dyn Fn(&Value) -> bool| {
            state[key]
                .as_array()
                .map_or(0, |a| a.iter().filter(|c| done(c)).count())
        };
        count("containers", &|c| c["state"] == "completed")
            + count("mediaUploads", &|u| !u["asset"].is_null())
            + count("loopsAssets", &|a| !a["finalUrl"].is_null())
    }

    /// The post ended `completed`, and its bytes are in the ledger (a new upload is skipped).
    fn assert_completed_and_in_ledger(&self, id: i64, what: &str) {
        let store = self.store();
        let post = store.post(id).unwrap();
        assert_eq!(post.state.as_str(), "completed", "{what}: {post:?}");
        let dedupe = post.dedupe_key.clone().expect("a dedupe key");
        assert!(
            store
                .ledger_lookup(&post.project_id, &dedupe)
                .unwrap()
                .is_some(),
            "{what}: the completion is in the ledger"
        );
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn finish(mut child: Child) {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the run did not end"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Cancel (from another process) or pause (as the app does, through the store) while the
/// finalize is in flight; then `queue retry`. The finalize that succeeded after the user acted
/// is recorded, and the retry makes no second item.
fn act_during_a_slow_finalize(act: &str) {
    let w = world(SandboxConfig::default().slow_finalize(SLOW_FINALIZE));
    let img = w.image(act);
    let child = w.spawn(&["upload", &s(&img)]);
    let id = w.wait_for_state("finalizing", Duration::from_secs(60));
    match act {
        "cancel" => {
            let out = w.run(&["queue", "cancel", &id.to_string()]);
            assert_eq!(out.status.code(), Some(0), "{out:?}");
        }
        _ => {
            w.store()
                .transition(id, PostEvent::Pause, Change::default())
                .unwrap();
        }
    }
    finish(child);
    w.assert_completed_and_in_ledger(id, act);
    // A retry now is refused (it is done) and uploads nothing; neither does a resume.
    let _ = w.run(&["queue", "retry", &id.to_string()]);
    let _ = w.run(&["resume"]);
    assert_eq!(w.items(), 1, "{act}: exactly one item: {}", w.state());
    let again = w.run(&["upload", &s(&img)]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already uploaded"),
        "{act}: the ledger knows it: {again:?}"
    );
    assert_eq!(w.items(), 1);
}

#[test]
fn a_cancel_while_finalize_is_in_flight_records_the_item_and_a_retry_makes_no_second() {
    act_during_a_slow_finalize("cancel");
}

#[test]
fn a_pause_while_finalize_is_in_flight_records_the_item_and_a_retry_makes_no_second() {
    act_during_a_slow_finalize("pause");
}

/// The finalize ran on the server but the process died before it heard (a timeout looks the
/// same); the user cancels the stuck post, or pauses it, then retries it: the retry sends the
/// stored finalize again and reads the item back, for every destination.
#[test]
fn a_retry_after_an_unheard_finalize_reads_the_item_back_for_every_destination() {
    for (dest, act) in [
        ("content", "cancel"),
        ("content", "pause"),
        ("media", "cancel"),
        ("loops", "cancel"),
    ] {
        let w = world(SandboxConfig::default());
        let what = format!("{dest}/{act}");
        let file = match dest {
            "loops" => w.png(&what.replace('/', "-")),
            _ => w.image(&what.replace('/', "-")),
        };
        let file = s(&file);
        let args: Vec<&str> = match dest {
            "content" => vec!["upload", &file],
            "media" => vec!["media", "--kind", "reference_image", &file],
            _ => vec!["loops", &file],
        };
        let crashed = w
            .cli(&args)
            .env("LAYERS_FAILPOINT", "after_finalize")
            .output()
            .unwrap();
        assert!(!crashed.status.success(), "{what}: the failpoint stops it");
        assert_eq!(w.items(), 1, "{what}: the server made the item");
        let id = w.queue_json()[0]["id"].as_i64().unwrap();
        if act == "cancel" {
            let out = w.run(&["queue", "cancel", &id.to_string()]);
            assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
        } else {
            w.store()
                .transition(id, PostEvent::Pause, Change::default())
                .unwrap();
        }
        let retried = w.run(&["queue", "retry", &id.to_string()]);
        assert_eq!(retried.status.code(), Some(0), "{what}: {retried:?}");
        let _ = w.run(&["resume"]);
        assert_eq!(w.items(), 1, "{what}: exactly one item: {}", w.state());
        w.assert_completed_and_in_ledger(id, &what);
    }
}

/// A presigned URL stays valid after finalize, and a PUT to it would overwrite the published
/// file: once a post completes, the store keeps none (nor its PUT headers).
#[test]
fn a_completed_post_keeps_no_upload_url_headers_or_presigned_answer() {
    let w = world(SandboxConfig::default());
    let img = s(&w.image("urls"));
    let png = s(&w.png("urls"));
    for args in [
        vec!["upload", img.as_str()],
        vec!["media", "--kind", "reference_image", img.as_str()],
        vec!["loops", png.as_str()],
    ] {
        let out = w.run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    }
    let conn = rusqlite::Connection::open(w.data.path().join("queue.sqlite3")).unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM post_files
             WHERE upload_url IS NOT NULL OR put_headers IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "no upload URL or PUT header is kept");
    let mut stmt = conn
        .prepare("SELECT COALESCE(response_json, '') FROM sessions")
        .unwrap();
    let answers: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(answers.len(), 3);
    for a in answers {
        assert!(
            !a.contains("http://") && !a.contains("https://"),
            "a stored answer still holds a URL: {a}"
        );
    }
}
