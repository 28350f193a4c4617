//! Adding files: native dialogs (which grant what they return), inspecting granted paths, and
//! their thumbnails.

use std::path::PathBuf;

use layers_uploader::media::{Inspection, MediaKind};
use tauri::State;

use super::{native_dialog, Pick};
use crate::error::{AppError, CmdResult};
use crate::state::AppState;

/// "Add files…": a native multi-file chooser; the chosen files are granted and returned.
#[tauri::command]
pub async fn pick_files(state: State<'_, AppState>) -> CmdResult<Vec<PathBuf>> {
    let picked = native_dialog(Pick::Files, "Add files").await?;
    Ok(state.grants().grant(picked))
}

/// "Add folder…": a native folder chooser; the folder (and so its files) is granted.
#[tauri::command]
pub async fn pick_folder(state: State<'_, AppState>) -> CmdResult<Vec<PathBuf>> {
    let picked = native_dialog(Pick::Folder, "Add folder").await?;
    Ok(state.grants().grant(picked))
}

/// Inspects granted files and folders (a folder: the files directly in it), in order. Any
/// path not granted refuses the whole call with `path_not_granted`.
#[tauri::command]
pub async fn inspect_paths(
    state: State<'_, AppState>,
    paths: Vec<PathBuf>,
) -> CmdResult<Vec<Inspection>> {
    let files = expand_granted(&state, &paths)?;
    let inspector = state.inspector.clone();
    tauri::async_runtime::spawn_blocking(move || inspector.inspect_all(&files))
        .await
        .map_err(|e| AppError::internal(format!("inspection stopped: {e}")))
}

/// The granted files the given paths stand for.
pub fn expand_granted(state: &AppState, paths: &[PathBuf]) -> CmdResult<Vec<PathBuf>> {
    let grants = state.grants();
    let mut files = Vec::new();
    for p in paths {
        files.extend(grants.expand(p)?);
    }
    Ok(files)
}

/// The thumbnail of a granted file that inspection accepts: a path inside `<data>/thumbs`
/// for the asset protocol. The kind comes from the inspection; the page's `kind` is ignored.
#[tauri::command]
pub async fn thumbnail(
    state: State<'_, AppState>,
    path: PathBuf,
    kind: Option<MediaKind>,
) -> CmdResult<PathBuf> {
    let _ = kind;
    let file = state.grants().check_file(&path)?;
    let inspector = state.inspector.clone();
    let probe = file.clone();
    let inspection = tauri::async_runtime::spawn_blocking(move || inspector.inspect(&probe))
        .await
        .map_err(|e| AppError::internal(format!("inspection stopped: {e}")))?;
    state.thumbs.get(&file, &inspection).await
}
