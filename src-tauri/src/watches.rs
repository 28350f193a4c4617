//! Running watch folders inside the app: each stored, unpaused watch runs the engine's
//! `watch::run` as a task; its reports go to the window as `watch-report` events. Watches keep
//! running while the window is hidden (the tray keeps the app alive).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use layers_uploader::queue::store::{StoredWatch, WatchTally};
use layers_uploader::watch::{self, WatchContext, WatchReport};
use serde::Serialize;
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::{mpsc, watch as stop_watch};

use crate::error::CmdResult;
use crate::settings;
use crate::state::AppState;

/// A watch task and its stop switch.
pub struct RunningWatch {
    stop: stop_watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Tells this run from a later one of the same watch.
    generation: u64,
}

static GENERATION: AtomicU64 = AtomicU64::new(0);

impl RunningWatch {
    /// Asks the watch to stop (its decisions are saved as it goes).
    pub fn stop(self) {
        let _ = self.stop.send(true);
        drop(self.task);
    }
}

/// A watch as the panel shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchView {
    pub id: i64,
    pub folder: PathBuf,
    pub project_id: String,
    pub grouping: String,
    pub settle_ms: u64,
    pub paused: bool,
    pub running: bool,
    pub tally: WatchTally,
}

/// A report with the watch it came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct WatchReportEvent {
    watch_id: i64,
    report: WatchReport,
}

/// Every stored watch with its tally.
pub fn list(state: &AppState) -> CmdResult<Vec<WatchView>> {
    let running = state.watches.lock().unwrap_or_else(|p| p.into_inner());
    state
        .store
        .watches()?
        .into_iter()
        .map(|w| {
            Ok(WatchView {
                id: w.id,
                folder: w.settings.folder.clone(),
                project_id: w.settings.project_id.clone(),
                grouping: w.settings.grouping.as_str().into(),
                settle_ms: w.settings.settle_ms,
                paused: settings::watch_paused(&state.store, w.id)?,
                running: running.contains_key(&w.id),
                tally: state.store.watch_tally(w.id)?,
            })
        })
        .collect()
}

/// Starts every stored watch that is not paused (at launch).
pub fn start_all<R: Runtime>(app: &AppHandle<R>) -> CmdResult<()> {
    let state = app.state::<AppState>();
    for w in state.store.watches()? {
        if !settings::watch_paused(&state.store, w.id)? {
            start(app, w);
        }
    }
    Ok(())
}

/// Starts one watch (replacing a running one with the same id).
pub fn start<R: Runtime>(app: &AppHandle<R>, w: StoredWatch) {
    let state = app.state::<AppState>();
    state.grants().grant_watch(w.id, &w.settings.folder);
    let (reports_tx, mut reports_rx) = mpsc::unbounded_channel();
    let waker = app.clone();
    let ctx = WatchContext {
        store: state.store.clone(),
        inspector: state.inspector.clone(),
        reports: reports_tx,
        on_enqueue: Arc::new(move || {
            let app = waker.clone();
            tauri::async_runtime::spawn(async move {
                crate::engine::wake(&app.state::<AppState>()).await;
                let _ = app.emit("queue-resync", ());
            });
        }),
        // The app fits a file on its card, by the user's choice, not behind their back.
        make_fit: false,
    };
    let (stop, stop_rx) = stop_watch::channel(false);
    let id = w.id;
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    let events = state.events.subscribe();
    let emitter = app.clone();
    let task = tauri::async_runtime::spawn(async move {
        let forward = async {
            while let Some(report) = reports_rx.recv().await {
                let _ = emitter.emit(
                    "watch-report",
                    WatchReportEvent {
                        watch_id: id,
                        report,
                    },
                );
            }
        };
        let run = watch::run(ctx, w, events, stop_rx);
        tokio::pin!(run);
        let result = tokio::select! {
            r = &mut run => r,
            _ = forward => (&mut run).await,
        };
        if let Err(e) = result {
            tracing::error!("watch {id} stopped: {e}");
            let _ = emitter.emit(
                "watch-report",
                WatchReportEvent {
                    watch_id: id,
                    report: WatchReport::Problem {
                        path: PathBuf::new(),
                        message: format!("the watch stopped: {e}"),
                    },
                },
            );
        }
        if let Some(state) = emitter.try_state::<AppState>() {
            let mut running = state.watches.lock().unwrap_or_else(|p| p.into_inner());
            if running.get(&id).is_some_and(|r| r.generation == generation) {
                running.remove(&id);
            }
        }
    });
    let old = state
        .watches
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            id,
            RunningWatch {
                stop,
                task,
                generation,
            },
        );
    if let Some(old) = old {
        old.stop();
    }
}

/// Stops and forgets a watch and takes back its folder's grant; the posts it queued stay.
/// `Ok(false)` when there was no such watch.
pub fn forget(state: &AppState, id: i64) -> CmdResult<bool> {
    stop(state, id);
    state.grants().revoke_watch(id);
    if !state.store.delete_watch(id)? {
        return Ok(false);
    }
    state
        .store
        .set_setting(&settings::watch_paused_key(id), "0")?;
    Ok(true)
}

/// Stops one watch if it runs.
pub fn stop(state: &AppState, id: i64) {
    let w = state
        .watches
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    if let Some(w) = w {
        w.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use layers_uploader::api::types::Grouping;
    use layers_uploader::queue::store::NewWatch;

    #[test]
    fn removing_a_watch_takes_back_its_folders_grant() {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::open(dir.path().join("data"), std::time::Instant::now()).unwrap();
        let folder = dir.path().join("watched");
        std::fs::create_dir_all(&folder).unwrap();
        let clip = folder.join("clip.mp4");
        std::fs::write(&clip, b"x").unwrap();
        let saved = state
            .store
            .save_watch(&NewWatch {
                folder: folder.clone(),
                project_id: "proj-1".into(),
                recursive: false,
                grouping: Grouping::PerFile,
                caption: String::new(),
                settle_ms: 1000,
                move_uploaded: false,
            })
            .unwrap();
        // What `start` does for a running watch.
        state.grants().grant_watch(saved.id, &folder);
        assert!(state.grants().check(&clip).is_ok());
        assert!(forget(&state, saved.id).unwrap());
        assert!(
            state.grants().check(&clip).is_err(),
            "the grant went with the watch"
        );
        assert!(state.store.watches().unwrap().is_empty());
        assert!(!forget(&state, saved.id).unwrap(), "already gone");
    }
}
