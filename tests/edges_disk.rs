//! The data dir's disk: full in the middle of a run (a real ENOSPC on a tiny tmpfs, as root),
//! read-only, or with a log dir that cannot be written. Nothing recorded is lost, no post moves
//! to a state it did not reach, the message names the data dir, and `resume` after space is
//! freed finishes each file exactly once.

mod edge_support;
mod support;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use edge_support::{args, checked, strs, text, wait_for_hold, wait_with_deadline, world, Tmpfs};
use layers_sandbox::SandboxConfig;

/// Writes a filler file until the file system says it is full; returns its path.
fn fill_disk(dir: &Path) -> std::path::PathBuf {
    let filler = dir.join("filler.bin");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0xA5u8; 64 * 1024];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC, got {e}");
                break;
            }
        }
    }
    // The last few bytes a partial write left room for.
    while f.write(&[0u8]).is_ok_and(|n| n == 1) {}
    filler
}

fn integrity_ok(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "the queue database is damaged");
}

#[test]
fn a_disk_that_fills_mid_run_stops_cleanly_and_resume_after_freeing_space_finishes_once() {
    let w = world(SandboxConfig::default().slow_put_bps(600_000));
    let mount = match Tmpfs::mount(&w.data, "4m") {
        Ok(m) => m,
        Err(why) => {
            // Not root (or no mount in this sandbox): the page-cap stand-in below still runs.
            eprintln!("skipping the tmpfs half: cannot mount a tmpfs: {why}");
            return;
        }
    };
    let files = w.images("full", 3, 400_000);
    let names = strs(&files);
    let hold = w.media.path().join("hold-before-put");
    std::fs::write(&hold, b"").unwrap();
    let child = w
        .cli(&args(&["upload"], &names))
        .env(
            "LAYERS_FAILPOINT_HOLD",
            format!("before_put:{}", hold.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Every post is reserved and marked uploading; now the disk fills, then the PUTs go on.
    wait_for_hold(&hold, Duration::from_secs(60));
    let filler = fill_disk(&mount.path);
    std::fs::remove_file(&hold).unwrap();
    let out = wait_with_deadline(child, Duration::from_secs(120), "upload on a full disk");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let data = w.data.display().to_string();
    assert!(
        said.contains(&format!("the disk holding {data} is full")),
        "the message names the full disk:\n{said}"
    );
    assert!(said.contains("layers-upload resume"), "{said}");
    assert!(
        said.matches("cannot write the log").count() <= 1,
        "a log that cannot be written is told once at most:\n{said}"
    );
    assert!(
        w.state()["containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] != "completed"),
        "nothing was finalized while the disk was full"
    );

    // Space again: nothing recorded was lost or moved to a state it did not reach.
    std::fs::remove_file(&filler).unwrap();
    integrity_ok(&w.data.join("queue.sqlite3"));
    let posts = w.queue_json();
    assert_eq!(posts.len(), 3, "every post is still recorded: {posts:?}");
    for p in &posts {
        assert!(
            ["reserved", "uploading", "uploaded"].contains(&p["state"].as_str().unwrap()),
            "a post moved to a state it did not reach: {p}"
        );
    }
    let resumed = w.run(&["resume"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    w.assert_each_uploaded_once(&files);
    assert_eq!(w.quota_uploads(), 3, "no quota held beyond the three items");
    drop(mount);
}

#[test]
fn a_store_at_its_page_cap_says_the_disk_is_full_and_runs_once_there_is_room() {
    // The stand-in for a full disk where no tmpfs can be mounted: SQLite's own page cap gives
    // the same SQLITE_FULL. The first upload creates the store; the second, with the cap at
    // the store's size, cannot record its batch.
    let w = world(SandboxConfig::default());
    let first = w.images("cap-a", 1, 0);
    let out = w.run(&args(&["upload"], &strs(&first)));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pages: i64 = rusqlite::Connection::open(w.data.join("queue.sqlite3"))
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let more = w.images("cap-b", 12, 0);
    let names = strs(&more);
    let full = checked(
        w.cli(&args(&["upload"], &names))
            .env("LAYERS_FAILPOINT_MAX_PAGES", pages.to_string())
            .output()
            .unwrap(),
    );
    let said = text(&full);
    assert_ne!(full.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!("the disk holding {} is full", w.data.display())),
        "{said}"
    );
    assert!(
        w.state()["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"] == "completed")
            .count()
            == 1,
        "nothing of the refused batch was uploaded"
    );
    integrity_ok(&w.data.join("queue.sqlite3"));
    let again = w.run(&["resume"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let out = w.run(&args(&["upload"], &names));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut all = first.clone();
    all.extend(more);
    w.assert_each_uploaded_once(&all);
}

#[test]
fn a_data_dir_on_a_read_only_file_system_exits_2_with_a_reason() {
    let w = world(SandboxConfig::default());
    let files = w.images("ro", 1, 0);
    let names = strs(&files);
    match Tmpfs::mount(&w.data, "1m") {
        Ok(mount) => {
            mount.remount(true);
            // The data dir itself read-only, and a data dir that would have to be made in it.
            for dir in [w.data.clone(), w.data.join("sub")] {
                let out = checked(
                    w.cli(&args(&["upload"], &names))
                        .env("LAYERS_UPLOADER_DATA_DIR", &dir)
                        .output()
                        .unwrap(),
                );
                let said = text(&out);
                assert_eq!(out.status.code(), Some(2), "{said}");
                assert!(
                    said.contains(&format!(
                        "cannot write to {}: Read-only file system",
                        dir.display()
                    )),
                    "{said}"
                );
            }
            drop(mount);
        }
        Err(why) => eprintln!("no read-only mount ({why}); the file-as-parent case still runs"),
    }
    // A data dir whose parent is a file: works without root.
    let parent = w.media.path().join("not-a-dir");
    std::fs::write(&parent, b"x").unwrap();
    let dir = parent.join("data");
    let out = checked(
        w.cli(&args(&["upload"], &names))
            .env("LAYERS_UPLOADER_DATA_DIR", &dir)
            .output()
            .unwrap(),
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains(&format!("cannot write to {}", dir.display())),
        "{said}"
    );
    assert!(w.state()["containers"].as_array().unwrap().is_empty());
}

#[test]
fn logs_that_cannot_be_written_never_stop_an_upload() {
    let w = world(SandboxConfig::default());
    std::fs::create_dir_all(&w.data).unwrap();
    // `logs` is a file: the log dir cannot be made.
    std::fs::write(w.data.join("logs"), b"not a dir").unwrap();
    let files = w.images("logs", 2, 0);
    let out = w.run(&args(&["upload"], &strs(&files)));
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(
        said.matches("going on without a log file").count(),
        1,
        "told once on stderr:\n{said}"
    );
    w.assert_each_uploaded_once(&files);
}
