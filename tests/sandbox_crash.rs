//! The real `layers-upload` binary against a sandbox that is itself `kill -9`ed: the sandbox
//! runs in a child process (this test binary re-run as `sandbox_child_process`, which serves
//! `layers_sandbox::Sandbox` exactly as the `layers-sandbox` binary does) on a fixed port and
//! data dir, so killing and restarting it is a real crash and a real reload. The sandbox's own
//! state is the judge: one completed item per file, no quota held beyond them.
//!
//! The chaos test prints its seed; `LAYERS_CHAOS_SEED=<n>` replays a run.

mod edge_support;
mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig, DEFAULT_PROJECT_ID};
use serde_json::Value;

const KEY: &str = "lp_live_crash1_CrashTestSecretValue";
const SECRET: &str = "CrashTestSecretValue";
const CHILD_ENV: &str = "LAYERS_TEST_SANDBOX_CHILD";

/// Not a test: the sandbox child process. Ignored, so only [`SandboxProc::start`] runs it.
#[test]
#[ignore = "run as a child process by the crash tests"]
fn sandbox_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let spec: Value = serde_json::from_str(&spec).unwrap();
    let mut config = SandboxConfig::default()
        .data_dir(spec["dir"].as_str().unwrap())
        .port(spec["port"].as_u64().unwrap() as u16)
        .reap_after(Duration::from_millis(spec["reapMs"].as_u64().unwrap()));
    if let Some(bps) = spec["slowPutBps"].as_u64() {
        config = config.slow_put_bps(bps);
    }
    let (base, _handle) = Sandbox::start(config).expect("sandbox child starts");
    println!("LISTENING {base}");
    loop {
        std::thread::park();
    }
}

/// A sandbox in a child process; `kill -9`ed on drop.
struct SandboxProc {
    child: Child,
    base: String,
}

#[derive(Clone)]
struct Spec {
    dir: PathBuf,
    port: u16,
    reap: Duration,
    slow_put_bps: Option<u64>,
}

impl SandboxProc {
    fn start(spec: &Spec) -> SandboxProc {
        let json = serde_json::json!({
            "dir": spec.dir, "port": spec.port, "reapMs": spec.reap.as_millis() as u64,
            "slowPutBps": spec.slow_put_bps,
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "sandbox_child_process",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                ])
                .env(CHILD_ENV, json.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("sandbox child spawns");
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let base = lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|l| l.strip_prefix("LISTENING ").map(str::to_string));
            if let Some(base) = base {
                // Keep draining, so the child never blocks on a full pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return SandboxProc { child, base };
            }
            let _ = child.wait();
            // The port of a just-killed child can take a moment to free.
            assert!(
                Instant::now() < deadline,
                "the sandbox child never listened"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for SandboxProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Rig {
    spec: Spec,
    sandbox: SandboxProc,
    data: tempfile::TempDir,
    media: tempfile::TempDir,
    _sandbox_dir: tempfile::TempDir,
}

fn rig(reap: Duration, slow_put_bps: Option<u64>) -> Rig {
    let sandbox_dir = tempfile::tempdir().unwrap();
    let mut spec = Spec {
        dir: sandbox_dir.path().to_path_buf(),
        port: 0,
        reap,
        slow_put_bps,
    };
    let sandbox = SandboxProc::start(&spec);
    spec.port = sandbox.base.rsplit(':').next().unwrap().parse().unwrap();
    Rig {
        spec,
        sandbox,
        data: tempfile::tempdir().unwrap(),
        media: tempfile::tempdir().unwrap(),
        _sandbox_dir: sandbox_dir,
    }
}

impl Rig {
    fn restart_sandbox(&mut self) {
        self.sandbox.kill_9();
        self.sandbox = SandboxProc::start(&self.spec);
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-upload"));
        cmd.args(args)
            .env("LAYERS_API_KEY", KEY)
            .env("LAYERS_API_BASE", &self.sandbox.base)
            .env("LAYERS_PROJECT_ID", DEFAULT_PROJECT_ID)
            .env("LAYERS_UPLOADER_DATA_DIR", self.data.path())
            .env_remove("LAYERS_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Distinct valid JPEGs: a small base image plus a unique trailer after its end marker.
    fn images(&self, n: usize, pad: usize) -> Vec<PathBuf> {
        edge_support::distinct_jpegs(edge_support::small_jpeg(), self.media.path(), "img", n, pad)
    }

    fn state(&self) -> Value {
        edge_support::sandbox_state(&self.sandbox.base)
    }

    fn completed_count(&self) -> usize {
        self.state()["containers"].as_array().map_or(0, |a| {
            a.iter().filter(|c| c["state"] == "completed").count()
        })
    }

    fn quota_uploads(&self) -> u64 {
        self.state()["quota"][DEFAULT_PROJECT_ID]["currentUploads"]
            .as_u64()
            .unwrap()
    }

    fn queued_posts(&self) -> usize {
        let out = self
            .cli(&["queue", "list", "--json"])
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    }
}

/// Waits for a child with a deadline; returns its status and stderr.
fn finish(mut child: Child, within: Duration) -> (ExitStatus, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            assert!(!err.contains(SECRET), "the API key leaked:\n{err}");
            return (status, err);
        }
        if start.elapsed() > within {
            let _ = child.kill();
            panic!("the client did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every file is the object of exactly one completed container, and nothing else is.
fn assert_each_uploaded_once(r: &Rig, files: &[PathBuf]) {
    edge_support::assert_each_once(&r.state(), files);
}

#[test]
fn a_kill_9_of_the_sandbox_mid_batch_and_the_client_finishes_each_file_once() {
    let mut r = rig(Duration::from_secs(7200), Some(1_000_000));
    let files = r.images(4, 600_000);
    let names = edge_support::path_args(&files);
    let mut args = vec!["upload"];
    args.extend(names.iter().map(String::as_str));
    let client = r.cli(&args).spawn().unwrap();

    // Kill the sandbox once the first item completed, while the next PUT is streaming.
    let start = Instant::now();
    while r.completed_count() < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nothing completed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    r.sandbox.kill_9();
    std::thread::sleep(Duration::from_millis(700));
    r.sandbox = SandboxProc::start(&r.spec);
    assert!(
        r.completed_count() >= 1,
        "the completed item survived the crash"
    );

    let (status, err) = finish(client, Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "{err}");
    assert_each_uploaded_once(&r, &files);
    assert_eq!(r.quota_uploads(), files.len() as u64, "no extra quota held");
}

#[test]
fn chaos_30_client_kills_and_2_sandbox_kills_end_with_each_of_50_files_once() {
    let seed = std::env::var("LAYERS_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("chaos seed: {seed} (replay with LAYERS_CHAOS_SEED={seed})");
    eprintln!("chaos seed: {seed} (replay with LAYERS_CHAOS_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    // Longer than the whole batch takes (sessions reserved early must live until their PUT),
    // short enough that the final check waits for it.
    let reap = Duration::from_secs(45);
    // Each PUT takes over a second, so most kills land mid-batch, many mid-PUT.
    let mut r = rig(reap, Some(300_000));
    let files = r.images(50, 300_000);
    let names = edge_support::path_args(&files);
    let sandbox_kills = [
        rng.usize(3..12), // one early, one late
        rng.usize(12..24),
    ];
    let mut client_kills = 0;
    let mut upload_args = vec!["upload"];
    upload_args.extend(names.iter().map(String::as_str));
    let started = Instant::now();

    // 30 kills of a running client; a run that ends by itself does not count, and once
    // everything completed there is nothing left to interrupt.
    for round in 0..60 {
        if client_kills == 30 || (round > 0 && r.completed_count() == files.len()) {
            break;
        }
        // The first run must get the batch into the queue; afterwards every run is a resume.
        let enqueued = round > 0 && r.queued_posts() == files.len();
        let args: &[&str] = if enqueued { &["resume"] } else { &upload_args };
        let mut client = r.cli(args).spawn().unwrap();
        let wait = Duration::from_millis(rng.u64(200..2500));
        if sandbox_kills.contains(&round) {
            std::thread::sleep(wait / 2);
            r.restart_sandbox();
            std::thread::sleep(wait / 2);
        } else {
            std::thread::sleep(wait);
        }
        let outcome = client.try_wait().unwrap();
        client.kill().ok(); // SIGKILL (a no-op if it already exited)
        client.wait().unwrap();
        client_kills += usize::from(outcome.is_none());
        eprintln!(
            "round {round}: {} after {wait:?}, {} completed",
            outcome.map_or("killed".to_string(), |s| format!("exited {s}")),
            r.completed_count()
        );
    }
    eprintln!("{client_kills} client kills, sandbox kills in rounds {sandbox_kills:?}");
    // PUTs are throttled, so the batch outlasts the kills; fewer means the rig changed.
    assert!(
        client_kills >= 20,
        "only {client_kills} kills hit a running client"
    );
    let enqueued = r.queued_posts();
    let args: &[&str] = if enqueued == files.len() {
        &["resume"]
    } else {
        &upload_args
    };
    let (status, err) = finish(r.cli(args).spawn().unwrap(), Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "{err}");
    assert_each_uploaded_once(&r, &files);

    // Sessions abandoned by the kills are reaped: only the 50 items hold quota.
    let deadline = Instant::now() + reap + Duration::from_secs(20);
    while r.quota_uploads() > files.len() as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(r.quota_uploads(), files.len() as u64, "extra quota held");
    assert_each_uploaded_once(&r, &files);
    eprintln!(
        "chaos seed {seed}: done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
