//! `layers-upload login`: read a key from stdin (no echo on a terminal), verify it with
//! `GET /v1/whoami`, keep it in the OS keyring; `--status` says which key is in use, never the key.

use std::io::{self, BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context;
use layers_uploader::api::{ApiError, LayersClient};
use layers_uploader::secrets::{Account, ApiKey, KeySource, KeyStore, SecretError};

/// Exit code for "cannot start": bad key, no keyring, API unreachable (design.md).
const EXIT_CONFIG: u8 = 2;

/// Flags of `login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Show the key in use (key id, organization) instead of storing a new one.
    #[arg(long)]
    status: bool,
    /// Store a Loops API key instead (not verified: Loops has no whoami).
    #[arg(long)]
    loops: bool,
}

/// Runs `login`; every failure is printed to stderr with what to do.
pub fn run(api_base: &str, args: LoginArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
    {
        Ok(r) => r,
        Err(e) => return fail(1, &format!("{e:#}")),
    };
    let store = KeyStore::new();
    match (args.status, args.loops) {
        (false, false) => runtime.block_on(login_layers(api_base, &store)),
        (false, true) => login_loops(&store),
        (true, false) => runtime.block_on(status_layers(api_base, &store)),
        (true, true) => status_loops(&store),
    }
}

async fn login_layers(api_base: &str, store: &KeyStore) -> ExitCode {
    let key = match read_key("Layers API key: ").and_then(|raw| ApiKey::layers(&raw)) {
        Ok(k) => k,
        Err(e) => return fail(EXIT_CONFIG, &e.to_string()),
    };
    let client = match LayersClient::new(api_base, key.clone()) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_CONFIG, &e.to_string()),
    };
    let who = match crate::engine::key_check(&client).await {
        Ok(Ok(w)) => w,
        Ok(Err(gave_up)) => return api_failure(&key, api_base, &gave_up.error),
        Err(code) => return code,
    };
    if let Err(e) = store.store(Account::Layers, &key) {
        return fail(
            EXIT_CONFIG,
            &format!("The key works, but it was not stored: {e}"),
        );
    }
    println!(
        "Logged in with {key} ({}) — organization {} ({}).",
        key.kind_label(),
        who.organization_name,
        who.organization_id
    );
    println!(
        "Stored in the OS keyring (service {}, account {}).",
        layers_uploader::secrets::KEYRING_SERVICE,
        Account::Layers.keyring_user()
    );
    env_override_note(Account::Layers);
    ExitCode::SUCCESS
}

fn login_loops(store: &KeyStore) -> ExitCode {
    let key = match read_key("Loops API key: ").and_then(|raw| ApiKey::new(&raw)) {
        Ok(k) => k,
        Err(e) => return fail(EXIT_CONFIG, &e.to_string()),
    };
    if let Err(e) = store.store(Account::Loops, &key) {
        return fail(EXIT_CONFIG, &format!("The Loops key was not stored: {e}"));
    }
    println!("Stored the Loops key {key} in the OS keyring (not verified: Loops has no whoami).");
    env_override_note(Account::Loops);
    ExitCode::SUCCESS
}

async fn status_layers(api_base: &str, store: &KeyStore) -> ExitCode {
    let (key, source) = match store.resolve(Account::Layers) {
        Ok(found) => found,
        Err(e) => return secret_failure(&e),
    };
    println!("Key: {key} ({}), {}", key.kind_label(), source_text(source));
    let client = match LayersClient::new(api_base, key.clone()) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_CONFIG, &e.to_string()),
    };
    match crate::engine::key_check(&client).await {
        Err(code) => code,
        Ok(Ok(who)) => {
            println!(
                "Organization: {} ({})",
                who.organization_name, who.organization_id
            );
            if !who.scopes.is_empty() {
                println!("Scopes: {}", who.scopes.join(", "));
            }
            ExitCode::SUCCESS
        }
        Ok(Err(gave_up)) => api_failure(&key, api_base, &gave_up.error),
    }
}

fn status_loops(store: &KeyStore) -> ExitCode {
    match store.resolve(Account::Loops) {
        Ok((key, source)) => {
            println!("Loops key: {key}, {}", source_text(source));
            ExitCode::SUCCESS
        }
        Err(e) => secret_failure(&e),
    }
}

/// One line from stdin; without echo when stdin is a terminal.
fn read_key(prompt: &str) -> Result<String, SecretError> {
    let invalid = |reason: String| SecretError::InvalidKey { reason };
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return rpassword::prompt_password(prompt)
            .map_err(|e| invalid(format!("could not read it from the terminal: {e}")));
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| invalid(format!("could not read it from stdin: {e}")))?;
    Ok(line)
}

fn source_text(source: KeySource) -> String {
    match source {
        KeySource::Env(var) => format!("from {var} (the environment overrides the keyring)"),
        KeySource::Keyring => "from the OS keyring".into(),
    }
}

fn env_override_note(account: Account) {
    if std::env::var(account.env_var()).is_ok_and(|v| !v.trim().is_empty()) {
        crate::output::say!(
            "layers-upload: note: {} is set in this environment and overrides the keyring.",
            account.env_var()
        );
    }
}

/// 401/403, network and bad-base failures are configuration problems (exit 2); others exit 1.
fn api_failure(key: &ApiKey, api_base: &str, e: &ApiError) -> ExitCode {
    let code = match e {
        ApiError::Unauthenticated { .. }
        | ApiError::ForbiddenScope { .. }
        | ApiError::Network { .. }
        | ApiError::InvalidBaseUrl { .. } => EXIT_CONFIG,
        _ => 1,
    };
    let what = match e {
        ApiError::Network { .. } => format!("Cannot reach the Layers API at {api_base}"),
        _ => format!("Could not verify {key}"),
    };
    fail(code, &format!("{what}: {e}"))
}

fn secret_failure(e: &SecretError) -> ExitCode {
    fail(EXIT_CONFIG, &e.to_string())
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("layers-upload: login: {message}");
    ExitCode::from(code)
}
