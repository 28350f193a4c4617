//! Settings and connection: status, the API key (keyring; checked with whoami; only its id
//! ever comes back), the project list, run settings, and the first-paint signal.

use std::io::Write;
use std::path::PathBuf;

use layers_uploader::api::types::Project;
use layers_uploader::api::LayersClient;
use layers_uploader::secrets::{Account, ApiKey, KeyStore};
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::engine;
use crate::error::{AppError, CmdResult, ErrorCode};
use crate::settings::AppSettings;
use crate::state::{AppState, Status};
use crate::watches;

/// The connection as the UI shows it.
#[tauri::command]
pub async fn app_status(state: State<'_, AppState>) -> CmdResult<Status> {
    Ok(state.status())
}

/// The first paint happened: print `READY <ms since start>` once when asked to, and add the
/// files the app was opened with.
#[tauri::command]
pub async fn ui_ready<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> CmdResult<u128> {
    let ms = state.started.elapsed().as_millis();
    let mut reported = state
        .ready_reported
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if state.report_ready && !*reported {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "READY {ms}");
        let _ = out.flush();
    }
    *reported = true;
    drop(reported);
    tracing::info!("first paint after {ms} ms");
    let launch = std::mem::take(&mut *state.launch_paths.lock().unwrap_or_else(|p| p.into_inner()));
    if !launch.is_empty() {
        let granted = state.grants().grant(launch);
        let _ = app.emit("paths-granted", &granted);
    }
    Ok(ms)
}

/// The stored settings.
#[tauri::command]
pub async fn settings_get(state: State<'_, AppState>) -> CmdResult<AppSettings> {
    AppSettings::load(&state.store)
}

/// Saves settings; a new concurrency or bandwidth limit restarts the queue run, a new
/// settle time applies to every watch, a new project to the next batches and watches.
#[tauri::command]
pub async fn settings_save<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    settings: AppSettings,
) -> CmdResult<AppSettings> {
    let old = AppSettings::load(&state.store)?;
    if let Some(p) = settings
        .project_id
        .as_ref()
        .filter(|p| old.project_id.as_ref() != Some(*p))
    {
        let known = match state.engine.lock().await.as_ref() {
            Some(e) => e.projects.iter().any(|x| &x.id == p),
            None => {
                return Err(AppError::new(
                    ErrorCode::NotReady,
                    "Layers is not connected: the project can be changed once it answers",
                ))
            }
        };
        if !known {
            return Err(AppError::invalid(format!(
                "the key does not see a project {p:?}: pick one from the list"
            )));
        }
    }
    settings.save(&state.store)?;
    if settings.project_id.is_some() {
        state.set_status(|s| s.project_id = settings.project_id.clone());
    }
    if (old.concurrency, old.bandwidth_limit_bps)
        != (settings.concurrency, settings.bandwidth_limit_bps)
    {
        engine::restart_run(&app).await?;
    }
    if old.settle_ms() != settings.settle_ms() {
        for mut w in state.store.watches()? {
            w.settings.settle_ms = settings.settle_ms();
            let saved = state.store.save_watch(&w.settings)?;
            if watches::list(&state)?
                .iter()
                .any(|v| v.id == saved.id && v.running)
            {
                watches::start(&app, saved);
            }
        }
    }
    Ok(settings)
}

/// The projects the connected key sees.
#[tauri::command]
pub async fn projects_list(state: State<'_, AppState>) -> CmdResult<Vec<Project>> {
    state
        .engine
        .lock()
        .await
        .as_ref()
        .map(|e| e.projects.clone())
        .ok_or_else(|| AppError::new(ErrorCode::NotReady, "not connected yet"))
}

/// Checks a Layers key with `GET /v1/whoami` against Layers, stores it in the OS keyring, and
/// reconnects with it (leaving the sandbox).
#[tauri::command]
pub async fn api_key_save<R: Runtime>(app: AppHandle<R>, key: String) -> CmdResult<Status> {
    let key = ApiKey::layers(&key)?;
    let base = std::env::var("LAYERS_API_BASE")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| layers_uploader::api::DEFAULT_API_BASE.to_string());
    let client = LayersClient::new(&base, key.clone())?;
    client.whoami().await?;
    KeyStore::new().store(Account::Layers, &key)?;
    engine::connect(&app).await
}

/// Retry: connects again now (after unlocking the keyring, or without waiting for the next
/// background try while Layers is unreachable).
#[tauri::command]
pub async fn reconnect<R: Runtime>(app: AppHandle<R>) -> CmdResult<Status> {
    engine::connect(&app).await
}

/// Removes the stored key and reconnects (to the sandbox unless `LAYERS_API_KEY` is set).
#[tauri::command]
pub async fn api_key_clear<R: Runtime>(app: AppHandle<R>) -> CmdResult<Status> {
    KeyStore::new().delete(Account::Layers)?;
    engine::connect(&app).await
}

/// "Export diagnostics…": asks where to save, then writes a zip of the logs (keys scrubbed)
/// and a queue summary. `Ok(None)` when the dialog was cancelled.
#[tauri::command]
pub async fn diagnostics_export(state: State<'_, AppState>) -> CmdResult<Option<PathBuf>> {
    let Some(out) = super::native_dialog(super::Pick::SaveZip, "Export diagnostics")
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let data = state.data_dir.clone();
    let report = tauri::async_runtime::spawn_blocking(move || {
        layers_uploader::diagnostics::export(&data, &out)
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))?
    .map_err(|e| AppError::internal(e.to_string()))?;
    tracing::info!(
        "diagnostics exported to {} ({} log files, {} bytes)",
        report.path.display(),
        report.log_files,
        report.bytes
    );
    Ok(Some(report.path))
}
