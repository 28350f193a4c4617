//! The CLI behaves like the command-line tools people already know: `--version`; completions
//! and man pages from its own definition; `--quiet` shows errors only; `--verbose` adds log
//! lines; no colour codes when not on a terminal (or with `NO_COLOR`); every error line starts
//! with `layers-upload:` and a usage error exits 2 saying where to look next.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use layers_sandbox::{Sandbox, SandboxConfig};
use support::corpus::corpus;

const KEY: &str = "lp_live_conv1_ConventionsSecretValue";

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-upload"));
    cmd.env_remove("LAYERS_FAILPOINT")
        .env_remove("LAYERS_LOG")
        .env_remove("LAYERS_API_KEY")
        .env("LAYERS_WRITES_PER_MINUTE", "0")
        .stdin(Stdio::null());
    cmd
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn image(dir: &Path, name: &str, salt: u8) -> String {
    // Bytes after the JPEG's end marker make a distinct file (its own hash) that still decodes.
    let mut bytes = std::fs::read(corpus().join("jpeg_1080.jpg")).unwrap();
    bytes.extend_from_slice(&[salt; 16]);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn version_completions_and_man_pages_come_from_the_cli_itself() {
    let out = bin().arg("--version").output().unwrap();
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert_eq!(
        stdout.trim(),
        format!("layers-upload {}", env!("CARGO_PKG_VERSION"))
    );

    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef layers-upload"),
        ("fish", "complete -c layers-upload"),
    ] {
        let out = bin().args(["completions", shell]).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{shell}: {stderr}");
        assert!(
            stdout.contains(marker),
            "{shell} completions lack {marker:?}"
        );
        for sub in ["upload", "watch", "probe", "fit"] {
            assert!(stdout.contains(sub), "{shell} completions lack {sub}");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["manpage", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    for page in [
        "layers-upload.1",
        "layers-upload-upload.1",
        "layers-upload-watch.1",
    ] {
        let roff = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(roff.contains(".TH"), "{page} is not a man page");
    }
    let watch = std::fs::read_to_string(dir.path().join("layers-upload-watch.1")).unwrap();
    assert!(watch.contains("settle"), "the watch page lacks its options");
}

#[test]
fn a_usage_error_is_one_prefixed_line_with_a_hint_and_exit_2() {
    for args in [
        &["--frobnicate"][..],
        &["upload"][..],
        &["completions", "tcsh"][..],
    ] {
        let out = bin().args(args).output().unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("layers-upload: "), "{args:?}: {stderr}");
        assert!(stderr.contains("--help"), "{args:?}: {stderr}");
        assert!(!stderr.contains("error:"), "{args:?}: {stderr}");
    }
}

#[test]
fn every_error_line_names_the_program_and_what_to_do() {
    let data = tempfile::tempdir().unwrap();
    let file = image(data.path(), "a.jpg", 1);
    // No key anywhere (an empty keyring service is not reachable here either).
    let out = bin()
        .args(["--project", "p", "upload", &file])
        .env("LAYERS_UPLOADER_DATA_DIR", data.path())
        .env("LAYERS_API_BASE", "http://127.0.0.1:9")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with("layers-upload: "),
            "line {line:?} in {stderr}"
        );
    }
    assert!(
        stderr.contains("layers-upload login") || stderr.contains("LAYERS_API_KEY"),
        "no next step in {stderr}"
    );
}

#[test]
fn quiet_shows_nothing_on_success_and_verbose_adds_plain_log_lines() {
    let (base, handle) = Sandbox::start(SandboxConfig::default()).unwrap();
    let project = handle.projects()[0].clone();
    let run = |flag: Option<&str>, name: &str, salt: u8, env: &[(&str, &str)]| {
        let data = tempfile::tempdir().unwrap();
        let file = image(data.path(), name, salt);
        let mut cmd = bin();
        if let Some(f) = flag {
            cmd.arg(f);
        }
        cmd.args(["upload", &file])
            .env("LAYERS_UPLOADER_DATA_DIR", data.path())
            .env("LAYERS_API_BASE", &base)
            .env("LAYERS_PROJECT_ID", &project)
            .env("LAYERS_API_KEY", KEY);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{flag:?}: {stderr}");
        stderr
    };
    let normal = run(None, "normal.jpg", 2, &[]);
    assert!(normal.contains("completed"), "{normal}");
    assert!(
        !normal.contains(" INFO "),
        "info lines without --verbose: {normal}"
    );

    let quiet = run(Some("--quiet"), "quiet.jpg", 3, &[]);
    assert_eq!(quiet, "", "--quiet printed something on success");

    let verbose = run(Some("--verbose"), "verbose.jpg", 4, &[("NO_COLOR", "1")]);
    assert!(
        verbose.contains(" INFO "),
        "--verbose added no log lines: {verbose}"
    );
    assert!(verbose.contains("post state"), "{verbose}");
    assert!(
        !verbose.contains('\u{1b}'),
        "colour codes on a pipe: {verbose:?}"
    );
    assert!(
        !verbose.contains("ConventionsSecretValue"),
        "the key leaked"
    );
}
