//! What the edge-case suites share: the real `layers-upload` binary against an in-process
//! sandbox, distinct real JPEGs, the sandbox's own state as the judge, and a tmpfs mount that
//! is unmounted when dropped (tiny or read-only file systems, as root).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;

use crate::support::corpus::corpus;

pub const KEY: &str = "lp_live_edges1_TopSecretEdgeKeyValue";
pub const SECRET: &str = "TopSecretEdgeKeyValue";

pub struct World {
    pub base: String,
    pub project: String,
    pub data: PathBuf,
    pub media: tempfile::TempDir,
    _data_root: tempfile::TempDir,
    _handle: SandboxHandle,
}

pub fn world(config: SandboxConfig) -> World {
    let (base, handle) = Sandbox::start(config).expect("sandbox starts");
    let data_root = tempfile::tempdir().unwrap();
    World {
        project: handle.projects()[0].clone(),
        base,
        data: data_root.path().join("data"),
        media: tempfile::tempdir().unwrap(),
        _data_root: data_root,
        _handle: handle,
    }
}

impl World {
    /// The data dir's parent (a place to mount a tiny file system at `data`).
    pub fn data_root(&self) -> &Path {
        self._data_root.path()
    }

    pub fn cli(&self, args: &[&str]) -> Command {
        self.cli_with(Path::new(env!("CARGO_BIN_EXE_layers-upload")), args)
    }

    pub fn cli_with(&self, binary: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary);
        cmd.args(args)
            .env("LAYERS_API_KEY", KEY)
            .env("LAYERS_API_BASE", &self.base)
            .env("LAYERS_PROJECT_ID", &self.project)
            .env("LAYERS_UPLOADER_DATA_DIR", &self.data)
            .env_remove("LAYERS_FAILPOINT")
            .env_remove("LAYERS_FAILPOINT_HOLD")
            .env_remove("LAYERS_FAILPOINT_MAX_PAGES")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        checked(self.cli(args).output().expect("run layers-upload"))
    }

    pub fn state(&self) -> Value {
        sandbox_state(&self.base)
    }

    /// Distinct, valid JPEGs (the corpus image plus a unique trailer after its end marker).
    pub fn images(&self, prefix: &str, n: usize, pad: usize) -> Vec<PathBuf> {
        let base = std::fs::read(corpus().join("jpeg_1080.jpg")).unwrap();
        distinct_jpegs(&base, self.media.path(), prefix, n, pad)
    }

    pub fn queue_json(&self) -> Vec<Value> {
        let out = self.run(&["queue", "list", "--json"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn quota_uploads(&self) -> u64 {
        self.state()["quota"][&self.project]["currentUploads"]
            .as_u64()
            .unwrap()
    }

    /// Every file is the object of exactly one completed container, and nothing else is.
    pub fn assert_each_uploaded_once(&self, files: &[PathBuf]) {
        assert_each_once(&self.state(), files);
    }
}

/// The sandbox `state` holds every file as the object of exactly one completed container, and
/// nothing else: the judge of "exactly once" that every suite uses.
pub fn assert_each_once(state: &Value, files: &[PathBuf]) {
    let by_sha = completed_by_sha(state);
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
        "no other objects were completed: {by_sha:?}"
    );
}

/// Paths as the `String`s a command line takes.
pub fn path_args(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// The sandbox's whole state (`Null` while it is down): the judge of every suite.
pub fn sandbox_state(base: &str) -> Value {
    let out = Command::new("curl")
        .args(["-sf", &format!("{base}/_sandbox/state")])
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Distinct, valid JPEGs in `dir`: `base` plus a trailer unique to the file and the folder
/// after its end marker, padded by `pad` bytes (the size sets how long a slowed PUT takes).
pub fn distinct_jpegs(base: &[u8], dir: &Path, prefix: &str, n: usize, pad: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!("{prefix}-{i:03}.jpg"));
            let mut bytes = base.to_vec();
            bytes.extend_from_slice(format!("trailer {prefix} {i} {}", dir.display()).as_bytes());
            bytes.resize(bytes.len() + pad, (i % 251) as u8);
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

/// One small, valid JPEG (1080×1350) made by ffmpeg once per test binary.
pub fn small_jpeg() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("small-jpeg");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join(format!("base-{}.jpg", std::process::id()));
        crate::support::corpus::ffmpeg(
            &["-f", "lavfi", "-i", "testsrc=s=1080x1350", "-frames:v", "1"],
            &out,
        );
        let bytes = std::fs::read(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        bytes
    })
}

/// sha-256 → how many completed containers hold an object with those bytes.
pub fn completed_by_sha(state: &Value) -> HashMap<String, usize> {
    let mut by_sha: HashMap<String, usize> = HashMap::new();
    for c in state["containers"].as_array().unwrap() {
        if c["state"] != "completed" {
            continue;
        }
        for f in c["files"].as_array().unwrap() {
            let key = f["r2Key"].as_str().unwrap();
            let sha = state["objects"][key]["sha256"]
                .as_str()
                .unwrap_or("missing")
                .to_string();
            *by_sha.entry(sha).or_default() += 1;
        }
    }
    by_sha
}

/// Fails when the key leaked or the binary panicked.
pub fn checked(out: Output) -> Output {
    let text = text(&out);
    assert!(!text.contains(SECRET), "the API key leaked:\n{text}");
    assert!(
        !text.contains("panicked"),
        "layers-upload panicked:\n{text}"
    );
    out
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn sha256(path: &Path) -> String {
    layers_uploader::media::inspect::sha256_path(path).unwrap()
}

pub fn strs(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

pub fn args<'a>(head: &[&'a str], files: &'a [String]) -> Vec<&'a str> {
    head.iter()
        .copied()
        .chain(files.iter().map(String::as_str))
        .collect()
}

/// Waits for a child with a deadline, reading its output meanwhile (a full pipe would stall
/// it); kills it (and fails) when it hangs.
pub fn wait_with_deadline(child: Child, within: Duration, what: &str) -> Output {
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => checked(out.unwrap()),
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid; it has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let out = rx.recv().unwrap().unwrap();
            panic!("{what} hung for {within:?}:\n{}", text(&out));
        }
    }
}

/// Waits until a failpoint hold was reached (its `.reached` file exists).
pub fn wait_for_hold(hold: &Path, within: Duration) {
    let reached = hold.with_extension("reached");
    let started = Instant::now();
    while !reached.exists() {
        assert!(
            started.elapsed() < within,
            "the failpoint hold was not reached within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tmpfs mounted at a path for as long as this lives (root only); unmounted on drop.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "4m") at `path`, or says why it cannot.
    pub fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    /// Makes the mount read-only (or read-write again).
    pub fn remount(&self, read_only: bool) {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let out = Command::new("mount")
            .args(["-o", mode])
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
