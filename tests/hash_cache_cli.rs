//! The hash cache across processes, through the real `layers-upload probe`: a second probe of an
//! unchanged file takes its sha-256 from `<data dir>/hash-cache.sqlite3` instead of reading the
//! bytes, and any change a writer can make (touch, rewrite in place with the mtime put back,
//! rename over) is hashed again. A corrupt or unusable cache never costs a result.
//!
//! How "not read again" is proven: after the first probe the test overwrites the remembered
//! hash with a value no bytes produce. A probe that answers with it used the cache; a probe
//! that answers with the true hash read the file.

mod support;

use std::fs::{File, FileTimes};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use layers_uploader::media::hash_cache::{FILE_NAME, RACY_WINDOW};
use serde_json::Value;
use support::corpus::corpus;

const POISON: &str = "abababababababababababababababababababababababababababababababab";

/// The sha-256 `probe --json` reports for `file`, with `data_dir` as the data dir.
fn probed_sha(data_dir: &Path, file: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_layers-upload"))
        .args(["probe", "--json"])
        .arg(file)
        .env("LAYERS_UPLOADER_DATA_DIR", data_dir)
        .env_remove("LAYERS_VIDEO_CAP_BYTES")
        .env_remove("LAYERS_IMAGE_CAP_BYTES")
        .output()
        .expect("run layers-upload probe");
    assert_eq!(
        out.status.code(),
        Some(0),
        "probe of {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let row: Value = serde_json::from_slice(&out.stdout).expect("one JSON row");
    row["sha256"].as_str().expect("a sha256").to_string()
}

/// The true sha-256 of the bytes (this test process uses no cache).
fn true_sha(file: &Path) -> String {
    layers_uploader::media::inspect::sha256_path(file).expect("hash")
}

/// Replaces every remembered hash with [`POISON`].
fn poison(data_dir: &Path) {
    let db = rusqlite::Connection::open(data_dir.join(FILE_NAME)).expect("open the cache");
    let n = db
        .execute("UPDATE hashes SET sha256 = ?1", [POISON])
        .expect("poison");
    assert!(n > 0, "the first probe remembered nothing");
}

/// A copy of a corpus file, old enough (past the racy window) to be remembered.
fn settled_copies(names: &[&str]) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = names
        .iter()
        .map(|n| {
            let to = dir.path().join(n);
            std::fs::copy(corpus().join(n), &to).unwrap();
            to
        })
        .collect();
    std::thread::sleep(RACY_WINDOW + Duration::from_millis(200));
    (dir, files)
}

fn set_mtime(file: &Path, t: SystemTime) {
    File::options()
        .write(true)
        .open(file)
        .unwrap()
        .set_times(FileTimes::new().set_modified(t))
        .unwrap();
}

fn mtime(file: &Path) -> SystemTime {
    std::fs::metadata(file).unwrap().modified().unwrap()
}

#[test]
fn a_second_probe_of_unchanged_files_does_not_read_them() {
    let (dir, files) = settled_copies(&["h264_aac.mp4", "png_1080.png"]);
    let data = dir.path().join("data");
    for f in &files {
        assert_eq!(probed_sha(&data, f), true_sha(f), "first probe hashes");
    }
    poison(&data);
    for f in &files {
        assert_eq!(
            probed_sha(&data, f),
            POISON,
            "{}: unchanged, so the hash must come from the cache",
            f.display()
        );
    }
}

#[test]
fn a_touched_file_is_hashed_again() {
    let (dir, files) = settled_copies(&["png_1080.png"]);
    let (data, f) = (dir.path().join("data"), &files[0]);
    probed_sha(&data, f);
    poison(&data);
    set_mtime(f, mtime(f) + Duration::from_secs(60));
    assert_eq!(probed_sha(&data, f), true_sha(f));
}

#[test]
fn bytes_rewritten_in_place_with_the_mtime_put_back_are_hashed_again() {
    let (dir, files) = settled_copies(&["png_1080.png"]);
    let (data, f) = (dir.path().join("data"), &files[0]);
    let before = probed_sha(&data, f);
    poison(&data);
    let kept = mtime(f);
    let mut bytes = std::fs::read(f).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(f, &bytes).unwrap();
    set_mtime(f, kept);
    assert_eq!(
        mtime(f),
        kept,
        "same size, same mtime: only the ctime tells"
    );
    let after = probed_sha(&data, f);
    assert_ne!(after, POISON, "a stale hash was used for new bytes");
    assert_ne!(after, before);
    assert_eq!(after, true_sha(f));
}

#[test]
fn a_file_renamed_over_with_the_same_size_and_mtime_is_hashed_again() {
    let (dir, files) = settled_copies(&["png_1080.png"]);
    let (data, f) = (dir.path().join("data"), &files[0]);
    probed_sha(&data, f);
    poison(&data);
    let other = dir.path().join("export.tmp");
    let mut bytes = std::fs::read(f).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x0f;
    std::fs::write(&other, &bytes).unwrap();
    set_mtime(&other, mtime(f));
    std::fs::rename(&other, f).unwrap();
    assert_eq!(probed_sha(&data, f), true_sha(f));
}

#[test]
fn a_corrupt_cache_is_ignored_and_rebuilt() {
    let (dir, files) = settled_copies(&["png_1080.png"]);
    let (data, f) = (dir.path().join("data"), &files[0]);
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join(FILE_NAME), vec![0x5a; 16 * 1024]).unwrap();
    assert_eq!(
        probed_sha(&data, f),
        true_sha(f),
        "a corrupt cache costs nothing"
    );
    // Rebuilt: the next probe answers from it.
    poison(&data);
    assert_eq!(probed_sha(&data, f), POISON);
}

#[test]
fn a_data_dir_that_cannot_hold_a_cache_still_probes() {
    let (dir, files) = settled_copies(&["png_1080.png"]);
    // A regular file where the data dir should be: nothing can be created inside it.
    let data = dir.path().join("not-a-dir");
    std::fs::write(&data, b"x").unwrap();
    let f = &files[0];
    assert_eq!(probed_sha(&data, f), true_sha(f));
    assert_eq!(probed_sha(&data, f), true_sha(f));
}
