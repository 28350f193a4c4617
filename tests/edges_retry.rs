//! Start-up against a flaky, rate-limited or absent API, and clocks that disagree: the real
//! `layers-upload` binary against an in-process `layers-sandbox` (fault flags `fail_whoami`,
//! `clock_offset_secs`). The sandbox's state judges: one completed item per file, one session
//! per post, no quota beyond what completed, and no PUT to a dead URL.

mod support;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use layers_uploader::queue::store::Store;
use layers_uploader::queue::PostState;
use serde_json::Value;
use support::corpus::corpus;

const KEY: &str = "lp_live_retry1_TopSecretRetryKeyValue";
const SECRET: &str = "TopSecretRetryKeyValue";
const TWENTY_MINUTES: i64 = 20 * 60;

/// A local data dir and media dir; the API base may point where nothing listens yet.
struct World {
    base: String,
    project: String,
    data: tempfile::TempDir,
    media: tempfile::TempDir,
    _handle: Option<SandboxHandle>,
}

fn world(config: SandboxConfig) -> World {
    let (base, handle) = Sandbox::start(config).expect("sandbox starts");
    World {
        project: handle.projects()[0].clone(),
        base,
        data: tempfile::tempdir().unwrap(),
        media: tempfile::tempdir().unwrap(),
        _handle: Some(handle),
    }
}

/// A port on 127.0.0.1 where nothing listens (free a moment ago).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl World {
    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-upload"));
        cmd.args(args)
            .env("LAYERS_API_KEY", KEY)
            .env("LAYERS_API_BASE", &self.base)
            .env("LAYERS_PROJECT_ID", &self.project)
            .env("LAYERS_UPLOADER_DATA_DIR", self.data.path())
            .env("LAYERS_WRITES_PER_MINUTE", "0")
            .env_remove("LAYERS_FAILPOINT")
            .env_remove("LAYERS_STARTUP_ATTEMPTS")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, cmd: &mut Command) -> (Output, String) {
        let out = cmd.output().expect("run layers-upload");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(SECRET), "the API key leaked:\n{text}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out, stderr)
    }

    fn state(&self) -> Value {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/_sandbox/state", self.base)])
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).expect("sandbox state JSON")
    }

    /// Distinct, valid JPEGs (the corpus image plus a unique trailer after its end marker).
    fn images(&self, n: usize) -> Vec<PathBuf> {
        let base = std::fs::read(corpus().join("jpeg_1080.jpg")).unwrap();
        (0..n)
            .map(|i| {
                let path = self.media.path().join(format!("img-{i:03}.jpg"));
                let mut bytes = base.clone();
                bytes.extend_from_slice(
                    format!("retry trailer {i} {}", self.media.path().display()).as_bytes(),
                );
                std::fs::write(&path, bytes).unwrap();
                path
            })
            .collect()
    }

    fn completed_in_queue(&self) -> usize {
        Store::open_in(self.data.path())
            .and_then(|s| s.list(None))
            .map_or(0, |posts| {
                posts
                    .iter()
                    .filter(|p| p.state == PostState::Completed)
                    .count()
            })
    }
}

fn strs(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn upload_args(files: &[String]) -> Vec<&str> {
    std::iter::once("upload")
        .chain(files.iter().map(String::as_str))
        .collect()
}

/// Each file is the object of exactly one completed item; every container the sandbox ever
/// made is one of those (no extra sessions); the quota holds only those; and no PUT was
/// refused (nothing went to a dead or refused URL).
fn assert_one_session_and_item_per_file(w: &World, files: &[PathBuf]) {
    let state = w.state();
    let containers = state["containers"].as_array().unwrap();
    let mut by_sha: HashMap<String, usize> = HashMap::new();
    for c in containers {
        assert_eq!(c["state"], "completed", "an extra session: {c}");
        for f in c["files"].as_array().unwrap() {
            let key = f["r2Key"].as_str().unwrap();
            let sha = state["objects"][key]["sha256"]
                .as_str()
                .unwrap_or("missing");
            *by_sha.entry(sha.to_string()).or_default() += 1;
        }
    }
    for f in files {
        let sha = layers_uploader::media::inspect::sha256_path(f).unwrap();
        assert_eq!(by_sha.get(&sha), Some(&1), "{}: {by_sha:?}", f.display());
    }
    assert_eq!(containers.len(), files.len(), "one session per post");
    assert_eq!(
        state["quota"][&w.project]["currentUploads"].as_u64(),
        Some(files.len() as u64),
        "no quota beyond what completed"
    );
    let refused_puts: Vec<&Value> = state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "PUT" && r["status"].as_u64() != Some(200))
        .collect();
    assert!(
        refused_puts.is_empty(),
        "PUTs were refused: {refused_puts:?}"
    );
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

#[test]
fn upload_waits_out_a_rate_limited_key_check_instead_of_exiting() {
    let w = world(SandboxConfig::default().fail_whoami(&[429]));
    let files = w.images(2);
    let names = strs(&files);
    let (out, stderr) = w.run(&mut w.cli(&upload_args(&names)));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "layers-upload: Layers rate-limited the key check; trying again in 1 s (attempt 2 of 5)"
        ),
        "{stderr}"
    );
    assert_one_session_and_item_per_file(&w, &files);
}

/// `resume` after a crash, against a sandbox whose clock is 20 minutes ahead: the key check
/// gets a 503, then a 429 whose `Retry-After` is an HTTP date two seconds ahead *by the
/// server's clock*. Judged by the local clock it would be 20 minutes away.
#[cfg(feature = "failpoints")]
#[test]
fn resume_waits_out_a_server_error_and_a_dated_retry_after_by_the_servers_clock() {
    let config = SandboxConfig::default()
        .fail_whoami(&[200, 503, 429])
        .retry_after_as_date(true)
        .clock_offset_secs(TWENTY_MINUTES);
    let w = world(config);
    let files = w.images(2);
    let names = strs(&files);
    let crashed = w
        .cli(&upload_args(&names))
        .env("LAYERS_FAILPOINT", "before_put")
        .output()
        .unwrap();
    assert!(
        !crashed.status.success(),
        "the failpoint stopped the upload"
    );
    let started = Instant::now();
    let (out, stderr) = w.run(&mut w.cli(&["resume"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "Layers answered the key check with a server error (HTTP 503); trying again in"
        ) && stderr.contains("(attempt 2 of 5)"),
        "{stderr}"
    );
    let waited = stderr
        .contains("Layers rate-limited the key check; trying again in 2 s (attempt 3 of 5)")
        || stderr
            .contains("Layers rate-limited the key check; trying again in 1 s (attempt 3 of 5)");
    assert!(waited, "the dated Retry-After is about 2 s:\n{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_one_session_and_item_per_file(&w, &files);
}

#[test]
fn a_refused_key_ends_at_once_and_a_dead_api_when_the_budget_runs_out() {
    let w = world(SandboxConfig::default().fail_whoami(&[401]));
    let file = strs(&w.images(1));
    let (out, stderr) = w.run(&mut w.cli(&upload_args(&file)));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Layers refused the API key (401)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("trying again"),
        "a 401 is never retried:\n{stderr}"
    );

    let dead = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let (out, stderr) = w.run(
        w.cli(&upload_args(&file))
            .env("LAYERS_API_BASE", &dead)
            .env("LAYERS_STARTUP_ATTEMPTS", "3"),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("during the key check; trying again in")
            && stderr.contains("(attempt 2 of 3)")
            && stderr.contains("(attempt 3 of 3)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("gave up on the key check after 3 tries"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// The local clock 20 minutes ahead of the server's: every `expiresAt` looks 5 minutes past
/// by local time. Judged by the server's clock, the links are good and used.
#[test]
fn a_local_clock_twenty_minutes_ahead_keeps_its_sessions() {
    let w = world(SandboxConfig::default().clock_offset_secs(-TWENTY_MINUTES));
    let files = w.images(3);
    let names = strs(&files);
    let (out, stderr) = w.run(&mut w.cli(&upload_args(&names)));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_one_session_and_item_per_file(&w, &files);
}

/// The local clock 20 minutes behind: links live 15 minutes by the server's clock but look
/// good for 35 by ours. A fresh upload uses its one session...
#[test]
fn a_local_clock_twenty_minutes_behind_uses_one_session_per_post() {
    let w = world(SandboxConfig::default().clock_offset_secs(TWENTY_MINUTES));
    let files = w.images(3);
    let names = strs(&files);
    let (out, stderr) = w.run(&mut w.cli(&upload_args(&names)));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_one_session_and_item_per_file(&w, &files);
}

/// ...and after its links really expired (by the server's clock), resume starts over with a
/// new session without first PUTting to the dead URL.
#[cfg(feature = "failpoints")]
#[test]
fn a_local_clock_behind_never_puts_to_an_expired_url() {
    // Long enough that the new session's PUT finishes inside it even on a loaded machine.
    let ttl = Duration::from_secs(4);
    let config = SandboxConfig::default()
        .clock_offset_secs(TWENTY_MINUTES)
        .url_ttl(ttl);
    let w = world(config);
    let files = w.images(1);
    let names = strs(&files);
    let crashed = w
        .cli(&upload_args(&names))
        .env("LAYERS_FAILPOINT", "before_put")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    std::thread::sleep(ttl + Duration::from_secs(1));
    let (out, stderr) = w.run(&mut w.cli(&["resume"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let state = w.state();
    let puts: Vec<u64> = state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "PUT")
        .map(|r| r["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(puts, [200], "one PUT, to the live URL of the new session");
    let completed = state["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "completed")
        .count();
    assert_eq!(completed, 1);
}

/// A running `layers-upload watch` whose stderr goes to a file.
struct Watching {
    child: Child,
    log: PathBuf,
}

impl Watching {
    fn start(w: &World, dir: &Path, base: &str) -> Watching {
        let log = w.data.path().join("watch.log");
        let child = w
            .cli(&["watch", "--settle", "0.5"])
            .arg(dir)
            .env("LAYERS_API_BASE", base)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start layers-upload watch");
        Watching { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&mut self, needle: &str, within: Duration) {
        let found = wait_until(within, || {
            self.log().contains(needle) || self.child.try_wait().ok().flatten().is_some()
        });
        assert!(
            found && self.log().contains(needle),
            "the watch never said {needle:?}:\n{}",
            self.log()
        );
    }

    fn interrupt(mut self) -> Option<i32> {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        let exited = wait_until(Duration::from_secs(20), || {
            self.child.try_wait().ok().flatten().is_some()
        });
        assert!(exited, "the watch did not stop on SIGINT:\n{}", self.log());
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A render server that boots before its network: `watch` starts with nothing listening,
/// queues what settles offline, says so, and uploads it all once the API comes up.
#[test]
fn watch_started_while_the_api_is_down_queues_offline_and_uploads_once_it_answers() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut w = World {
        base: base.clone(),
        project: layers_sandbox::DEFAULT_PROJECT_ID.to_string(),
        data: tempfile::tempdir().unwrap(),
        media: tempfile::tempdir().unwrap(),
        _handle: None,
    };
    let folder = tempfile::tempdir().unwrap();
    let mut watching = Watching::start(&w, folder.path(), &base);
    watching.wait_log("watching offline", Duration::from_secs(20));
    watching.wait_log("watching ", Duration::from_secs(20));
    let files = w.images(3);
    for f in &files {
        let to = folder.path().join(f.file_name().unwrap());
        let part = to.with_extension("export.tmp");
        std::fs::copy(f, &part).unwrap();
        std::fs::rename(&part, &to).unwrap();
    }
    watching.wait_log(
        "Layers unreachable, 3 posts waiting, next try in",
        Duration::from_secs(60),
    );
    assert!(
        watching.child.try_wait().unwrap().is_none(),
        "the watch keeps going:\n{}",
        watching.log()
    );
    assert_eq!(w.completed_in_queue(), 0);

    let (started, handle) =
        Sandbox::start(SandboxConfig::default().port(port)).expect("the API comes up");
    assert_eq!(started, base);
    w._handle = Some(handle);
    let all_done = wait_until(Duration::from_secs(90), || w.completed_in_queue() == 3);
    assert!(all_done, "not uploaded:\n{}", watching.log());
    assert_eq!(watching.interrupt(), Some(130));
    let moved_files: Vec<PathBuf> = files
        .iter()
        .map(|f| folder.path().join(f.file_name().unwrap()))
        .collect();
    assert_one_session_and_item_per_file(&w, &moved_files);
}

#[test]
fn watch_with_a_refused_key_exits_2_at_once() {
    let w = world(SandboxConfig::default().fail_whoami(&[401]));
    let folder = tempfile::tempdir().unwrap();
    let mut watching = Watching::start(&w, folder.path(), &w.base.clone());
    let exited = wait_until(Duration::from_secs(20), || {
        watching.child.try_wait().ok().flatten().is_some()
    });
    assert!(exited, "a refused key ends the watch:\n{}", watching.log());
    let code = watching.child.wait().ok().and_then(|s| s.code());
    assert_eq!(code, Some(2), "{}", watching.log());
    assert!(watching.log().contains("Layers refused the API key (401)"));
}

#[test]
fn login_status_rides_out_a_rate_limited_key_check() {
    let w = world(SandboxConfig::default().fail_whoami(&[429, 503]));
    let (out, stderr) = w.run(&mut w.cli(&["login", "--status"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Layers rate-limited the key check; trying again in 1 s (attempt 2 of 5)"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Organization: Sandbox Organization"),
        "{stderr}"
    );
}
