//! "Start at login, in the tray" (see [`crate::autostart`]).

use crate::autostart;
use crate::error::{AppError, CmdResult, ErrorCode};

/// Whether the app starts at login.
#[tauri::command]
pub async fn autostart_get() -> CmdResult<bool> {
    Ok(autostart::autostart_dir().is_some_and(|d| autostart::is_enabled(&d)))
}

/// Turns starting at login on or off; answers the state as it now is.
#[tauri::command]
pub async fn autostart_set(enabled: bool) -> CmdResult<bool> {
    let dir = autostart::autostart_dir().ok_or_else(|| {
        AppError::new(
            ErrorCode::InvalidInput,
            "no home folder is set (HOME), so there is no autostart folder",
        )
    })?;
    let exe = std::env::current_exe()
        .map_err(|e| AppError::internal(format!("cannot tell where the app is installed: {e}")))?;
    autostart::set_enabled(&dir, &exe, enabled).map_err(|e| {
        AppError::internal(format!(
            "cannot change {}: {e}",
            dir.join(autostart::ENTRY_NAME).display()
        ))
    })?;
    tracing::info!(enabled, "start at login changed");
    Ok(autostart::is_enabled(&dir))
}
