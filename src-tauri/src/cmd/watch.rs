//! Watch folders: add (native folder picker), pause/resume, remove, and list with what each
//! took and skipped.

use layers_uploader::api::types::Grouping;
use layers_uploader::queue::store::NewWatch;
use tauri::{AppHandle, Runtime, State};

use super::{native_dialog, Pick};
use crate::error::{AppError, CmdResult};
use crate::settings::{self, AppSettings};
use crate::state::AppState;
use crate::watches::{self, WatchView};

/// Every watch with its tally.
#[tauri::command]
pub async fn watch_list(state: State<'_, AppState>) -> CmdResult<Vec<WatchView>> {
    watches::list(&state)
}

/// Asks for a folder and starts watching it (per-file unless `grouping` says slideshow).
/// `Ok(None)` when the dialog was cancelled.
#[tauri::command]
pub async fn watch_add<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    grouping: Option<Grouping>,
) -> CmdResult<Option<WatchView>> {
    let picked = native_dialog(Pick::Folder, "Watch a folder").await?;
    let Some(folder) = picked.into_iter().next() else {
        return Ok(None);
    };
    add_folder(&app, &state, folder, grouping.unwrap_or(Grouping::PerFile)).map(Some)
}

/// Saves and starts a watch of a folder the native dialog returned; the folder is granted
/// while the watch exists (not as a dropped folder, so removing the watch takes it back).
pub fn add_folder<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    folder: std::path::PathBuf,
    grouping: Grouping,
) -> CmdResult<WatchView> {
    let folder = std::fs::canonicalize(&folder)
        .map_err(|e| AppError::invalid(format!("cannot open {}: {e}", folder.display())))?;
    if !folder.is_dir() {
        return Err(AppError::invalid(format!(
            "{} is not a folder",
            folder.display()
        )));
    }
    let s = AppSettings::load(&state.store)?;
    let saved = state.store.save_watch(&NewWatch {
        folder,
        project_id: state.project()?,
        recursive: false,
        grouping,
        caption: String::new(),
        settle_ms: s.settle_ms(),
        move_uploaded: false,
    })?;
    settings::set_watch_paused(&state.store, saved.id, false)?;
    let id = saved.id;
    watches::start(app, saved);
    find(state, id)
}

fn find(state: &AppState, id: i64) -> CmdResult<WatchView> {
    watches::list(state)?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| AppError::invalid(format!("no watch with id {id}")))
}

/// Pauses (stops following the folder) or resumes a watch; remembered across restarts.
#[tauri::command]
pub async fn watch_set_paused<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: i64,
    paused: bool,
) -> CmdResult<WatchView> {
    let stored = state
        .store
        .watches()?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| AppError::invalid(format!("no watch with id {id}")))?;
    settings::set_watch_paused(&state.store, id, paused)?;
    if paused {
        watches::stop(&state, id);
    } else {
        watches::start(&app, stored);
    }
    find(&state, id)
}

/// Stops and forgets a watch and takes back its folder's grant; the posts it queued stay in
/// the queue.
#[tauri::command]
pub async fn watch_remove(state: State<'_, AppState>, id: i64) -> CmdResult<()> {
    if !watches::forget(&state, id)? {
        return Err(AppError::invalid(format!("no watch with id {id}")));
    }
    Ok(())
}
