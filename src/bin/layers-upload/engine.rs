//! What the queue commands share: finding the data dir and project, connecting with a checked
//! key, holding the run lock, stopping cleanly on SIGINT/SIGTERM, and printing events.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use layers_uploader::api::retry::{human_wait, waiting_line, GaveUp};
use layers_uploader::api::types::WhoAmI;
use layers_uploader::api::{ApiError, LayersClient, LoopsClient, RetryPolicy};
use layers_uploader::queue::lock::RunLock;
use layers_uploader::queue::store::Backend;
use layers_uploader::queue::store::{machine_name, Store, StoreLocation};
use layers_uploader::queue::{Clients, RunEnd, Runner, RunnerConfig, Scope};
use layers_uploader::secrets::{Account, KeyStore, SecretError};
use layers_uploader::transfer::{BandwidthLimiter, Transfer};
use tokio::sync::watch;

use crate::progress::Printer;
use crate::GlobalOpts;

/// Exit code for "cannot start" (usage, configuration, key refused, API unreachable).
pub const EXIT_CANNOT_START: u8 = 2;

/// Prints a message and returns exit 2.
pub fn cannot_start(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("layers-upload: {message}");
    ExitCode::from(EXIT_CANNOT_START)
}

/// The data dir from `--data-dir`, the environment, or the platform default.
pub fn data_dir(global: &GlobalOpts) -> Result<PathBuf, ExitCode> {
    global
        .data_dir
        .clone()
        .or_else(layers_uploader::paths::default_data_dir)
        .ok_or_else(|| cannot_start("no data dir: pass --data-dir or set LAYERS_UPLOADER_DATA_DIR"))
}

/// Opens the queue store in the data dir.
pub fn open_store(global: &GlobalOpts) -> Result<(PathBuf, Arc<Store>), ExitCode> {
    let dir = data_dir(global)?;
    let location = StoreLocation::parse(global.store.as_deref()).map_err(cannot_start)?;
    let store = Store::open_at(&location, &dir).map_err(cannot_start)?;
    if store.is_shared() {
        tracing::info!(store = %store.describe(), machine = %machine_name(), "shared queue");
    }
    // This process talks to these services only: it records them on what it enqueues and
    // runs, dedupes and skips by their posts alone (the app may run another in this dir).
    store.use_backend(Some(Backend::at(&global.api_base, &global.loops_api_base)));
    Ok((dir, Arc::new(store)))
}

/// The project to upload into.
pub fn project(global: &GlobalOpts) -> Result<String, ExitCode> {
    global
        .project
        .clone()
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| cannot_start("no project: pass --project ID or set LAYERS_PROJECT_ID"))
}

/// A client for the configured key and API base, not yet checked (the key is resolved from
/// `LAYERS_API_KEY` or the keyring).
pub fn layers_client(global: &GlobalOpts) -> Result<LayersClient, ExitCode> {
    let (key, _) = KeyStore::new()
        .resolve(Account::Layers)
        .map_err(cannot_start)?;
    LayersClient::new(&global.api_base, key).map_err(cannot_start)
}

/// Says which organization and key a checked client works for.
pub fn announce(global: &GlobalOpts, client: &LayersClient, me: &WhoAmI) {
    crate::output::say!(
        "layers-upload: {} ({}) at {}",
        me.organization_name,
        client.key().kind_label(),
        global.api_base
    );
}

/// The key check's retry policy: [`RetryPolicy::startup`], with `LAYERS_STARTUP_ATTEMPTS`
/// (1–20) overriding the number of tries (tests use it to fail fast).
pub fn startup_policy() -> Result<RetryPolicy, ExitCode> {
    let mut policy = RetryPolicy::startup();
    if let Ok(v) = std::env::var("LAYERS_STARTUP_ATTEMPTS") {
        policy.max_attempts = v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=20).contains(n))
            .ok_or_else(|| {
                cannot_start(format!(
                    "LAYERS_STARTUP_ATTEMPTS must be a whole number from 1 to 20, not {v:?}"
                ))
            })?;
    }
    Ok(policy)
}

/// A client whose key was checked with `GET /v1/whoami` (the cheapest call, and the one that
/// fails fast on a bad key). A rate limit, a server error or an unreachable API is retried
/// within [`startup_policy`], each wait said on stderr; a refused key, another refusal, or
/// the budget running out is exit 2.
pub async fn connect(global: &GlobalOpts) -> Result<LayersClient, ExitCode> {
    let client = layers_client(global)?;
    match key_check(&client).await? {
        Ok(me) => {
            announce(global, &client, &me);
            Ok(client)
        }
        Err(gave_up) => Err(key_check_failed(&gave_up)),
    }
}

/// `GET /v1/whoami` within [`startup_policy`], each wait said on stderr.
pub async fn key_check(
    client: &LayersClient,
) -> Result<Result<WhoAmI, GaveUp<ApiError>>, ExitCode> {
    let policy = startup_policy()?;
    Ok(policy
        .run_observed(
            |_| client.whoami(),
            |n| crate::output::say!("layers-upload: {}", waiting_line(n, "the key check")),
        )
        .await)
}

/// Exit 2 with what went wrong with the key check and whether waiting could help.
pub fn key_check_failed(gave_up: &GaveUp<ApiError>) -> ExitCode {
    let e = &gave_up.error;
    match e {
        ApiError::Unauthenticated { .. } | ApiError::ForbiddenScope { .. } => cannot_start(e),
        _ if gave_up.is_final() => {
            cannot_start(format!("the API did not accept the key check: {e}"))
        }
        ApiError::RateLimited {
            retry_after: Some(asked),
            ..
        } if gave_up.attempts == 1 => cannot_start(format!(
            "Layers rate-limited the key check and asked to wait {}, longer than start-up waits; try again later",
            human_wait(*asked)
        )),
        _ => cannot_start(format!(
            "gave up on the key check after {} tries in {}: {e}",
            gave_up.attempts,
            human_wait(gave_up.elapsed)
        )),
    }
}

/// A Loops client with Loops' own key (`LOOPS_API_KEY` or the keyring) and API base. Loops
/// has no cheap key check, so a bad key shows as `401` on the first create.
pub fn connect_loops(global: &GlobalOpts) -> Result<LoopsClient, ExitCode> {
    let (key, _) = KeyStore::new()
        .resolve(Account::Loops)
        .map_err(cannot_start)?;
    let client = LoopsClient::new(&global.loops_api_base, key).map_err(cannot_start)?;
    crate::output::say!("layers-upload: Loops at {}", global.loops_api_base);
    Ok(client)
}

/// The clients for running whatever the queue holds (`resume`, `queue retry`): each service
/// whose key is configured; a service without one leaves its posts queued for a later run.
pub async fn connect_all(global: &GlobalOpts) -> Result<Clients, ExitCode> {
    let configured = |account| match KeyStore::new().resolve(account) {
        Ok(_) => Ok(true),
        Err(SecretError::NotConfigured { .. }) => Ok(false),
        Err(e) => Err(cannot_start(e)),
    };
    let layers_key = configured(Account::Layers)?;
    // Loops is optional here: an unreadable keyring must not stop a Layers-only resume.
    let loops_key = KeyStore::new().resolve(Account::Loops).is_ok();
    if !layers_key && !loops_key {
        // Say what is missing the way a Layers-only run always has.
        return connect(global).await.map(|c| Clients {
            layers: Some(c),
            loops: None,
        });
    }
    let layers = if layers_key {
        Some(connect(global).await?)
    } else {
        None
    };
    let loops = if loops_key {
        Some(connect_loops(global)?)
    } else {
        None
    };
    Ok(Clients { layers, loops })
}

/// Everything a queue run needs: the store, a checked client, and the run lock (held until
/// the returned lock is dropped).
pub async fn start_run(
    global: &GlobalOpts,
) -> Result<(Arc<Store>, LayersClient, RunLock), ExitCode> {
    let (dir, store) = open_store(global)?;
    let client = connect(global).await?;
    let lock = RunLock::acquire(&dir).map_err(cannot_start)?;
    Ok((store, client, lock))
}

/// Options that shape a run.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOpts {
    /// PUTs in flight at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub concurrency: u16,
    /// Bandwidth limit shared by all PUTs, in bytes/s with K/M/G suffixes (1024-based, as
    /// curl): e.g. `20M`.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub limit_rate: Option<u64>,
    /// Print each completed content item as JSON (one line each) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `20M` → 20 MiB/s; `500K`; `1G`; a bare number is bytes.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024u64),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        Some('g' | 'G') => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a rate like 20M, 500K or 1048576"))?;
    if n.is_nan() || n <= 0.0 {
        return Err("the rate must be more than 0".into());
    }
    Ok((n * mult as f64) as u64)
}

/// Builds the runner for a CLI run; `give_up` (upload/resume): stop when retries run out,
/// leaving posts resumable; `watch` never gives up. `LAYERS_WRITES_PER_MINUTE` sets the write
/// pacing for accounts with another tier (0 turns it off).
pub fn runner(
    store: Arc<Store>,
    client: LayersClient,
    opts: &RunOpts,
    give_up: bool,
) -> Result<Runner, ExitCode> {
    let clients = Clients {
        layers: Some(client),
        loops: None,
    };
    runner_with(store, clients, opts, give_up)
}

/// Like [`runner`], with the clients of several destinations.
pub fn runner_with(
    store: Arc<Store>,
    clients: Clients,
    opts: &RunOpts,
    give_up: bool,
) -> Result<Runner, ExitCode> {
    let mut transfer = Transfer::new().map_err(cannot_start)?;
    if let Some(rate) = opts.limit_rate {
        transfer = transfer.with_limiter(BandwidthLimiter::new(rate));
    }
    let defaults = RunnerConfig::default();
    let writes_per_minute = match std::env::var("LAYERS_WRITES_PER_MINUTE") {
        Ok(v) => v.trim().parse::<u32>().map_err(|_| {
            cannot_start(format!(
                "LAYERS_WRITES_PER_MINUTE must be a whole number (0 = no pacing), not {v:?}"
            ))
        })?,
        Err(_) => defaults.writes_per_minute,
    };
    let config = RunnerConfig {
        put_concurrency: usize::from(opts.concurrency),
        give_up_when_exhausted: give_up,
        writes_per_minute,
        ..defaults
    };
    Ok(Runner::with_clients(store, clients, transfer, config))
}

/// How a run ended, for the exit code.
pub enum Ended {
    Finished(RunEnd),
    Interrupted(u8),
}

/// What a run has to upload, for the overall progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub bytes: u64,
    pub posts: usize,
}

impl Totals {
    /// The not-yet-uploaded bytes and the unfinished posts among `ids`.
    pub fn of(store: &Store, ids: &[i64]) -> Totals {
        let mut t = Totals::default();
        for p in ids.iter().filter_map(|id| store.post(*id).ok()) {
            if !p.state.is_terminal() {
                t.posts += 1;
                t.bytes += p
                    .files
                    .iter()
                    .filter(|f| !f.put_confirmed)
                    .map(|f| f.size_bytes)
                    .sum::<u64>();
            }
        }
        t
    }
}

/// Runs the queue until it is idle or a signal stops it, showing progress meanwhile. While
/// `feeding` says `true`, more posts may still arrive.
pub async fn run_with_signals(
    runner: &Runner,
    scope: Scope,
    json: bool,
    totals: Totals,
    feeding: Option<watch::Receiver<bool>>,
) -> Result<Ended, ExitCode> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let printer = Printer {
        store: runner.store().clone(),
        json,
        tty: std::io::stderr().is_terminal() && !crate::output::quiet(),
        total_bytes: totals.bytes,
        posts: totals.posts,
    };
    let printer = tokio::spawn(printer.run(runner.subscribe()));
    let signal = tokio::spawn(async move {
        let code = wait_for_signal().await;
        let _ = stop_tx.send(true);
        code
    });
    let end = runner.run_fed(&scope, stop_rx, feeding).await;
    // Give the printer a moment to drain the last events.
    tokio::time::sleep(Duration::from_millis(50)).await;
    printer.abort();
    let end = end.map_err(|e| {
        eprintln!("layers-upload: the queue stopped: {e}");
        ExitCode::from(1)
    })?;
    if end == RunEnd::Stopped {
        let code = signal.await.unwrap_or(130);
        eprintln!(
            "layers-upload: stopped; the queue is saved — run `layers-upload resume` to finish"
        );
        return Ok(Ended::Interrupted(code));
    }
    signal.abort();
    Ok(Ended::Finished(end))
}

/// Waits for SIGINT or SIGTERM; returns the exit code that reports it (130 or 143).
pub async fn wait_for_signal() -> u8 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            std::future::pending::<()>().await;
            return 130;
        };
        tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        130
    }
}
