//! Watch folders: an export folder that uploads itself. A watch follows one folder with the
//! OS's file events (`notify`), waits until each file has settled, reads its caption sidecar,
//! checks it locally and against the ledger, and enqueues it. It only feeds the queue: the
//! runner uploads. Nothing in the folder is modified, moved or deleted unless the watch says
//! "move to Uploaded/", and then only after the post completed. With "make it fit" a file
//! that misses a platform is queued as its fitted copy, made in a hidden `.fit/` folder beside
//! it (`fitting.rs`); the original is only read.

pub mod fitting;
mod folder;
mod intake;
pub mod layout;
pub mod moves;
pub mod settle;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};

use crate::api::types::Grouping;
use crate::media::Inspector;
use crate::queue::store::{Store, StoreError, StoredWatch};
use crate::queue::{PostState, QueueEvent};
use folder::FolderWatch;

pub use layout::{SLIDESHOW_CAPTION, UPLOADED_DIR};

/// The design's default settle time.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(5);

/// Times a settled file that cannot be read as media (a video whose index is not written yet)
/// is checked again, one settle time apart, before it is reported.
pub const PROBE_ATTEMPTS: u32 = 3;

/// What a watch did with a file, for people (the CLI prints it, the app's watch panel lists
/// it). Every file that is not uploaded gets one, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum WatchReport {
    /// The watch is running; `pending` files are waiting to settle after the catch-up scan.
    #[serde(rename_all = "camelCase")]
    Watching { folder: PathBuf, pending: usize },
    /// A post was enqueued. `since_last_write_ms`: from the newest file's mtime to now.
    #[serde(rename_all = "camelCase")]
    Queued {
        post_id: i64,
        files: Vec<PathBuf>,
        caption_from: Option<PathBuf>,
        since_last_write_ms: u64,
    },
    /// Not taken, on purpose: `ignored_name` or `duplicate`.
    #[serde(rename_all = "camelCase")]
    Skipped {
        path: PathBuf,
        code: String,
        message: String,
    },
    /// Not uploadable as it is (a local error code such as `unsupported_type`,
    /// `caption_too_long`, `unreadable`); taken again when the file changes.
    #[serde(rename_all = "camelCase")]
    Refused {
        path: PathBuf,
        code: String,
        message: String,
    },
    /// Platform-fit issues: advisory, the file is uploaded anyway.
    #[serde(rename_all = "camelCase")]
    FitIssues { path: PathBuf, issues: Vec<String> },
    /// "Make it fit": the file is queued as its fitted `copy`, with these changes.
    #[serde(rename_all = "camelCase")]
    Fitted {
        path: PathBuf,
        copy: PathBuf,
        changes: Vec<String>,
    },
    /// A file of a completed post was moved into `Uploaded/`.
    #[serde(rename_all = "camelCase")]
    Moved { from: PathBuf, to: PathBuf },
    /// The folder was scanned again because the OS dropped events.
    #[serde(rename_all = "camelCase")]
    Rescanned { folder: PathBuf },
    /// Something the watch could not do but kept going after (a move that failed).
    #[serde(rename_all = "camelCase")]
    Problem { path: PathBuf, message: String },
}

/// Why a watch stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("{} is not a folder that can be watched: {reason}", .folder.display())]
    NotAFolder { folder: PathBuf, reason: String },
    #[error("cannot watch {}: {source}", .folder.display())]
    Notify {
        folder: PathBuf,
        source: notify::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a watch task stopped unexpectedly: {0}")]
    Task(String),
}

/// What a watch needs from the rest of the engine.
#[derive(Clone)]
pub struct WatchContext {
    pub store: Arc<Store>,
    pub inspector: Arc<Inspector>,
    /// Where reports go.
    pub reports: mpsc::UnboundedSender<WatchReport>,
    /// Told after each enqueue (the runner's [`crate::queue::Runner::wake`]).
    pub on_enqueue: Arc<dyn Fn() + Send + Sync>,
    /// `watch --make-fit`: queue a fitted copy of a file that misses a platform (see
    /// [`fitting`]) instead of the file itself.
    pub make_fit: bool,
}

/// Runs one stored watch until `stop` turns true: a catch-up scan, then events. `events` (the
/// runner's) tells it when posts complete, for "move to Uploaded/".
pub async fn run(
    ctx: WatchContext,
    watch: StoredWatch,
    mut events: broadcast::Receiver<QueueEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), WatchError> {
    let root = watch.settings.folder.clone();
    if !root.is_dir() {
        return Err(WatchError::NotAFolder {
            folder: root,
            reason: "it does not exist or is not a folder".into(),
        });
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let notify_err = |source| WatchError::Notify {
        folder: root.clone(),
        source,
    };
    let mut watcher = notify::recommended_watcher(move |res| {
        let _ = tx.send(res);
    })
    .map_err(notify_err)?;
    // Slideshow folders are immediate subfolders, so their contents must be seen too.
    let deep = watch.settings.recursive || watch.settings.grouping == Grouping::Slideshow;
    let mode = if deep {
        RecursiveMode::Recursive
    } else {
        RecursiveMode::NonRecursive
    };
    watcher.watch(&root, mode).map_err(notify_err)?;
    let move_uploaded = watch.settings.move_uploaded;
    let mut folder = FolderWatch::new(ctx, watch)?;
    // A conversion runs inside a round, where `stop` is not polled: this stops its ffmpeg
    // (and removes the partial copy) as soon as the watch is told to stop.
    let fit_cancel = Arc::clone(&folder.fit_cancel);
    let mut fit_stop = stop.clone();
    let fit_stopper = tokio::spawn(async move {
        while fit_stop.changed().await.is_ok() {
            if *fit_stop.borrow() {
                fit_cancel.store(true, Ordering::SeqCst);
                break;
            }
        }
    });
    folder.catch_up(false);
    folder.move_completed()?;
    loop {
        let due = folder.next_due();
        tokio::select! {
            _ = stop.changed() => break,
            first = rx.recv() => {
                let Some(first) = first else { break };
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                folder.on_events(batch);
            }
            _ = sleep_until(due), if due.is_some() => folder.take_due().await?,
            event = events.recv(), if move_uploaded => match event {
                Ok(QueueEvent::PostState { state: PostState::Completed, .. })
                | Err(broadcast::error::RecvError::Lagged(_)) => folder.move_completed()?,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
        if *stop.borrow() {
            break;
        }
    }
    fit_stopper.abort();
    drop(watcher);
    Ok(())
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
