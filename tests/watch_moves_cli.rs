//! "Move to Uploaded/" against a file exported again under the same name while its first
//! version was still being finalized: the real `layers-upload watch` on real files with real
//! inotify, against an in-process `layers-sandbox` that is slow to answer finalize.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use layers_uploader::queue::store::Store;
use layers_uploader::queue::PostState;
use serde_json::Value;
use support::corpus::corpus;

const KEY: &str = "lp_live_moves1_TopSecretMovesKeyValue";

struct World {
    base: String,
    project: String,
    data: tempfile::TempDir,
    dir: tempfile::TempDir,
    _handle: SandboxHandle,
}

fn wait_until(within: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ok()
}

impl World {
    fn new(config: SandboxConfig) -> World {
        let (base, handle) = Sandbox::start(config).expect("sandbox starts");
        World {
            project: handle.projects()[0].clone(),
            base,
            data: tempfile::tempdir().unwrap(),
            dir: tempfile::tempdir().unwrap(),
            _handle: handle,
        }
    }

    fn watch(&self, args: &[&str]) -> (Child, PathBuf) {
        let log = self.data.path().join("watch.log");
        let child = Command::new(env!("CARGO_BIN_EXE_layers-upload"))
            .arg("watch")
            .args(args)
            .arg(self.dir.path())
            .env("LAYERS_API_KEY", KEY)
            .env("LAYERS_API_BASE", &self.base)
            .env("LAYERS_PROJECT_ID", &self.project)
            .env("LAYERS_UPLOADER_DATA_DIR", self.data.path())
            .env("LAYERS_WRITES_PER_MINUTE", "0")
            .env_remove("LAYERS_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start layers-upload watch");
        let read = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            wait_until(Duration::from_secs(20), || read().contains("watching ")),
            "the watch did not start:\n{}",
            read()
        );
        (child, log)
    }

    fn states(&self) -> Vec<PostState> {
        Store::open_in(self.data.path())
            .and_then(|s| s.list(None))
            .map(|posts| posts.iter().map(|p| p.state).collect())
            .unwrap_or_default()
    }

    fn completed_shas(&self) -> Vec<String> {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/_sandbox/state", self.base)])
            .output()
            .expect("curl");
        let state: Value = serde_json::from_slice(&out.stdout).expect("sandbox state JSON");
        let mut shas = Vec::new();
        for c in state["containers"].as_array().unwrap() {
            if c["state"] != "completed" {
                continue;
            }
            for f in c["files"].as_array().unwrap() {
                let key = f["r2Key"].as_str().unwrap();
                shas.push(
                    state["objects"][key]["sha256"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }
        shas.sort();
        shas
    }

    fn jpeg(&self, tag: &str) -> Vec<u8> {
        let mut bytes = std::fs::read(corpus().join("jpeg_1080.jpg")).unwrap();
        bytes.extend_from_slice(format!("export {tag} {}", self.dir.path().display()).as_bytes());
        bytes
    }
}

fn sha(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn a_file_exported_again_under_the_same_name_is_uploaded_not_filed_away_unseen() {
    let w = World::new(SandboxConfig::default().slow_finalize(Duration::from_secs(3)));
    let (first, second) = (w.jpeg("first"), w.jpeg("second"));
    let clip = w.dir.path().join("clip.jpg");
    let (mut child, log) = w.watch(&["--settle", "5", "--move-uploaded"]);
    std::fs::write(&clip, &first).unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || w
            .states()
            .contains(&PostState::Finalizing)),
        "the first export never reached finalize"
    );
    // The editor writes the new export under the same name while the first is finalized.
    let tmp = w.dir.path().join(".clip.jpg.part");
    std::fs::write(&tmp, &second).unwrap();
    std::fs::rename(&tmp, &clip).unwrap();

    let both = wait_until(Duration::from_secs(90), || {
        w.states()
            .iter()
            .filter(|s| **s == PostState::Completed)
            .count()
            == 2
            && w.dir.path().join("Uploaded/clip.jpg").exists()
    });
    std::thread::sleep(Duration::from_millis(500));
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let mut want = vec![sha(&first), sha(&second)];
    want.sort();
    assert_eq!(
        w.completed_shas(),
        want,
        "both exports are uploaded, once each:\n{log}"
    );
    assert!(both, "{log}");
    assert_eq!(
        std::fs::read(w.dir.path().join("Uploaded/clip.jpg")).unwrap(),
        second,
        "what Uploaded/ holds is what was uploaded last"
    );
    assert!(
        !w.dir.path().join("Uploaded/clip (2).jpg").exists() && !clip.exists(),
        "{log}"
    );
    assert!(log.contains("changed after it was uploaded"), "{log}");
}
