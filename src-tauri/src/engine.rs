//! The connection and the queue run. With a Layers key (env or keyring) the app talks to Layers;
//! without one it starts the embedded `layers-sandbox` on 127.0.0.1 so every step works offline.
//! While the app lives, one runner works the whole queue continuously (holding the run lock);
//! if another process (the CLI) holds the lock, the app says so and tries again every few seconds.
//! A keyring that cannot be read is shown and waits for Retry (never the sandbox); a Layers that
//! does not answer is tried again in the background while posts wait (`reconnect`).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use layers_uploader::api::types::Project;
use layers_uploader::api::{LayersClient, LoopsClient, DEFAULT_API_BASE, DEFAULT_LOOPS_BASE};
use layers_uploader::queue::lock::{LockError, RunLock};
use layers_uploader::queue::store::Backend;
use layers_uploader::queue::{Clients, QueueEvent, RunEnd, Runner, RunnerConfig, Scope};
use layers_uploader::secrets::{Account, ApiKey, KeyStore, SecretError};
use layers_uploader::transfer::{BandwidthLimiter, Transfer};
use sha2::{Digest, Sha256};
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::{broadcast, watch};

use crate::error::{AppError, CmdResult, ErrorCode};
use crate::reconnect::{
    choose_key, next_try, unreachable_message, KeyChoice, MODE_OFFLINE, MODE_UNREACHABLE,
};
use crate::settings::AppSettings;
use crate::state::{AppState, Status};

/// How often the app tries again to take the run lock from another process.
const LOCK_RETRY: Duration = Duration::from_secs(5);

/// A connection and, when this process holds the lock, its queue run.
pub struct Engine {
    pub client: LayersClient,
    /// Loops, when a Loops key is configured (or the embedded sandbox serves Loops too).
    pub loops: Option<LoopsClient>,
    pub projects: Vec<Project>,
    run: Option<QueueRun>,
    lock_waiter: Option<JoinHandle<()>>,
    // Dropped last: the sandbox must outlive the runner that talks to it.
    _sandbox: Option<SandboxHandle>,
}

struct QueueRun {
    runner: Runner,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    forwarder: JoinHandle<()>,
    lock: RunLock,
}

impl QueueRun {
    /// Stops the run, waits for it, and hands back the run lock it held.
    async fn finish(self) -> RunLock {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
        self.forwarder.abort();
        self.lock
    }
}

impl Engine {
    /// The clients the runner drives posts with.
    fn clients(&self) -> Clients {
        Clients {
            layers: Some(self.client.clone()),
            loops: self.loops.clone(),
        }
    }

    /// Wakes the runner (new posts, a resumed post); a no-op when another process runs the queue.
    pub fn wake(&self) {
        if let Some(run) = &self.run {
            run.runner.wake();
        }
    }

    /// Stops the queue run and waits for it; the queue stays saved.
    pub async fn stop(&mut self) {
        if let Some(w) = self.lock_waiter.take() {
            w.abort();
        }
        if let Some(run) = self.run.take() {
            drop(run.finish().await);
        }
    }
}

/// Where the embedded sandbox's secret lives (this user only): both sandbox keys derive from it.
pub const SANDBOX_SECRET_FILE: &str = "sandbox-secret";

/// The embedded sandbox's secret: random, made once per data dir and kept there with mode 0600,
/// so the same queue replays its requests under the same key after a restart, and another
/// local user (who can guess the data dir's path, but not read the file) cannot open the
/// sandbox. It opens nothing but the local sandbox; no Layers or Loops key is ever stored.
pub fn sandbox_secret(data_dir: &Path) -> std::io::Result<[u8; 32]> {
    let path = data_dir.join(SANDBOX_SECRET_FILE);
    match read_sandbox_secret(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let secret: [u8; 32] = Sha256::digest(seed).into();
    std::fs::create_dir_all(data_dir)?;
    let tmp = data_dir.join(format!("{SANDBOX_SECRET_FILE}.{}.tmp", std::process::id()));
    let written = (|| {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(hex::encode(secret).as_bytes())?;
        f.sync_all()?;
        // A link never replaces: of two first starts at once, both read the one that won.
        match std::fs::hard_link(&tmp, &path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    written?;
    read_sandbox_secret(&path)
}

fn read_sandbox_secret(path: &Path) -> std::io::Result<[u8; 32]> {
    let text = std::fs::read_to_string(path)?;
    hex::decode(text.trim())
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is damaged; delete it to make a new one", path.display()),
            )
        })
}

fn sandbox_derived(data_dir: &Path, label: &str) -> CmdResult<String> {
    let secret = sandbox_secret(data_dir).map_err(|e| {
        AppError::internal(format!(
            "cannot read or make the sandbox secret in {}: {e}",
            data_dir.display()
        ))
    })?;
    let mut h = Sha256::new();
    h.update(secret);
    h.update(label.as_bytes());
    Ok(hex::encode(&h.finalize()[..16]))
}

/// The key for the embedded sandbox: `lp_live_`-shaped (so every live check runs), derived
/// from the data dir's [`sandbox_secret`].
pub fn sandbox_key(data_dir: &Path) -> CmdResult<ApiKey> {
    let text = format!("lp_live_sandbox_{}", sandbox_derived(data_dir, "layers")?);
    Ok(ApiKey::layers(&text)?)
}

/// The Loops key for the embedded sandbox, derived like [`sandbox_key`].
pub fn sandbox_loops_key(data_dir: &Path) -> CmdResult<ApiKey> {
    let text = format!("loops_sandbox_{}", sandbox_derived(data_dir, "loops")?);
    Ok(ApiKey::new(&text)?)
}

/// The Loops API base of a live connection (`LOOPS_API_BASE`, else the real service).
fn live_loops_base() -> String {
    std::env::var("LOOPS_API_BASE")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_LOOPS_BASE.to_string())
}

/// The Loops client: the embedded sandbox's in offline mode, else Loops' own key (keyring or
/// `LOOPS_API_KEY`) at `LOOPS_API_BASE` or the documented default; `None` without a key (Loops
/// posts then stay queued and say so).
async fn loops_client(sandbox_base: Option<&str>, data_dir: &Path) -> Option<LoopsClient> {
    let (base, key) = match sandbox_base {
        Some(base) => (base.to_string(), sandbox_loops_key(data_dir).ok()?),
        None => {
            let resolved =
                tauri::async_runtime::spawn_blocking(|| KeyStore::new().resolve(Account::Loops))
                    .await
                    .ok()?;
            let key = match resolved {
                Ok((key, _)) => key,
                Err(SecretError::NotConfigured { .. }) => return None,
                Err(e) => {
                    tracing::warn!("no usable Loops key ({e}); Loops uploads wait for one");
                    return None;
                }
            };
            (live_loops_base(), key)
        }
    };
    match LoopsClient::new(&base, key) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("cannot use the Loops API at {base}: {e}");
            None
        }
    }
}

/// The Layers base: `LAYERS_API_BASE` or the documented default.
fn live_base() -> String {
    std::env::var("LAYERS_API_BASE")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_API_BASE.to_string())
}

/// What one connection attempt came to.
enum Attempt {
    /// Connected, or failed in a way trying again cannot mend (a refused key, a keyring error).
    Done(CmdResult<Status>),
    /// Layers did not answer: try again after `wait`.
    Unreachable { status: Status, wait: Duration },
}

/// Connects (sandbox or live), starts the queue run, and publishes the status. Replaces any
/// current engine. When Layers does not answer, the app stays usable (posts queue and wait)
/// and tries again in the background, for as long as no newer `connect` replaced this one.
pub async fn connect<R: Runtime>(app: &AppHandle<R>) -> CmdResult<Status> {
    let state = app.state::<AppState>();
    let generation = state.connect_generation.fetch_add(1, Ordering::SeqCst) + 1;
    let project_id = state.status().project_id;
    publish(
        app,
        Status {
            mode: "connecting".into(),
            project_id,
            runner: "stopped".into(),
            ..Status::default()
        },
    );
    match attempt(app, generation, 0).await {
        Attempt::Done(result) => result,
        Attempt::Unreachable { status, wait } => {
            tauri::async_runtime::spawn(keep_trying(app.clone(), generation, wait));
            Ok(status)
        }
    }
}

/// Tries again after each wait until Layers answers, the key is refused, or a newer
/// `connect` takes over.
async fn keep_trying<R: Runtime>(app: AppHandle<R>, generation: u64, mut wait: Duration) {
    let mut tries = 1;
    loop {
        tokio::time::sleep(wait).await;
        if superseded(&app.state::<AppState>(), generation) {
            return;
        }
        match attempt(&app, generation, tries).await {
            Attempt::Done(Ok(_)) => return,
            Attempt::Done(Err(e)) => {
                tracing::warn!("stopped trying to connect: {}", e.message);
                return;
            }
            Attempt::Unreachable { wait: next, .. } => wait = next,
        }
        tries = tries.saturating_add(1);
    }
}

fn superseded(state: &AppState, generation: u64) -> bool {
    state.connect_generation.load(Ordering::SeqCst) != generation
}

/// Publishes a status and returns it.
fn publish<R: Runtime>(app: &AppHandle<R>, status: Status) -> Status {
    let status = app.state::<AppState>().set_status(|s| *s = status);
    let _ = app.emit("status", &status);
    status
}

/// One attempt: the key, the client, `whoami` and the projects, all without the engine lock
/// (commands go on answering meanwhile); then the new engine is swapped in.
async fn attempt<R: Runtime>(app: &AppHandle<R>, generation: u64, tries: u32) -> Attempt {
    let state = app.state::<AppState>();
    let _gate = state.connect_gate.lock().await;
    if superseded(&state, generation) {
        return Attempt::Done(Ok(state.status()));
    }
    match prepare(app, tries).await {
        Ok(Prepared::Ready(ready)) => Attempt::Done(install(app, *ready).await),
        Ok(Prepared::Unreachable { wait }) => Attempt::Unreachable {
            status: state.status(),
            wait,
        },
        Err(e) => Attempt::Done(Err(e)),
    }
}

/// A checked connection, not yet running the queue.
struct Ready {
    engine: Engine,
    status: Status,
    settings: AppSettings,
}

enum Prepared {
    Ready(Box<Ready>),
    /// Layers did not answer; the status says so.
    Unreachable {
        wait: Duration,
    },
}

/// Stops the old engine, resolves the key and checks it with Layers.
async fn prepare<R: Runtime>(app: &AppHandle<R>, tries: u32) -> CmdResult<Prepared> {
    let state = app.state::<AppState>();
    // The old connection goes first: its run holds the run lock, its sandbox the data dir.
    let old = state.engine.lock().await.take();
    if let Some(mut old) = old {
        old.stop().await;
    }
    let settings = AppSettings::load(&state.store)?;
    // The keyring may ask the person to unlock it: wait for that off the async workers.
    let resolved =
        tauri::async_runtime::spawn_blocking(|| KeyStore::new().resolve(Account::Layers))
            .await
            .map_err(|e| AppError::internal(format!("the key lookup stopped: {e}")))?;
    let (key, sandbox) = match choose_key(resolved.map(|(key, _)| key)) {
        KeyChoice::Live(key) => (key, None),
        KeyChoice::Sandbox => {
            let dir = state.data_dir.join("sandbox");
            let key = sandbox_key(&state.data_dir)?;
            let (base, handle) = Sandbox::start(
                SandboxConfig::default()
                    .data_dir(dir)
                    .private_key(key.expose()),
            )
            .map_err(|e| AppError::internal(format!("cannot start the sandbox: {e}")))?;
            (key, Some((base, handle)))
        }
        KeyChoice::Refuse { mode, error } => {
            tracing::warn!("not connecting: {}", error.message);
            // Whatever is queued meanwhile is for the real service the key belongs to, never
            // for a sandbox this handle was bound to before.
            state.store.use_backend(None);
            publish(
                app,
                Status {
                    mode: mode.into(),
                    project_id: settings.project_id.clone(),
                    runner: "stopped".into(),
                    message: Some(error.message.clone()),
                    ..Status::default()
                },
            );
            return Err(error);
        }
    };
    let base = sandbox.as_ref().map_or_else(live_base, |(b, _)| b.clone());
    let mode = if sandbox.is_some() { "sandbox" } else { "live" };
    // The embedded sandbox's port changes every run: its posts are recorded as "sandbox".
    // Live posts carry their API bases, so neither runs (or dedupes against) the other's.
    state.store.use_backend(Some(match sandbox {
        Some(_) => Backend::sandbox(),
        None => Backend::at(&base, &live_loops_base()),
    }));
    let key_id = key.key_id().map(str::to_owned);
    let client = LayersClient::new(&base, key)?;
    let loops = loops_client(sandbox.as_ref().map(|(b, _)| b.as_str()), &state.data_dir).await;
    let checked = async {
        let me = client.whoami().await?;
        let projects = client.list_all_projects().await?;
        Ok::<_, layers_uploader::api::ApiError>((me, projects))
    }
    .await;
    let (me, projects) = match checked {
        Ok(ok) => ok,
        Err(e) => {
            let Some(wait) = next_try(&e, tries) else {
                publish(
                    app,
                    Status {
                        mode: MODE_OFFLINE.into(),
                        api_base: Some(base.clone()),
                        key_id: key_id.clone(),
                        runner: "stopped".into(),
                        message: Some(format!("Cannot use the Layers API: {e}")),
                        ..Status::default()
                    },
                );
                return Err(e.into());
            };
            tracing::warn!(
                tries,
                wait_ms = wait.as_millis() as u64,
                "Layers did not answer ({e}); trying again"
            );
            let waiting = state.waiting_posts();
            let retry_at = layers_uploader::queue::store::now_ms()
                .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            publish(
                app,
                Status {
                    mode: MODE_UNREACHABLE.into(),
                    api_base: Some(base.clone()),
                    // Posts can still be queued for the last chosen project.
                    project_id: settings.project_id.clone(),
                    key_id: key_id.clone(),
                    runner: "stopped".into(),
                    message: Some(unreachable_message(waiting, wait)),
                    retry_at_ms: Some(retry_at),
                    waiting_posts: Some(waiting),
                    detail: Some(e.to_string()),
                    ..Status::default()
                },
            );
            return Ok(Prepared::Unreachable { wait });
        }
    };
    let project = settings
        .project_id
        .clone()
        .filter(|p| projects.iter().any(|x| &x.id == p))
        .or_else(|| projects.first().map(|p| p.id.clone()));
    let status = Status {
        mode: mode.into(),
        api_base: Some(base.clone()),
        project_id: project.clone(),
        key_id,
        organization: Some(me.organization_name.clone()),
        runner: "stopped".into(),
        loops: loops.is_some(),
        message: project
            .is_none()
            .then(|| "This key sees no project: create one in Layers first".into()),
        ..Status::default()
    };
    let engine = Engine {
        client,
        loops,
        projects,
        run: None,
        lock_waiter: None,
        _sandbox: sandbox.map(|(_, h)| h),
    };
    Ok(Prepared::Ready(Box::new(Ready {
        engine,
        status,
        settings,
    })))
}

/// Swaps a checked engine in and starts its queue run (or waits for the run lock).
async fn install<R: Runtime>(app: &AppHandle<R>, ready: Ready) -> CmdResult<Status> {
    let state = app.state::<AppState>();
    let Ready {
        mut engine,
        status,
        settings,
    } = ready;
    let mode = status.mode.clone();
    state.set_status(|s| *s = status);
    let mut slot = state.engine.lock().await;
    if let Some(mut stray) = slot.take() {
        stray.stop().await;
    }
    match RunLock::acquire(&state.data_dir) {
        Ok(lock) => engine.run = Some(start_run(app, engine.clients(), &settings, &mode, lock)?),
        Err(e @ LockError::Held { .. }) => {
            state.set_status(|s| {
                s.runner = "held".into();
                s.message = Some(e.to_string());
            });
            engine.lock_waiter = Some(tauri::async_runtime::spawn(wait_for_lock(app.clone())));
        }
        Err(e) => return Err(AppError::new(ErrorCode::Store, e.to_string())),
    }
    *slot = Some(engine);
    drop(slot);
    let status = state.status();
    let _ = app.emit("status", &status);
    Ok(status)
}

/// Retries the lock until the other process lets go, then runs the queue here.
async fn wait_for_lock<R: Runtime>(app: AppHandle<R>) {
    loop {
        tokio::time::sleep(LOCK_RETRY).await;
        let state = app.state::<AppState>();
        let Ok(lock) = RunLock::acquire(&state.data_dir) else {
            continue;
        };
        let mut slot = state.engine.lock().await;
        let Some(engine) = slot.as_mut() else { return };
        let settings = match AppSettings::load(&state.store) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot read the settings: {e}");
                return;
            }
        };
        let mode = state.status().mode;
        match start_run(&app, engine.clients(), &settings, &mode, lock) {
            Ok(run) => {
                engine.run = Some(run);
                engine.lock_waiter = None;
                let status = state.set_status(|s| s.message = None);
                let _ = app.emit("status", &status);
                // The other process may have changed the queue: the UI reloads it.
                let _ = app.emit("queue-resync", ());
            }
            Err(e) => tracing::error!("cannot start the queue: {}", e.message),
        }
        return;
    }
}

fn start_run<R: Runtime>(
    app: &AppHandle<R>,
    clients: Clients,
    settings: &AppSettings,
    mode: &str,
    lock: RunLock,
) -> CmdResult<QueueRun> {
    let state = app.state::<AppState>();
    let mut transfer = Transfer::new()?;
    if settings.bandwidth_limit_bps > 0 {
        transfer = transfer.with_limiter(BandwidthLimiter::new(settings.bandwidth_limit_bps));
    }
    let defaults = RunnerConfig::default();
    let config = RunnerConfig {
        put_concurrency: usize::from(settings.concurrency),
        // The app never gives up: posts wait and are tried again while it lives.
        give_up_when_exhausted: false,
        // The sandbox has no write limit; Layers' standard tier does.
        writes_per_minute: if mode == "sandbox" {
            0
        } else {
            defaults.writes_per_minute
        },
        ..defaults
    };
    let runner = Runner::with_clients(state.store.clone(), clients, transfer, config);
    let (stop, stop_rx) = watch::channel(false);
    let forwarder = tauri::async_runtime::spawn(forward_events(
        app.clone(),
        runner.subscribe(),
        state.events.clone(),
    ));
    let task = tauri::async_runtime::spawn(run_forever(runner.clone(), stop_rx));
    state.set_status(|s| s.runner = "running".into());
    Ok(QueueRun {
        runner,
        stop,
        task,
        forwarder,
        lock,
    })
}

/// Works the queue, and when it is idle waits to be woken, until stopped.
async fn run_forever(runner: Runner, stop: watch::Receiver<bool>) {
    // What was runnable when the runner last went idle: the same again means nothing here
    // can move them (on a shared queue, posts whose files are on another machine, or copies
    // held for a twin nobody works), so wait instead of running again at once.
    let mut idle_with: Vec<i64> = Vec::new();
    loop {
        match runner.run(&Scope::All, stop.clone()).await {
            Ok(RunEnd::Stopped) => return,
            Ok(RunEnd::Idle | RunEnd::GaveUp) => {
                // A round whose posts were all skipped as duplicates ends `Idle` while more
                // are queued behind it: go on until nothing new is runnable.
                let now = layers_uploader::queue::store::now_ms();
                let runnable = runner.store().runnable(now, None).unwrap_or_default();
                if !runnable.is_empty() && runnable != idle_with {
                    idle_with = runnable;
                    continue;
                }
                idle_with = runnable;
            }
            Err(e) => {
                tracing::error!("the queue runner stopped: {e}; starting it again in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        let mut stop = stop.clone();
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = runner.woken() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Sends the runner's events to the window (as `queue-event`) and to the watches, and
/// notifies when a batch finishes.
async fn forward_events<R: Runtime>(
    app: AppHandle<R>,
    mut rx: broadcast::Receiver<QueueEvent>,
    to_watches: broadcast::Sender<QueueEvent>,
) {
    loop {
        match rx.recv().await {
            Ok(event) => {
                if let QueueEvent::BatchFinished { .. } = &event {
                    crate::notify::batch_finished(&app, &event);
                }
                let _ = app.emit("queue-event", &event);
                let _ = to_watches.send(event);
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!("the window missed {n} queue events; it reloads the queue");
                let _ = app.emit("queue-resync", ());
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Restarts the queue run with new settings (concurrency, bandwidth) without reconnecting.
/// The run lock passes from the old run to the new one, so a CLI cannot take it in between.
pub async fn restart_run<R: Runtime>(app: &AppHandle<R>) -> CmdResult<()> {
    let state = app.state::<AppState>();
    let mut slot = state.engine.lock().await;
    let Some(engine) = slot.as_mut() else {
        return Ok(());
    };
    let Some(old) = engine.run.take() else {
        return Ok(());
    };
    let lock = old.finish().await;
    let settings = AppSettings::load(&state.store)?;
    let mode = state.status().mode;
    engine.run = Some(start_run(app, engine.clients(), &settings, &mode, lock)?);
    Ok(())
}

/// Wakes the current runner, if any.
pub async fn wake(state: &AppState) {
    if let Some(engine) = state.engine.lock().await.as_ref() {
        engine.wake();
    }
}

/// A clone of the connected client, or `not_ready`.
pub async fn client(state: &AppState) -> CmdResult<LayersClient> {
    state
        .engine
        .lock()
        .await
        .as_ref()
        .map(|e| e.client.clone())
        .ok_or_else(|| AppError::new(ErrorCode::NotReady, "not connected to Layers yet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_key_is_live_shaped_stable_private_and_per_data_dir() {
        let dirs = tempfile::tempdir().unwrap();
        let (da, db) = (dirs.path().join("a"), dirs.path().join("b"));
        let a = sandbox_key(&da).unwrap();
        assert!(a.expose().starts_with("lp_live_sandbox_"));
        assert_eq!(a.key_id(), Some("sandbox"));
        assert_eq!(a.expose(), sandbox_key(&da).unwrap().expose());
        assert_ne!(a.expose(), sandbox_key(&db).unwrap().expose());
        assert_ne!(
            sandbox_loops_key(&da).unwrap().expose(),
            sandbox_loops_key(&db).unwrap().expose()
        );
        // Not derivable from the path alone: the secret is random and this user's only.
        let file = da.join(SANDBOX_SECRET_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "the sandbox secret is readable by others: {mode:o}"
            );
        }
        std::fs::remove_file(&file).unwrap();
        assert_ne!(a.expose(), sandbox_key(&da).unwrap().expose());
        assert!(std::fs::read_dir(&da).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")));
    }
}
