//! One data dir, two services: posts and ledger rows carry the service (API base) they were
//! enqueued for. The real `layers-upload` binary against two in-process `layers-sandbox`
//! servers: a run against one never works the other's posts, and what was uploaded to one
//! never makes an upload to the other look done.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;
use support::corpus::corpus;

const KEY: &str = "lp_live_backend1_TopSecretBackendKeyValue";
const LOOPS_KEY: &str = "loops_backend_key_0123456789";

struct Service {
    base: String,
    project: String,
    _handle: SandboxHandle,
}

fn service() -> Service {
    let (base, handle) =
        Sandbox::start(SandboxConfig::default().loops_key(LOOPS_KEY)).expect("sandbox starts");
    Service {
        project: handle.projects()[0].clone(),
        base,
        _handle: handle,
    }
}

impl Service {
    fn state(&self) -> Value {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/_sandbox/state", self.base)])
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).expect("sandbox state JSON")
    }

    fn items(&self) -> usize {
        let state = self.state();
        state["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"] == "completed")
            .count()
    }

    fn loops_assets(&self) -> usize {
        let state = self.state();
        state["loopsAssets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| !a["finalUrl"].is_null())
            .count()
    }

    fn requests(&self) -> usize {
        self.state()["requests"].as_array().unwrap().len()
    }
}

fn cli(data: &Path, to: &Service, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-upload"));
    cmd.args(args)
        .env("LAYERS_API_KEY", KEY)
        .env("LAYERS_API_BASE", &to.base)
        .env("LAYERS_PROJECT_ID", &to.project)
        .env("LAYERS_UPLOADER_DATA_DIR", data)
        .env("LOOPS_API_KEY", LOOPS_KEY)
        .env("LOOPS_API_BASE", &to.base)
        .env("LAYERS_WRITES_PER_MINUTE", "0")
        .env_remove("LAYERS_FAILPOINT")
        .stdin(Stdio::null());
    cmd
}

fn run(data: &Path, to: &Service, args: &[&str]) -> Output {
    cli(data, to, args).output().expect("run layers-upload")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn jpeg(dir: &Path, tag: &str) -> PathBuf {
    let mut bytes = std::fs::read(corpus().join("jpeg_1080.jpg")).unwrap();
    bytes.extend_from_slice(format!("backend trailer {tag}").as_bytes());
    let path = dir.join(format!("{tag}.jpg"));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn png(dir: &Path, tag: &str) -> PathBuf {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(format!("backend header {tag}").as_bytes());
    let path = dir.join(format!("{tag}.png"));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_run_against_one_service_leaves_the_posts_of_another_alone() {
    let (a, b) = (service(), service());
    let data = tempfile::tempdir().unwrap();
    let media = tempfile::tempdir().unwrap();
    let img = jpeg(media.path(), "for-b");
    let img = img.to_string_lossy().into_owned();
    // Enqueued for B, stopped before anything was sent.
    let stopped = cli(data.path(), &b, &["upload", &img])
        .env("LAYERS_FAILPOINT", "before_create")
        .output()
        .unwrap();
    assert!(!stopped.status.success(), "{}", text(&stopped));

    let before = a.requests();
    let on_a = run(data.path(), &a, &["resume"]);
    assert_eq!(on_a.status.code(), Some(0), "{}", text(&on_a));
    assert!(
        text(&on_a).contains("enqueued for another service"),
        "{}",
        text(&on_a)
    );
    assert_eq!(a.items(), 0, "A got B's post: {}", a.state());
    // Only the key check reached A.
    assert!(a.requests() - before <= 1, "{}", a.state());
    let listed = run(data.path(), &a, &["queue", "list"]);
    assert!(
        text(&listed).contains(&format!("[for {}]", b.base)),
        "the list says whose post it is: {}",
        text(&listed)
    );

    let on_b = run(data.path(), &b, &["resume"]);
    assert_eq!(on_b.status.code(), Some(0), "{}", text(&on_b));
    assert_eq!(b.items(), 1);
    assert_eq!(a.items(), 0);
}

#[test]
fn what_one_service_has_never_makes_an_upload_to_another_look_done() {
    let (a, b) = (service(), service());
    let data = tempfile::tempdir().unwrap();
    let media = tempfile::tempdir().unwrap();
    let img = jpeg(media.path(), "both").to_string_lossy().into_owned();
    let header = png(media.path(), "both").to_string_lossy().into_owned();
    for args in [vec!["upload", img.as_str()], vec!["loops", header.as_str()]] {
        let to_b = run(data.path(), &b, &args);
        assert_eq!(to_b.status.code(), Some(0), "{}", text(&to_b));
        let to_a = run(data.path(), &a, &args);
        assert_eq!(to_a.status.code(), Some(0), "{}", text(&to_a));
        assert!(
            !text(&to_a).contains("already uploaded"),
            "B's ledger skipped an upload to A: {}",
            text(&to_a)
        );
        // On the same service again, the ledger does skip it.
        let again = run(data.path(), &a, &args);
        assert!(
            text(&again).contains("already uploaded"),
            "{}",
            text(&again)
        );
    }
    assert_eq!((a.items(), b.items()), (1, 1));
    assert_eq!((a.loops_assets(), b.loops_assets()), (1, 1));
}
