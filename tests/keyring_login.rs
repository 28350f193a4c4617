//! The real OS keyring (Secret Service over D-Bus) and `layers-upload login` end to end:
//! stdin key → whoami against a sandbox → keyring → `login --status`, never showing the key.
//!
//! Needs a D-Bus session with an unlocked keyring (`scripts/with-keyring cargo test`). Without
//! one these tests skip with a notice — unless `LAYERS_REQUIRE_KEYRING=1` (CI), where they fail.

mod client_support;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use client_support::origin::{serve, Route};
use client_support::{assert_no_key, LIVE_KEY, TEST_KEY};
use layers_sandbox::{Sandbox, SandboxConfig};
use layers_uploader::secrets::{Account, ApiKey, KeyStore, SecretError};

/// True when a D-Bus session exists; panics if CI demands one and it is missing.
fn keyring_session() -> bool {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        return true;
    }
    assert!(
        std::env::var("LAYERS_REQUIRE_KEYRING").as_deref() != Ok("1"),
        "LAYERS_REQUIRE_KEYRING=1 but DBUS_SESSION_BUS_ADDRESS is unset: run the tests under \
         scripts/with-keyring (dbus-run-session + gnome-keyring-daemon --unlock)"
    );
    eprintln!(
        "SKIPPED keyring test: no D-Bus session (DBUS_SESSION_BUS_ADDRESS unset). Run under \
         scripts/with-keyring to exercise the real Secret Service."
    );
    false
}

/// Runs the CLI with `args`, feeding `stdin`; the env override is cleared unless given.
fn cli(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-upload"));
    cmd.args(args)
        .env_remove("LAYERS_API_KEY")
        .env_remove("LOOPS_API_KEY")
        .env_remove("LAYERS_API_BASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run layers-upload");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn keystore_stores_reads_and_deletes_in_the_secret_service() {
    if !keyring_session() {
        return;
    }
    let store = KeyStore::with_service(&format!("layers-uploader-test-{}", uuid::Uuid::new_v4()));
    let key = ApiKey::layers(LIVE_KEY).unwrap();
    assert_eq!(store.load(Account::Layers).unwrap(), None);
    store.store(Account::Layers, &key).expect("store");
    assert_eq!(store.load(Account::Layers).unwrap(), Some(key.clone()));
    assert_eq!(
        store.load(Account::Loops).unwrap(),
        None,
        "accounts are separate"
    );
    let replaced = ApiKey::layers(TEST_KEY).unwrap();
    store.store(Account::Layers, &replaced).unwrap();
    assert_eq!(store.load(Account::Layers).unwrap(), Some(replaced));
    assert!(store.delete(Account::Layers).unwrap());
    assert_eq!(store.load(Account::Layers).unwrap(), None);
    assert!(!store.delete(Account::Layers).unwrap());
}

#[tokio::test]
async fn login_verifies_stores_and_status_shows_the_key_id_only() {
    if !keyring_session() {
        return;
    }
    let (base, _sandbox) = Sandbox::start(SandboxConfig::default()).unwrap();
    let out = cli(
        &["--api-base", &base, "login"],
        &format!("{LIVE_KEY}\n"),
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("lp_live_cl1ent_…"), "{stdout}");
    assert!(stdout.contains("live key"), "{stdout}");
    assert!(stdout.contains("Sandbox Organization"), "{stdout}");
    assert_no_key(&(stdout + &stderr), "login output");
    assert_eq!(
        KeyStore::new().load(Account::Layers).unwrap(),
        Some(ApiKey::layers(LIVE_KEY).unwrap()),
        "the keyring holds the key"
    );

    let out = cli(&["--api-base", &base, "login", "--status"], "", &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("cl1ent") && stdout.contains("from the OS keyring"),
        "{stdout}"
    );
    assert!(stdout.contains("Sandbox Organization"), "{stdout}");
    assert_no_key(&(stdout + &stderr), "login --status output");

    let out = cli(
        &["--api-base", &base, "login", "--status"],
        "",
        &[("LAYERS_API_KEY", TEST_KEY)],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("lp_test_t3st_…") && stdout.contains("test key"),
        "{stdout}"
    );
    assert!(
        stdout.contains("LAYERS_API_KEY"),
        "the env override is noted: {stdout}"
    );
    assert_no_key(&(stdout + &stderr), "login --status with env override");

    let out = cli(
        &["login", "--loops"],
        "loops_key_S3cretValueThatMustNeverLeak\n",
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let out = cli(&["login", "--status", "--loops"], "", &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("from the OS keyring"), "{stdout}");
    assert_no_key(&(stdout + &stderr), "login --status --loops");

    let store = KeyStore::new();
    store.delete(Account::Layers).unwrap();
    store.delete(Account::Loops).unwrap();
    let out = cli(&["--api-base", &base, "login", "--status"], "", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("run `layers-upload login`"),
        "{:?}",
        text(&out)
    );
}

// Multi-threaded: the origin must keep serving while this thread blocks on the CLI child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_exits_2_on_a_refused_key_an_unreachable_api_or_a_malformed_key() {
    // A server that refuses every key, as Layers does with a revoked one.
    let refusing = serve(HashMap::from([(
        "/v1/whoami",
        Route {
            status: 401,
            content_type: "application/json",
            body: br#"{"error":{"code":"UNAUTHENTICATED","message":"Invalid API key.","requestId":"req_1","details":null}}"#.to_vec(),
        },
    )]))
    .await;
    let out = cli(
        &["--api-base", &refusing, "login"],
        &format!("{LIVE_KEY}\n"),
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("refused the API key (401)"), "{stderr}");
    assert_no_key(&(stdout + &stderr), "401 output");

    let out = cli(
        &["--api-base", "http://127.0.0.1:1", "login"],
        &format!("{LIVE_KEY}\n"),
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("Cannot reach the Layers API"), "{stderr}");
    assert_no_key(&(stdout + &stderr), "unreachable output");

    let out = cli(&["login"], "sk_live_S3cretValueThatMustNeverLeak\n", &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("lp_live_<keyid>_<secret>"), "{stderr}");
    assert_no_key(&(stdout + &stderr), "malformed-key output");
}

#[tokio::test]
async fn without_a_keyring_login_says_so_and_writes_no_file() {
    let (base, _sandbox) = Sandbox::start(SandboxConfig::default()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap();
    let mut cmd_env = vec![
        ("HOME", home_path),
        ("XDG_DATA_HOME", home_path),
        ("XDG_CONFIG_HOME", home_path),
    ];
    // An unusable bus address: the Secret Service cannot be reached.
    cmd_env.push(("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"));
    let out = cli(
        &["--api-base", &base, "login"],
        &format!("{LIVE_KEY}\n"),
        &cmd_env,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("No OS keyring is available"), "{stderr}");
    assert!(stderr.contains("LAYERS_API_KEY"), "{stderr}");
    assert_no_key(&(stdout + &stderr), "no-keyring output");
    // Only the day's log may be written, and it must not hold the key.
    let (logs, written): (Vec<_>, Vec<_>) = walk(home.path())
        .into_iter()
        .partition(|p| p.starts_with(home.path().join("layers-uploader/logs")));
    assert!(written.is_empty(), "files written: {written:?}");
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap();
        assert_no_key(&text, "the CLI log");
    }
    // The library error is typed.
    let err = KeyStore::with_service("layers-uploader-never")
        .store(Account::Layers, &ApiKey::layers(LIVE_KEY).unwrap());
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        assert!(
            matches!(err, Err(SecretError::KeyringUnavailable { .. })),
            "{err:?}"
        );
    } else {
        let _ = KeyStore::with_service("layers-uploader-never").delete(Account::Layers);
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
