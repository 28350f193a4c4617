//! `layers-upload watch --make-fit` end to end: a too-fast video saved into a watched folder is
//! uploaded once, as its fitted copy from the hidden `.fit/` folder; the copy is never taken as
//! a new file (no loop), and the original's bytes stay as they were.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig};
use layers_uploader::media::inspect::sha256_path;
use layers_uploader::queue::store::Store;
use layers_uploader::queue::PostState;
use serde_json::Value;
use support::fit_media::source;

const KEY: &str = "lp_live_watchfit1_WatchFitKeyValue";

fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn completed_posts(data: &Path) -> usize {
    Store::open_in(data)
        .and_then(|s| s.list(None))
        .map_or(0, |posts| {
            posts
                .iter()
                .filter(|p| p.state == PostState::Completed)
                .count()
        })
}

#[test]
fn make_fit_uploads_the_copy_once_and_never_takes_the_copy_as_a_new_file() {
    let (base, handle) = Sandbox::start(SandboxConfig::default()).expect("sandbox starts");
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let log = data.path().join("watch.log");
    let child = Command::new(env!("CARGO_BIN_EXE_layers-upload"))
        .args(["watch", "--settle", "0.5", "--make-fit"])
        .arg(dir.path())
        .env("LAYERS_API_KEY", KEY)
        .env("LAYERS_API_BASE", &base)
        .env("LAYERS_PROJECT_ID", &handle.projects()[0])
        .env("LAYERS_UPLOADER_DATA_DIR", data.path())
        .env("LAYERS_FIT_PRESET", "ultrafast")
        .env_remove("LAYERS_VIDEO_CAP_BYTES")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start layers-upload watch");
    let _child = Killed(child);
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(20), || said().contains("watching ")),
        "{}",
        said()
    );

    // Saved like an exporter does: a temporary name, then the final one.
    let original = dir.path().join("clip.mp4");
    let tmp = dir.path().join("clip.mp4.tmp");
    std::fs::copy(source("fps120.mp4"), &tmp).unwrap();
    std::fs::rename(&tmp, &original).unwrap();
    let sha = sha256_path(&original).unwrap();

    assert!(
        wait_until(Duration::from_secs(120), || completed_posts(data.path())
            >= 1),
        "the fitted copy was not uploaded:\n{}",
        said()
    );
    let copy = dir.path().join(".fit").join("clip.fit.mp4");
    assert!(
        said().contains("queued its fitted copy .fit/clip.fit.mp4"),
        "{}",
        said()
    );
    // Several settle times later, the copy has not been taken as a new file.
    std::thread::sleep(Duration::from_secs(3));
    let log_text = said();
    assert_eq!(log_text.matches("→ queued").count(), 1, "{log_text}");
    assert_eq!(completed_posts(data.path()), 1, "{log_text}");
    let out = Command::new("curl")
        .args(["-sf", &format!("{base}/_sandbox/state")])
        .output()
        .expect("curl");
    let state: Value = serde_json::from_slice(&out.stdout).expect("sandbox state JSON");
    let items: Vec<&Value> = state["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "completed")
        .collect();
    assert_eq!(items.len(), 1, "exactly one item");
    let key = items[0]["files"][0]["r2Key"].as_str().unwrap();
    assert_eq!(
        state["objects"][key]["sha256"].as_str(),
        Some(sha256_path(&copy).unwrap().as_str()),
        "the copy's bytes were uploaded"
    );
    assert_eq!(sha256_path(&original).unwrap(), sha, "the original changed");
}
