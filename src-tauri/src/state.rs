//! What the app holds while it runs, managed by Tauri (`app.manage`): the store, the granted
//! paths, the thumbnail cache, the connection and queue run, and the running watches.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use layers_uploader::media::{Inspector, Limits};
use layers_uploader::queue::events::EVENT_CAPACITY;
use layers_uploader::queue::{QueueEvent, Store};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::engine::Engine;
use crate::error::{AppError, CmdResult, ErrorCode};
use crate::fits::FitJobs;
use crate::grants::Grants;
use crate::thumbs::Thumbnails;
use crate::watches::RunningWatch;

/// How the app is connected, as the UI shows it (no key, only its id).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `connecting`, `sandbox`, `live`, `keyring` (the keyring is locked or unavailable: the
    /// queue waits for Retry), `unreachable` (Layers does not answer: posts wait and the app
    /// tries again by itself) or `offline` (the key was refused: shown, not retried).
    pub mode: String,
    pub api_base: Option<String>,
    pub project_id: Option<String>,
    pub key_id: Option<String>,
    pub organization: Option<String>,
    /// `running`, `held` (another process runs the queue) or `stopped`.
    pub runner: String,
    /// Whether Loops email assets can upload (a Loops key is configured, or the sandbox).
    pub loops: bool,
    /// A sentence for the banner when something needs the user.
    pub message: Option<String>,
    /// While `unreachable`: when the next try starts (ms since the epoch), for a countdown.
    pub retry_at_ms: Option<i64>,
    /// While `unreachable`: posts waiting for Layers to answer.
    pub waiting_posts: Option<u64>,
    /// While `unreachable`: why the last try failed.
    pub detail: Option<String>,
}

/// The app's managed state.
pub struct AppState {
    pub data_dir: PathBuf,
    pub store: Arc<Store>,
    pub grants: Mutex<Grants>,
    pub inspector: Arc<Inspector>,
    pub thumbs: Thumbnails,
    /// "Make it fit" conversions under way (their cancel flags).
    pub fits: FitJobs,
    /// The connection and the queue run; replaced when the key or run settings change. Never
    /// held across a network call.
    pub engine: tokio::sync::Mutex<Option<Engine>>,
    /// One connection attempt at a time (held across its network calls instead of `engine`).
    pub connect_gate: tokio::sync::Mutex<()>,
    /// Bumped by every `connect`: a background retry of an older one stops.
    pub connect_generation: AtomicU64,
    /// What the UI shows about the connection; readable without waiting on `engine`.
    pub status: Mutex<Status>,
    /// Every queue event of whichever runner is current (watches follow it across restarts).
    pub events: broadcast::Sender<QueueEvent>,
    pub watches: Mutex<HashMap<i64, RunningWatch>>,
    /// When the process started (for the `READY <ms>` line).
    pub started: Instant,
    pub report_ready: bool,
    pub ready_reported: Mutex<bool>,
    /// Files and folders given on the command line ("Open with"), added at first paint.
    pub launch_paths: Mutex<Vec<PathBuf>>,
    /// Keeps the log writer running; dropped at exit to flush.
    pub log_guard: Mutex<Option<layers_uploader::diagnostics::LogGuard>>,
}

impl AppState {
    /// Opens the store and caches in the data dir.
    pub fn open(data_dir: PathBuf, started: Instant) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&data_dir)?;
        // The local queue, or the shared one several machines use (`LAYERS_UPLOADER_STORE`,
        // as for the CLI; see README "Several machines").
        let location = layers_uploader::queue::store::StoreLocation::parse(
            std::env::var("LAYERS_UPLOADER_STORE").ok().as_deref(),
        )
        .map_err(anyhow::Error::msg)?;
        let store = Arc::new(Store::open_at(&location, &data_dir)?);
        // Re-inspection and watch catch-up skip hashing files that have not changed.
        layers_uploader::media::bytes::use_hash_cache_in(&data_dir);
        let thumbs = Thumbnails::new(data_dir.join("thumbs"))?;
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Ok(AppState {
            data_dir,
            store,
            grants: Mutex::new(Grants::default()),
            inspector: Arc::new(Inspector::new(Limits::from_env())),
            thumbs,
            fits: FitJobs::default(),
            engine: tokio::sync::Mutex::new(None),
            connect_gate: tokio::sync::Mutex::new(()),
            connect_generation: AtomicU64::new(0),
            status: Mutex::new(Status {
                mode: "connecting".into(),
                runner: "stopped".into(),
                ..Status::default()
            }),
            events,
            watches: Mutex::new(HashMap::new()),
            started,
            report_ready: std::env::var("LAYERS_UPLOADER_REPORT_READY").as_deref() == Ok("1"),
            ready_reported: Mutex::new(false),
            launch_paths: Mutex::new(Vec::new()),
            log_guard: Mutex::new(None),
        })
    }

    /// The granted paths (a poisoned lock is a bug elsewhere; the set itself is still valid).
    pub fn grants(&self) -> std::sync::MutexGuard<'_, Grants> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the current status.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the status.
    pub fn set_status(&self, f: impl FnOnce(&mut Status)) -> Status {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        s.clone()
    }

    /// Posts not yet done (queued, waiting, paused or under way): what waits for Layers.
    pub fn waiting_posts(&self) -> u64 {
        self.store.list(None).map_or(0, |posts| {
            posts.iter().filter(|p| !p.state.is_terminal()).count() as u64
        })
    }

    /// The project uploads go to, or `not_ready` before the connection has chosen one.
    pub fn project(&self) -> CmdResult<String> {
        self.status().project_id.ok_or_else(|| {
            AppError::new(
                ErrorCode::NotReady,
                "no project yet: the app is still connecting, or the key sees no project",
            )
        })
    }
}
