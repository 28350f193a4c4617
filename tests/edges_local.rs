//! Bad local input, each in a batch with good files: a FIFO named like a video, symbolic link
//! loops, a file made unreadable or swapped for a pipe after its check, a file truncated during
//! its PUT, a name that is not UTF-8, and a folder of 10,000 files. Each gets a message a
//! person understands; every other file in the batch still completes exactly once.

mod edge_support;
mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use edge_support::{
    args, checked, completed_by_sha, sha256, strs, text, wait_for_hold, wait_with_deadline, world,
    World,
};
use layers_sandbox::SandboxConfig;
use serde_json::Value;

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

fn probe_rows(w: &World, paths: &[&Path]) -> (Option<i32>, Vec<Value>) {
    let mut cmd = w.cli(&["probe", "--json"]);
    cmd.args(paths);
    let out = wait_with_deadline(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(60),
        "probe",
    );
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code(), rows)
}

fn upload(w: &World, paths: &[PathBuf]) -> std::process::Output {
    let names = strs(paths);
    let child = w
        .cli(&args(&["upload"], &names))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_with_deadline(child, Duration::from_secs(120), "upload")
}

#[test]
fn a_fifo_named_like_a_video_is_not_a_file_and_never_blocks_the_batch() {
    let w = world(SandboxConfig::default());
    let good = w.images("fifo-good", 2, 0);
    let fifo = w.media.path().join("x.mp4");
    mkfifo(&fifo);
    // Named, and inside a folder: both say what it is, neither waits for a writer.
    let (code, rows) = probe_rows(&w, &[&fifo, w.media.path()]);
    assert_eq!(code, Some(1));
    let fifo_rows: Vec<&Value> = rows
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("x.mp4"))
        .collect();
    assert_eq!(fifo_rows.len(), 2, "{rows:?}");
    for r in fifo_rows {
        assert_eq!(r["errors"][0]["code"], "not_a_file", "{r}");
        assert_eq!(r["errors"][0]["message"], "x.mp4 is not a regular file");
    }
    let mut batch = vec![fifo.clone()];
    batch.extend(good.iter().cloned());
    let out = upload(&w, &batch);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("x.mp4 is not a regular file (not_a_file)"),
        "{said}"
    );
    w.assert_each_uploaded_once(&good);
}

#[test]
fn a_file_swapped_for_a_fifo_after_its_check_fails_clearly_instead_of_hanging() {
    let w = world(SandboxConfig::default());
    let files = w.images("swap", 3, 0);
    let names = strs(&files);
    let hold = w.media.path().join("hold");
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
    // Past the re-stat before the PUT: the next thing is opening the file to send it.
    wait_for_hold(&hold, Duration::from_secs(60));
    let swapped = &files[1];
    let keep = w.media.path().join("kept.jpg");
    std::fs::rename(swapped, &keep).unwrap();
    mkfifo(swapped);
    std::fs::remove_file(&hold).unwrap();
    let out = wait_with_deadline(
        child,
        Duration::from_secs(120),
        "upload with a FIFO swapped in",
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    // The three PUTs run at once and share the hold: file 1 may be caught by its own re-check
    // before the PUT ("no longer") or by the PUT's open ("not"); both name it plainly.
    assert!(
        said.contains("swap-001.jpg is not a regular file")
            || said.contains("swap-001.jpg is no longer a regular file"),
        "{said}"
    );
    w.assert_each_uploaded_once(&[files[0].clone(), files[2].clone()]);
}

#[test]
fn symlink_loops_are_named_as_such_and_the_rest_upload() {
    let w = world(SandboxConfig::default());
    let good = w.images("loop-good", 1, 0);
    let a = w.media.path().join("a.jpg");
    let b = w.media.path().join("b.jpg");
    symlink(&b, &a).unwrap();
    symlink(&a, &b).unwrap();
    // A folder link that points at its own folder is not walked into (folders are not entered).
    symlink(w.media.path(), w.media.path().join("again")).unwrap();
    let (code, rows) = probe_rows(&w, &[w.media.path()]);
    assert_eq!(code, Some(1));
    assert_eq!(
        rows.len(),
        3,
        "the two links and the image, nothing twice: {rows:?}"
    );
    for r in rows
        .iter()
        .filter(|r| !r["path"].as_str().unwrap().contains("loop-good"))
    {
        let message = r["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("symbolic link that leads in a circle"),
            "{r}"
        );
    }
    let out = upload(&w, &[a.clone(), good[0].clone()]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("a.jpg is a symbolic link that leads in a circle"),
        "{said}"
    );
    w.assert_each_uploaded_once(&good);
}

/// Runs the binary as `nobody` when we are root (root reads any file whatever its mode), from
/// a copy in a folder `nobody` may enter; `None` when not root (the plain binary will do).
fn as_unprivileged(w: &World) -> Option<(PathBuf, tempfile::TempDir)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("layers-upload");
    std::fs::copy(env!("CARGO_BIN_EXE_layers-upload"), &bin).unwrap();
    for d in [dir.path(), w.media.path(), w.data_root()] {
        chown_nobody(d);
    }
    Some((bin, dir))
}

fn chown_nobody(path: &Path) {
    let status = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_file_made_unreadable_after_its_check_fails_with_permission_denied_and_the_rest_upload() {
    let w = world(SandboxConfig::default());
    let files = w.images("perm", 3, 0);
    std::fs::create_dir_all(&w.data).unwrap();
    let unprivileged = as_unprivileged(&w);
    let names = strs(&files);
    let hold = w.media.path().join("hold");
    std::fs::write(&hold, b"").unwrap();
    let mut cmd = match &unprivileged {
        Some((bin, _)) => {
            use std::os::unix::process::CommandExt;
            let mut c = w.cli_with(bin, &args(&["upload"], &names));
            c.uid(65534).gid(65534).env("HOME", w.data_root());
            c
        }
        None => w.cli(&args(&["upload"], &names)),
    };
    let child = cmd
        .env(
            "LAYERS_FAILPOINT_HOLD",
            format!("before_put:{}", hold.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_hold(&hold, Duration::from_secs(60));
    let locked = &files[2];
    std::fs::set_permissions(locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    std::fs::remove_file(&hold).unwrap();
    let out = wait_with_deadline(
        child,
        Duration::from_secs(120),
        "upload of an unreadable file",
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("perm-002.jpg cannot be read any more (permission denied)"),
        "{said}"
    );
    w.assert_each_uploaded_once(&files[..2]);
}

#[test]
fn a_file_truncated_during_its_put_is_never_finalized_with_the_old_bytes() {
    let w = world(SandboxConfig::default().slow_put_bps(1_000_000));
    let good = w.images("trunc-good", 1, 0);
    let big = w.images("trunc-big", 1, 6_000_000).remove(0);
    let original = sha256(&big);
    let names = strs(&[big.clone(), good[0].clone()]);
    let hold = w.media.path().join("hold");
    std::fs::write(&hold, b"").unwrap();
    let child = w
        .cli(&args(&["upload", "--concurrency", "2"], &names))
        .env(
            "LAYERS_FAILPOINT_HOLD",
            format!("before_put:{}", hold.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_hold(&hold, Duration::from_secs(60));
    std::fs::remove_file(&hold).unwrap();
    // Mid-PUT (6 MB at 1 MB/s): cut the file to its first 100 KB (still a readable JPEG head).
    std::thread::sleep(Duration::from_millis(1500));
    let f = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
    f.set_len(100_000).unwrap();
    drop(f);
    let out = wait_with_deadline(
        child,
        Duration::from_secs(180),
        "upload of a truncated file",
    );
    let said = text(&out);
    let by_sha = completed_by_sha(&w.state());
    assert!(
        !by_sha.contains_key(&original),
        "the bytes from before the truncation were finalized: {said}"
    );
    assert_eq!(by_sha.get(&sha256(&good[0])).copied(), Some(1), "{said}");
    // Re-inspected: either uploaded as it is now (once), or failed with a message that says why.
    match by_sha.get(&sha256(&big)).copied() {
        Some(1) => assert!(said.contains("starting over"), "{said}"),
        None => {
            assert_eq!(out.status.code(), Some(1), "{said}");
            assert!(said.contains("trunc-big-000.jpg"), "{said}");
        }
        Some(n) => panic!("the truncated file was completed {n} times: {said}"),
    }
}

#[test]
fn a_name_that_is_not_utf8_is_uploaded_with_a_replacement_character() {
    let w = world(SandboxConfig::default());
    let good = w.images("utf8-good", 1, 0);
    let made = w.images("odd", 1, 0).remove(0);
    let odd = w.media.path().join(OsStr::from_bytes(b"caf\xe9-\xff.jpg"));
    std::fs::rename(&made, &odd).unwrap();
    let (code, rows) = probe_rows(&w, &[&odd]);
    assert_eq!(code, Some(0), "{rows:?}");
    assert!(rows[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("caf\u{fffd}-\u{fffd}.jpg"));
    let mut cmd = w.cli(&["upload"]);
    cmd.arg(&odd).arg(&good[0]);
    let out = checked(cmd.output().unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    w.assert_each_uploaded_once(&[odd.clone(), good[0].clone()]);
    let state = w.state();
    let names: Vec<&str> = state["containers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["files"].as_array().unwrap())
        .filter_map(|f| f["filename"].as_str())
        .collect();
    assert!(names.contains(&"caf\u{fffd}-\u{fffd}.jpg"), "{names:?}");
    let listed = w.queue_json();
    assert!(
        listed.iter().all(|p| p["state"] == "completed"),
        "{listed:?}"
    );
}

#[test]
fn a_folder_of_10000_files_probes_with_few_file_descriptors() {
    let w = world(SandboxConfig::default());
    let dir = w.media.path().join("many");
    std::fs::create_dir(&dir).unwrap();
    let png = std::fs::read(support::corpus::corpus().join("png_1080.png")).unwrap();
    for i in 0..10_000 {
        std::fs::write(dir.join(format!("frame-{i:05}.png")), &png).unwrap();
    }
    let mut cmd = w.cli(&["probe", "--json"]);
    cmd.arg(&dir);
    // 64 descriptors: enough only if files are opened a few at a time and closed.
    // SAFETY: setrlimit is async-signal-safe and touches only this child.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let out = wait_with_deadline(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(300),
        "probe of 10,000 files",
    );
    let took = started.elapsed();
    eprintln!("probe --json of 10,000 PNGs took {took:?}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 10_000);
    assert!(rows
        .iter()
        .all(|r| r["errors"].as_array().unwrap().is_empty()));
    assert!(rows[9_999]["path"]
        .as_str()
        .unwrap()
        .ends_with("frame-09999.png"));
}
