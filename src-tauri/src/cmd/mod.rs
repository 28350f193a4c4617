//! Thin commands over the engine, one file per domain. Each checks its input (granted paths
//! first), calls the engine, and answers with plain data or an `AppError`.

pub mod autostart;
pub mod fit;
pub mod inspect;
pub mod queue;
pub mod settings;
pub mod watch;

use std::path::PathBuf;

use crate::error::{AppError, CmdResult};

/// What a native dialog should ask for.
#[derive(Debug, Clone, Copy)]
pub enum Pick {
    Files,
    Folder,
    SaveZip,
}

/// Runs an rfd (GTK) dialog and waits for the answer on a blocking thread: rfd hands the
/// dialog to the GTK main context (the window's event loop), so neither the event loop nor the
/// IPC thread is blocked while the person chooses.
pub async fn native_dialog(pick: Pick, title: &'static str) -> CmdResult<Vec<PathBuf>> {
    tauri::async_runtime::spawn_blocking(move || {
        let dialog = rfd::FileDialog::new().set_title(title);
        match pick {
            Pick::Files => dialog
                .add_filter(
                    "Videos and images",
                    &[
                        "mp4", "mov", "m4v", "webm", "jpg", "jpeg", "png", "webp", "heic", "gif",
                    ],
                )
                .add_filter("All files", &["*"])
                .pick_files()
                .unwrap_or_default(),
            Pick::Folder => dialog.pick_folder().into_iter().collect(),
            Pick::SaveZip => dialog
                .set_file_name(layers_uploader::diagnostics::default_bundle_name())
                .add_filter("Zip archive", &["zip"])
                .save_file()
                .into_iter()
                .collect(),
        }
    })
    .await
    .map_err(|_| AppError::internal("the file dialog closed unexpectedly"))
}
