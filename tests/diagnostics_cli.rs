//! `layers-upload diagnostics`: the CLI writes its own daily log, and the bundle is a valid zip
//! holding every log, a queue summary and about.txt — with no key, bearer token or signed URL
//! in it, whatever the logs held.

use std::path::{Path, PathBuf};
use std::process::Command;

use layers_uploader::api::types::Grouping;
use layers_uploader::queue::store::{NewBatch, NewFile, NewPost, Store};

const SECRET: &str = "s3cr3tS3cr3tS3cr3t";
const ENV_KEY: &str = "lp_live_envid_ENVSECRETVALUE123";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_layers-upload"))
}

/// Reads a zip with Python's zipfile (an independent reader): {name: text}, after `testzip()`.
fn unzip(path: &Path) -> Vec<(String, String)> {
    let script = r#"
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
assert bad is None, f"corrupt entry {bad}"
print(json.dumps([[i.filename, z.read(i).decode("utf-8", "replace")] for i in z.infolist()]))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python could not read the zip: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

fn seed_queue(dir: &Path) {
    let store = Store::open_in(dir).unwrap();
    let file = |name: &str, sha: &str| NewFile {
        path: PathBuf::from(format!("/exports/{name}")),
        filename: name.into(),
        content_type: "image/jpeg".into(),
        size_bytes: 1234,
        mtime_ns: Some(1),
        sha256: sha.into(),
    };
    store
        .enqueue(&NewBatch {
            project_id: "prj_1".into(),
            destination: "layers-content".into(),
            grouping: Grouping::PerFile,
            force: false,
            posts: vec![
                NewPost {
                    caption: "one".into(),
                    files: vec![file("a.jpg", &"a".repeat(64))],
                    rejected: None,
                },
                NewPost {
                    caption: "two".into(),
                    files: vec![file("b.jpg", &"b".repeat(64))],
                    rejected: Some(("too_large".into(), "b.jpg is too large".into())),
                },
            ],
        })
        .unwrap();
}

#[test]
fn a_bundle_holds_logs_and_the_queue_summary_but_never_a_key() {
    let data = tempfile::tempdir().unwrap();
    seed_queue(data.path());
    // An older day's log that (against every rule) caught secrets: the bundle must scrub them.
    let logs = data.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join("app.2026-01-02.log"),
        format!(
            "key lp_live_abc123_{SECRET}\nAuthorization: Bearer {SECRET}\n\
             PUT http://127.0.0.1:1/storage/x?expires=9&sig={SECRET} failed\nenv {ENV_KEY}\n"
        ),
    )
    .unwrap();

    // Any command writes today's CLI log in the data dir.
    let probe = bin()
        .args(["--data-dir"])
        .arg(data.path())
        .args(["probe", "/definitely/missing.mp4"])
        .env("LAYERS_LOG", "info")
        .output()
        .unwrap();
    assert_eq!(probe.status.code(), Some(1));
    let cli_logs: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cli.") && n.ends_with(".log"))
        .collect();
    assert_eq!(cli_logs.len(), 1, "one CLI log for today, got {cli_logs:?}");

    let zip_path = data.path().join("bundle.zip");
    let out = bin()
        .args(["--data-dir"])
        .arg(data.path())
        .args(["diagnostics", "--json", "--out"])
        .arg(&zip_path)
        .env("LAYERS_API_KEY", ENV_KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "diagnostics failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["logFiles"], 2, "{report}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no API key"));

    let entries = unzip(&zip_path);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"logs/app.2026-01-02.log"), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("logs/cli.")),
        "{names:?}"
    );
    assert!(names.contains(&"queue-summary.json") && names.contains(&"about.txt"));
    for (name, text) in &entries {
        assert!(!text.contains(SECRET), "{name} leaks the secret:\n{text}");
        assert!(
            !text.contains("ENVSECRETVALUE123"),
            "{name} leaks the env key"
        );
    }
    let old_log = &entries
        .iter()
        .find(|(n, _)| n == "logs/app.2026-01-02.log")
        .unwrap()
        .1;
    assert!(old_log.contains("lp_live_abc123_[redacted]"), "{old_log}");
    assert!(old_log.contains("/storage/x?[redacted]"), "{old_log}");

    let summary: serde_json::Value = serde_json::from_str(
        &entries
            .iter()
            .find(|(n, _)| n == "queue-summary.json")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(summary["posts"], 2);
    assert_eq!(summary["byState"]["queued"], 1, "{summary}");
    assert_eq!(summary["byState"]["failed"], 1, "{summary}");
    assert_eq!(summary["newestPosts"][0]["error"]["code"], "too_large");
}

#[test]
fn a_data_dir_without_a_queue_still_exports_and_is_not_created_a_store() {
    let data = tempfile::tempdir().unwrap();
    let zip_path = data.path().join("b.zip");
    let out = bin()
        .args(["--data-dir"])
        .arg(data.path())
        .args(["diagnostics", "--out"])
        .arg(&zip_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !data.path().join("queue.sqlite3").exists(),
        "export must not create a store"
    );
    let entries = unzip(&zip_path);
    let summary = &entries
        .iter()
        .find(|(n, _)| n == "queue-summary.json")
        .unwrap()
        .1;
    assert!(summary.contains("no queue store"), "{summary}");
}

#[test]
fn an_unwritable_destination_is_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["--data-dir"])
        .arg(data.path())
        .args(["diagnostics", "--out", "/definitely/missing/dir/x.zip"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write the diagnostics bundle /definitely/missing/dir/x.zip"),
        "{err}"
    );
}
