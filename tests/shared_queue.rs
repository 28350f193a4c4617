//! Several uploaders, one queue: real `layers-upload` processes, each with its own data dir
//! and machine name, sharing one real PostgreSQL (a throwaway cluster, `pg_support`) and one
//! sandbox. The sandbox's state is the judge of "exactly once"; the shared database is read
//! directly to see who held what.

mod edge_support;
mod pg_support;
mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig, DEFAULT_PROJECT_ID};
use pg_support::Pg;
use serde_json::Value;

const KEY: &str = "lp_live_shared1_SharedQueueSecretValue";
const SECRET: &str = "SharedQueueSecretValue";
/// The lease time the runners use here: short, so a takeover is quick to test.
const LEASE_S: &str = "3";

struct Rig {
    /// Each test has its own throwaway cluster (one restarts it), stopped when the rig drops.
    pg: Pg,
    base: String,
    _sandbox: Box<dyn std::any::Any>,
    url: String,
    media: tempfile::TempDir,
    homes: tempfile::TempDir,
    db: String,
}

fn rig(slow_put_bps: Option<u64>) -> Rig {
    let pg = Pg::start();
    let sandbox_dir = tempfile::tempdir().unwrap();
    let mut config = SandboxConfig::default().data_dir(sandbox_dir.path());
    if let Some(bps) = slow_put_bps {
        config = config.slow_put_bps(bps);
    }
    let (base, handle) = Sandbox::start(config).expect("sandbox starts");
    let url = pg.new_database();
    let db = url.rsplit('/').next().unwrap().to_string();
    Rig {
        pg,
        base,
        _sandbox: Box::new((handle, sandbox_dir)),
        url,
        media: tempfile::tempdir().unwrap(),
        homes: tempfile::tempdir().unwrap(),
        db,
    }
}

impl Rig {
    /// A `layers-upload` of machine `machine` (its own data dir) on the shared queue.
    fn cli(&self, machine: &str, args: &[&str]) -> Command {
        let data = self.homes.path().join(machine);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-upload"));
        cmd.args(args)
            .env("LAYERS_API_KEY", KEY)
            .env("LAYERS_API_BASE", &self.base)
            .env("LAYERS_PROJECT_ID", DEFAULT_PROJECT_ID)
            .env("LAYERS_UPLOADER_DATA_DIR", &data)
            .env("LAYERS_UPLOADER_STORE", &self.url)
            .env("LAYERS_UPLOADER_MACHINE", machine)
            .env("LAYERS_UPLOADER_LEASE_S", LEASE_S)
            .env("LAYERS_LOG", "info")
            .env_remove("LAYERS_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Distinct valid JPEGs: a small base image plus a unique trailer after its end marker.
    fn images(&self, n: usize, pad: usize) -> Vec<PathBuf> {
        edge_support::distinct_jpegs(edge_support::small_jpeg(), self.media.path(), "img", n, pad)
    }

    fn sandbox_state(&self) -> Value {
        edge_support::sandbox_state(&self.base)
    }

    /// How many items the sandbox holds completed.
    fn completed_items(&self) -> usize {
        self.sandbox_state()["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"] == "completed")
            .count()
    }

    fn sql_rows(&self, sql: &str) -> Vec<postgres::Row> {
        self.pg.client(&self.db).query(sql, &[]).unwrap()
    }

    /// A count from the shared database; -1 before a runner created the schema.
    fn count(&self, sql: &str) -> i64 {
        match self.pg.client(&self.db).query(sql, &[]) {
            Ok(rows) => rows[0].get(0),
            Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => -1,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// The posts and watch decisions in the shared database, for a failure message.
    fn dump(&self) -> String {
        let mut out = String::new();
        let queries = [
            "SELECT id::text, state, COALESCE(error_code, ''), COALESCE(machine, '') FROM posts ORDER BY id",
            "SELECT watch_id::text, encode(path, 'escape'), outcome, COALESCE(detail, '') FROM watch_files ORDER BY watch_id",
        ];
        for sql in queries {
            match self.pg.client(&self.db).query(sql, &[]) {
                Ok(rows) => {
                    for row in rows {
                        let cols: Vec<String> = (0..4).map(|i| row.get(i)).collect();
                        out.push_str(&format!("  {}\n", cols.join(" | ")));
                    }
                }
                Err(e) => out.push_str(&format!("  ({e})\n")),
            }
        }
        out
    }

    /// `machine` starts uploading `file` and is killed with `kill -9` mid-PUT (on a slow
    /// sandbox): its post is left `uploading` under a claim that runs out.
    fn killed_mid_put(&self, machine: &str, file: &std::path::Path) {
        let mut child = self
            .cli(machine, &["upload", &file.to_string_lossy()])
            .spawn()
            .unwrap();
        self.wait_for("its PUT streaming", Duration::from_secs(60), || {
            self.count("SELECT COUNT(*) FROM posts WHERE state = 'uploading'") == 1
        });
        child.kill().unwrap();
        let _ = child.wait();
    }

    /// A `resume` on `machine` that finishes everything, each of `files` uploaded once.
    fn resume_finishes(&self, machine: &str, files: &[PathBuf]) {
        let (status, _, err) = finish(
            self.cli(machine, &["resume"]).spawn().unwrap(),
            Duration::from_secs(120),
        );
        assert!(status.success(), "{err}");
        assert_each_uploaded_once(self, files);
    }

    fn wait_for(&self, what: &str, within: Duration, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < within,
                "timed out waiting for {what}; the shared queue holds:\n{}",
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits for a child; returns its status, stdout and stderr (checked for the key).
fn finish(mut child: Child, within: Duration) -> (ExitStatus, String, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            use std::io::Read;
            let (mut out, mut err) = (String::new(), String::new());
            if let Some(mut o) = child.stdout.take() {
                let _ = o.read_to_string(&mut out);
            }
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            assert!(
                !err.contains(SECRET) && !out.contains(SECRET),
                "the API key leaked"
            );
            return (status, out, err);
        }
        if start.elapsed() > within {
            let _ = child.kill();
            panic!("a runner did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every file is the object of exactly one completed container, and nothing else is.
fn assert_each_uploaded_once(r: &Rig, files: &[PathBuf]) {
    edge_support::assert_each_once(&r.sandbox_state(), files);
}

#[test]
fn three_runners_on_one_shared_queue_upload_60_files_exactly_once() {
    let r = rig(Some(4_000_000));
    let files = r.images(60, 200_000);
    let names = edge_support::path_args(&files);
    let mut args = vec!["upload", "--concurrency", "2"];
    args.extend(names.iter().map(String::as_str));
    let a = r.cli("render-a", &args).spawn().unwrap();
    r.wait_for("the 60 posts queued", Duration::from_secs(120), || {
        r.count("SELECT COUNT(*) FROM posts") == 60
    });
    let b = r
        .cli("render-b", &["resume", "--concurrency", "2"])
        .spawn()
        .unwrap();
    let c = r
        .cli("render-c", &["resume", "--concurrency", "2"])
        .spawn()
        .unwrap();
    for (name, child) in [("a", a), ("b", b), ("c", c)] {
        let (status, _, err) = finish(child, Duration::from_secs(300));
        assert!(status.success(), "runner {name} failed: {err}");
    }
    assert_each_uploaded_once(&r, &files);
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE state = 'completed'"),
        60
    );
    assert_eq!(r.count("SELECT COUNT(*) FROM ledger"), 60);
    let machines: HashSet<String> = r
        .sql_rows("SELECT DISTINCT machine FROM posts")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        machines,
        ["render-a", "render-b", "render-c"]
            .map(String::from)
            .into_iter()
            .collect(),
        "every runner worked some of the queue"
    );
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE lease_owner IS NOT NULL"),
        0,
        "runners that finished give their claims back"
    );
    // `queue list` on any machine shows the whole queue and who worked each post.
    let out = r.cli("render-b", &["queue", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert_eq!(list.lines().count(), 60, "{list}");
    assert!(
        list.contains("(by render-a)") && list.contains("(by render-c)"),
        "{list}"
    );
}

#[test]
fn two_runners_killed_with_kill_9_mid_put_and_the_third_finishes_their_posts() {
    let r = rig(Some(400_000));
    let files = r.images(12, 300_000);
    let names = edge_support::path_args(&files);
    let mut args = vec!["upload", "--concurrency", "2"];
    args.extend(names.iter().map(String::as_str));
    let mut a = r.cli("render-a", &args).spawn().unwrap();
    r.wait_for("the 12 posts queued", Duration::from_secs(120), || {
        r.count("SELECT COUNT(*) FROM posts") == 12
    });
    let mut b = r
        .cli("render-b", &["resume", "--concurrency", "2"])
        .spawn()
        .unwrap();
    // Both hold posts whose PUTs are streaming.
    r.wait_for("both runners mid-PUT", Duration::from_secs(60), || {
        r.count(
            "SELECT COUNT(DISTINCT machine) FROM posts
             WHERE state = 'uploading' AND lease_owner IS NOT NULL",
        ) == 2
    });
    a.kill().unwrap();
    b.kill().unwrap();
    let _ = a.wait();
    let _ = b.wait();
    let orphaned: Vec<i64> = r
        .sql_rows("SELECT id FROM posts WHERE state NOT IN ('completed') ORDER BY id")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(!orphaned.is_empty());
    let started = Instant::now();
    let c = r
        .cli("render-c", &["resume", "--concurrency", "4"])
        .spawn()
        .unwrap();
    let (status, _, err) = finish(c, Duration::from_secs(300));
    assert!(status.success(), "the third runner failed: {err}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the dead runners' claims were honoured until they ran out"
    );
    assert_each_uploaded_once(&r, &files);
    let finished_by_c = r.count(&format!(
        "SELECT COUNT(*) FROM posts WHERE state = 'completed' AND machine = 'render-c'
           AND id IN ({})",
        orphaned
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    ));
    assert_eq!(
        finished_by_c as usize,
        orphaned.len(),
        "render-c finished them all"
    );
}

#[test]
fn the_same_file_dropped_on_two_machines_watch_folders_is_uploaded_once() {
    let r = rig(None);
    let image = r.images(1, 50_000).remove(0);
    let folder_a = r.homes.path().join("drop-a");
    let folder_b = r.homes.path().join("drop-b");
    std::fs::create_dir_all(&folder_a).unwrap();
    std::fs::create_dir_all(&folder_b).unwrap();
    let watch = |machine: &str, folder: &PathBuf| {
        r.cli(
            machine,
            &["watch", &folder.to_string_lossy(), "--settle", "0.3"],
        )
        .spawn()
        .unwrap()
    };
    let wa = watch("editor-a", &folder_a);
    let wb = watch("editor-b", &folder_b);
    r.wait_for("both watches stored", Duration::from_secs(60), || {
        r.count("SELECT COUNT(*) FROM watches") == 2
    });
    std::fs::copy(&image, folder_a.join("launch.jpg")).unwrap();
    std::fs::copy(&image, folder_b.join("launch.jpg")).unwrap();
    // The second copy is caught as a duplicate in one of two places, depending on timing:
    // by its watch before it is queued (the twin is already queued or uploaded: a
    // `duplicate` decision, no post), or, when both watches queued at the same moment, by the
    // runner (a `skipped` post with a `duplicate` error). Either way, one upload.
    r.wait_for(
        "one upload and one duplicate",
        Duration::from_secs(90),
        || {
            r.count("SELECT COUNT(*) FROM posts WHERE state = 'completed'") == 1
                && r.count(
                    "SELECT COUNT(*) FROM posts WHERE state = 'skipped' AND error_code = 'duplicate'",
                ) + r.count("SELECT COUNT(*) FROM watch_files WHERE outcome = 'duplicate'")
                    == 1
        },
    );
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE state NOT IN ('completed', 'skipped')"),
        0,
        "nothing else queued"
    );
    assert_eq!(
        r.count("SELECT COUNT(DISTINCT watch_id) FROM watch_files"),
        2,
        "each watch decided on its copy"
    );
    let mut said = String::new();
    for child in [wa, wb] {
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let (status, _, err) = finish(child, Duration::from_secs(30));
        assert_eq!(status.code(), Some(143), "{err}");
        said.push_str(&err);
    }
    // Whichever caught it, the user is told: "• launch.jpg: skipped (duplicate): same bytes as
    // post N, still in the queue", or "• post N skipped: launch.jpg: already uploaded to this
    // project as cnt_…" (or "same bytes as post M, already uploaded").
    assert!(
        said.lines().any(|l| l.contains("skipped")
            && (l.contains("same bytes as post") || l.contains("already uploaded"))),
        "the duplicate is reported:\n{said}"
    );
    assert_eq!(r.completed_items(), 1, "one item for the one file");
    // Each machine watches its own folder: the other's is not started elsewhere.
    let owners: HashSet<String> = r
        .sql_rows("SELECT machine FROM watches")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(owners.len(), 2);
}

/// A post held back because an identical one is under way on another machine is looked at
/// again when that one ends, though nothing on this machine wakes its runner: here the twin
/// completes, and its runner exits (giving back its claims), while this one is mid-hold.
#[cfg(feature = "failpoints")]
#[test]
fn a_copy_held_for_its_twin_on_another_machine_is_skipped_when_the_twin_completes() {
    let r = rig(Some(100_000));
    let image = r.images(1, 300_000).remove(0);
    let copies: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|m| {
            let dir = r.homes.path().join(format!("export-{m}"));
            std::fs::create_dir_all(&dir).unwrap();
            let to = dir.join("launch.jpg");
            std::fs::copy(&image, &to).unwrap();
            to
        })
        .collect();
    let a = r
        .cli("render-a", &["upload", &copies[0].to_string_lossy()])
        .spawn()
        .unwrap();
    r.wait_for("render-a uploading", Duration::from_secs(60), || {
        r.count("SELECT COUNT(*) FROM posts WHERE state = 'uploading'") == 1
    });
    let hold = r.homes.path().join("hold");
    std::fs::write(&hold, b"").unwrap();
    let b = r
        .cli("render-b", &["upload", &copies[1].to_string_lossy()])
        .env(
            "LAYERS_FAILPOINT_HOLD",
            format!("held_for_twin:{}", hold.display()),
        )
        .spawn()
        .unwrap();
    r.wait_for("render-b holding its copy", Duration::from_secs(60), || {
        hold.with_extension("reached").exists()
    });
    let (status, _, err_a) = finish(a, Duration::from_secs(60));
    assert!(status.success(), "{err_a}");
    std::fs::remove_file(&hold).unwrap();
    let (status, _, err_b) = finish(b, Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(0),
        "the held copy was never looked at again:\n{err_b}"
    );
    assert!(
        err_b
            .lines()
            .any(|l| l.contains("skipped") && l.contains("already uploaded")),
        "{err_b}"
    );
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE state = 'skipped' AND error_code = 'duplicate'"),
        1
    );
    assert_each_uploaded_once(&r, &copies[..1]);
}

#[test]
fn the_database_restarted_mid_batch_and_the_runners_wait_and_continue() {
    let r = rig(Some(1_500_000));
    let pg = &r.pg;
    let files = r.images(24, 300_000);
    let names = edge_support::path_args(&files);
    let mut args = vec!["upload", "--concurrency", "2"];
    args.extend(names.iter().map(String::as_str));
    let a = r.cli("render-a", &args).spawn().unwrap();
    r.wait_for("the 24 posts queued", Duration::from_secs(120), || {
        r.count("SELECT COUNT(*) FROM posts") == 24
    });
    let b = r
        .cli("render-b", &["resume", "--concurrency", "2"])
        .spawn()
        .unwrap();
    // Three restarts (`pg_ctl stop -m fast`: every session is cut), each mid-batch.
    for done in [2, 8, 14] {
        r.wait_for("more completed", Duration::from_secs(120), || {
            r.count("SELECT COUNT(*) FROM posts WHERE state = 'completed'") >= done
        });
        assert!(
            r.count("SELECT COUNT(*) FROM posts WHERE state = 'completed'") < 24,
            "the restart must come mid-batch"
        );
        pg.down();
        std::thread::sleep(Duration::from_millis(1500));
        pg.up();
    }
    for (name, child) in [("a", a), ("b", b)] {
        let (status, _, err) = finish(child, Duration::from_secs(300));
        assert!(
            status.success(),
            "runner {name} did not ride out the restarts: {err}\n{}",
            pg.log()
        );
    }
    assert_each_uploaded_once(&r, &files);
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE state = 'completed'"),
        24
    );
}

#[test]
fn a_post_whose_files_only_another_machine_has_waits_for_that_machine() {
    let r = rig(Some(20_000));
    let files = r.images(1, 10_000);
    // Queued on render-a, which dies before it starts; render-b cannot read the file there.
    let names = edge_support::path_args(&files);
    let hidden = r.homes.path().join("only-on-a.jpg");
    std::fs::copy(&files[0], &hidden).unwrap();
    r.killed_mid_put("render-a", &hidden);
    std::fs::rename(&hidden, r.homes.path().join("moved-away.jpg")).unwrap();
    let (status, _, err) = finish(
        r.cli("render-b", &["resume"]).spawn().unwrap(),
        Duration::from_secs(60),
    );
    // Not done, so not 0; resumable on a machine that has the file.
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("waits for a machine that can read") && err.contains("only-on-a.jpg"),
        "{err}"
    );
    let row = &r.sql_rows("SELECT state, error_code, error_message FROM posts")[0];
    let (state, code, message): (String, Option<String>, Option<String>) =
        (row.get(0), row.get(1), row.get(2));
    assert_ne!(
        state, "failed",
        "another machine's post is never failed here"
    );
    assert_eq!(code.as_deref(), Some("needs_other_machine"));
    assert!(
        message
            .unwrap_or_default()
            .contains("waits for a machine that can read"),
        "the post says why it waits"
    );
    let _ = names;
    // The same path here with other bytes (this machine's own export of that name), of
    // another size or of the same size: never uploaded in place of the queued file.
    let original = std::fs::read(r.homes.path().join("moved-away.jpg")).unwrap();
    let mut shorter = original.clone();
    shorter.truncate(original.len() - 100);
    let mut same_size = original.clone();
    *same_size.last_mut().unwrap() ^= 0xff;
    for (bytes, said) in [
        (shorter, "missing or another file"),
        (same_size, "holds other bytes"),
    ] {
        std::fs::write(&hidden, bytes).unwrap();
        let (status, _, err) = finish(
            r.cli("render-d", &["resume"]).spawn().unwrap(),
            Duration::from_secs(60),
        );
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(
            err.contains(said) && err.contains("render-a"),
            "{said}: {err}"
        );
        assert_eq!(
            r.completed_items(),
            0,
            "another file was uploaded as the queued one"
        );
    }
    std::fs::remove_file(&hidden).unwrap();
    // Back on a machine that can read it (the file is there again), the post completes.
    std::fs::rename(r.homes.path().join("moved-away.jpg"), &hidden).unwrap();
    r.resume_finishes("render-c", std::slice::from_ref(&hidden));
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE state = 'completed' AND error_code IS NULL"),
        1
    );
}

/// A copy held back for a twin that nobody can work now (its machine died, and its file is
/// not here) does not keep `upload` waiting: it ends saying which post it waits for, and a
/// later `resume` where the twin's file is skips the copy once the twin is uploaded.
#[test]
fn a_copy_whose_twin_waits_for_another_machine_says_so_and_is_skipped_after_the_twin() {
    let r = rig(Some(20_000));
    let image = r.images(1, 10_000).remove(0);
    let only_on_a = r.homes.path().join("only-on-a.jpg");
    let moved = r.homes.path().join("moved-away.jpg");
    let on_b = r.homes.path().join("launch-on-b.jpg");
    std::fs::copy(&image, &only_on_a).unwrap();
    std::fs::copy(&image, &on_b).unwrap();
    r.killed_mid_put("render-a", &only_on_a);
    std::fs::rename(&only_on_a, &moved).unwrap();
    let (status, _, err) = finish(
        r.cli("render-b", &["upload", &on_b.to_string_lossy()])
            .spawn()
            .unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("post 2 waits for post 1, which has the same bytes"),
        "{err}"
    );
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE id = 2 AND state = 'queued'"),
        1,
        "the copy is neither uploaded nor dropped"
    );
    std::fs::rename(&moved, &only_on_a).unwrap();
    r.resume_finishes("render-c", std::slice::from_ref(&only_on_a));
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE id = 2 AND state = 'skipped' AND error_code = 'duplicate'"),
        1
    );
}

/// A watch never gives up, and what other machines do rings no bell on this one: an idle
/// watch looks at the shared queue again by itself, so a dead machine's post it had to give
/// back (the file was not here) is uploaded once the file can be read here.
#[test]
fn an_idle_watch_takes_up_a_post_it_gave_back_once_the_file_is_readable_here() {
    let r = rig(Some(20_000));
    let image = r.images(1, 10_000).remove(0);
    let mount = r.homes.path().join("shared-mount");
    std::fs::create_dir_all(&mount).unwrap();
    let file = mount.join("launch.jpg");
    let moved = r.homes.path().join("not-mounted.jpg");
    std::fs::copy(&image, &file).unwrap();
    r.killed_mid_put("render-a", &file);
    std::fs::rename(&file, &moved).unwrap();
    let drop_b = r.homes.path().join("drop-b");
    std::fs::create_dir_all(&drop_b).unwrap();
    let b = r
        .cli("editor-b", &["watch", &drop_b.to_string_lossy()])
        .spawn()
        .unwrap();
    r.wait_for("the post given back", Duration::from_secs(60), || {
        r.count("SELECT COUNT(*) FROM posts WHERE error_code = 'needs_other_machine' AND lease_owner IS NULL") == 1
    });
    // The folder is mounted here now; nothing is dropped into the watched folder.
    std::fs::rename(&moved, &file).unwrap();
    r.wait_for(
        "the post uploaded by the idle watch",
        Duration::from_secs(60),
        || r.count("SELECT COUNT(*) FROM posts WHERE state = 'completed'") == 1,
    );
    let pid = b.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let (status, _, err) = finish(b, Duration::from_secs(30));
    assert_eq!(status.code(), Some(143), "{err}");
    assert_each_uploaded_once(&r, std::slice::from_ref(&file));
}

#[test]
fn the_store_password_stays_out_of_output_logs_and_help() {
    let r = rig(None);
    r.pg
        .client(&r.db)
        .batch_execute("CREATE ROLE uploader LOGIN PASSWORD 'Sup3rSecretDbPass'; GRANT ALL ON SCHEMA public TO uploader")
        .unwrap();
    let url = format!(
        "postgres://uploader:Sup3rSecretDbPass@127.0.0.1:{}/{}",
        r.pg.port, r.db
    );
    for args in [
        vec!["queue", "list", "-vv"],
        vec!["--help"],
        vec!["diagnostics"],
    ] {
        let out = r
            .cli("render-a", &args)
            .env("LAYERS_UPLOADER_STORE", &url)
            .current_dir(r.homes.path())
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains("Sup3rSecretDbPass"),
            "{args:?} showed the password:\n{all}"
        );
    }
    // A wrong password is told plainly, at once, without the password.
    let wrong = url.replace("Sup3rSecretDbPass", "WrongPassw0rd");
    let out = r
        .cli("render-a", &["queue", "list"])
        .env("LAYERS_UPLOADER_STORE", &wrong)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("WrongPassw0rd"), "{err}");
    let logs = r.homes.path().join("render-a").join("logs");
    for entry in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        assert!(
            !text.contains("Sup3rSecretDbPass"),
            "a log holds the password"
        );
    }
}

#[test]
fn the_shared_queue_over_tls_checks_the_certificate_as_sslmode_says() {
    let r = rig(None);
    let certs = pg_support::Certs::make("DNS:localhost");
    r.pg.require_tls(&certs);
    let (ca, other) = (certs.ca.display(), certs.other_ca.display());
    // `queue list` opens the store: a login, and the schema on first use.
    let open = |host: &str, query: &str| {
        let url = format!("{}{query}", r.url.replacen("127.0.0.1", host, 1));
        let child = r
            .cli("tls", &["queue", "list"])
            .env("LAYERS_UPLOADER_STORE", &url)
            .env("LAYERS_UPLOADER_STORE_WAIT_S", "120")
            .spawn()
            .unwrap();
        // Well under the store's patience: a refused certificate is not waited for.
        let (status, out, err) = finish(child, Duration::from_secs(30));
        assert!(
            !out.contains(pg_support::SUPERUSER_PASSWORD)
                && !err.contains(pg_support::SUPERUSER_PASSWORD),
            "the password leaked: {err}"
        );
        (status.code(), err)
    };

    // The server takes only TLS, so each success below was an encrypted connection.
    let (code, err) = open("127.0.0.1", "?sslmode=disable");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no encryption"), "{err}");
    // prefer (the default) and require: encrypted, the certificate not checked (as libpq).
    assert_eq!(open("127.0.0.1", "").0, Some(0));
    assert_eq!(open("127.0.0.1", "?sslmode=require").0, Some(0));
    // verify-ca: signed by the named CA; the host name is not checked.
    assert_eq!(
        open("127.0.0.1", &format!("?sslmode=verify-ca&sslrootcert={ca}")).0,
        Some(0)
    );
    // verify-full: and issued for the host connected to.
    let (code, err) = open(
        "127.0.0.1",
        &format!("?sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("certificate is not issued for 127.0.0.1") && err.contains("verify-ca"),
        "{err}"
    );
    for query in [
        format!("?sslmode=verify-full&sslrootcert={other}"),
        "?sslmode=verify-full".to_string(),
        format!("?sslmode=require&sslrootcert={other}"),
    ] {
        let (code, err) = open("localhost", &query);
        assert_eq!(code, Some(2), "{query}: {err}");
        assert!(
            err.contains("certificate is not signed by a CA trusted here")
                && err.contains("sslrootcert=/path/to/ca.pem"),
            "{query}: {err}"
        );
    }
    let (code, err) = open(
        "localhost",
        "?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot read sslrootcert /nonexistent/ca.pem"),
        "{err}"
    );

    // A whole upload through verify-full.
    let files = r.images(2, 10_000);
    let names = edge_support::path_args(&files);
    let mut args = vec!["upload"];
    args.extend(names.iter().map(String::as_str));
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={ca}",
        r.url.replacen("127.0.0.1", "localhost", 1)
    );
    let child = r
        .cli("tls", &args)
        .env("LAYERS_UPLOADER_STORE", &url)
        .spawn()
        .unwrap();
    let (status, _, err) = finish(child, Duration::from_secs(120));
    assert!(status.success(), "{err}");
    assert_each_uploaded_once(&r, &files);
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE state = 'completed'"),
        2
    );
}

/// Leases run out by the database's clock, not each machine's: a machine whose clock is 20
/// minutes fast does not take posts a live runner holds, and one 20 minutes slow takes a dead
/// runner's posts after the lease time, not 20 minutes later.
#[test]
fn clocks_20_minutes_off_neither_steal_a_live_post_nor_wait_20_minutes_for_a_dead_one() {
    const FAST: &str = "1200000";
    const SLOW: &str = "-1200000";
    let r = rig(Some(400_000));
    let files = r.images(6, 1_200_000);
    let (live, dead) = files.split_at(4);

    // A holds all four posts (its claim reaches 2 × --concurrency) and streams their PUTs.
    let names = edge_support::path_args(live);
    let mut args = vec!["upload", "--concurrency", "4"];
    args.extend(names.iter().map(String::as_str));
    let a = r.cli("render-a", &args).spawn().unwrap();
    r.wait_for("A streaming all four", Duration::from_secs(60), || {
        r.count("SELECT COUNT(*) FROM posts WHERE state = 'uploading' AND machine = 'render-a'")
            == 4
    });
    let b = r
        .cli("render-b", &["resume"])
        .env("LAYERS_FAILPOINT_CLOCK_OFFSET_MS", FAST)
        .spawn()
        .unwrap();
    let (status, _, err_a) = finish(a, Duration::from_secs(120));
    assert!(status.success(), "{err_a}");
    let (status, _, err_b) = finish(b, Duration::from_secs(120));
    assert!(status.success(), "{err_b}");
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE state = 'completed' AND machine = 'render-a'"),
        4,
        "the fast clock took a live runner's post:\n{err_a}\n{err_b}"
    );
    assert!(!err_a.contains("lease"), "A lost a claim:\n{err_a}");

    // A runner dies mid-PUT; a machine 20 minutes slow continues its posts after the lease.
    let names = edge_support::path_args(dead);
    let mut args = vec!["upload", "--concurrency", "2"];
    args.extend(names.iter().map(String::as_str));
    let mut a2 = r.cli("render-a", &args).spawn().unwrap();
    r.wait_for(
        "the second batch streaming",
        Duration::from_secs(60),
        || {
            r.count("SELECT COUNT(*) FROM posts WHERE state = 'uploading' AND machine = 'render-a'")
                == 2
        },
    );
    a2.kill().unwrap();
    let _ = a2.wait();
    let started = Instant::now();
    let c = r
        .cli("render-c", &["resume"])
        .env("LAYERS_FAILPOINT_CLOCK_OFFSET_MS", SLOW)
        .spawn()
        .unwrap();
    let (status, _, err_c) = finish(c, Duration::from_secs(90));
    assert!(status.success(), "{err_c}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the live lease was honoured"
    );
    assert_eq!(
        r.count("SELECT COUNT(*) FROM posts WHERE state = 'completed' AND machine = 'render-c'"),
        2
    );
    assert_each_uploaded_once(&r, &files);
}
