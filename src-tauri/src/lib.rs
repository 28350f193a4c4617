//! The Layers Uploader desktop app: a thin Tauri shell over the `layers_uploader` engine.
//! Commands (`cmd/`) translate IPC calls into engine calls; `engine` connects (Layers or the
//! embedded sandbox) and runs the queue; `watches` runs watch folders; events flow back to the
//! window as `queue-event`, `watch-report` and `status`.

pub mod autostart;
pub mod cmd;
pub mod engine;
pub mod error;
pub mod fits;
pub mod grants;
pub mod notify;
pub mod reconnect;
pub mod settings;
pub mod state;
pub mod thumbs;
pub mod tray;
pub mod watches;

use std::path::PathBuf;
use std::time::Instant;

use tauri::{DragDropEvent, Emitter, Manager, WindowEvent};

use crate::state::AppState;

/// The data dir: `LAYERS_UPLOADER_DATA_DIR`, else the platform default the CLI shares.
fn data_dir() -> Option<PathBuf> {
    std::env::var_os("LAYERS_UPLOADER_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(layers_uploader::paths::default_data_dir)
}

/// Logs to daily-rotated files in `<data>/logs` (and warnings to stderr); if the log dir
/// cannot be used, to stderr alone.
fn init_logging(data: &std::path::Path) -> Option<layers_uploader::diagnostics::LogGuard> {
    match layers_uploader::diagnostics::init_logging(
        data,
        "app",
        layers_uploader::diagnostics::StderrLog::default(),
    ) {
        Ok(guard) => return Some(guard),
        Err(e) => eprintln!("layers-uploader-app: logging to stderr only: {e}"),
    }
    stderr_logging();
    None
}

/// Logs to stderr, filtered by `LAYERS_LOG` (default: info for our crates, warnings otherwise).
fn stderr_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LAYERS_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,layers_uploader=info,layers_uploader_app=info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Starts the app and blocks until it quits.
pub fn run(started: Instant) {
    let Some(data) = data_dir() else {
        eprintln!("layers-uploader-app: no data dir: set LAYERS_UPLOADER_DATA_DIR or HOME");
        std::process::exit(2);
    };
    let log_guard = init_logging(&data);
    let state = match AppState::open(data, started) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("layers-uploader-app: cannot open the data dir: {e:#}");
            std::process::exit(2);
        }
    };
    *state.log_guard.lock().unwrap_or_else(|p| p.into_inner()) = log_guard;
    // `--hidden` (the autostart entry): no window at start, only the tray.
    let hidden = std::env::args_os()
        .skip(1)
        .any(|a| a == autostart::HIDDEN_FLAG);
    // Files or folders to open with ("Open with", or `layers-uploader-app FILE...`).
    *state.launch_paths.lock().unwrap_or_else(|p| p.into_inner()) = std::env::args_os()
        .skip(1)
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .manage(state)
        .setup(move |app| {
            let state = app.state::<AppState>();
            app.asset_protocol_scope()
                .allow_directory(state.thumbs.dir(), false)?;
            tray::install(app)?;
            // The window is made hidden (tauri.conf.json) and shown here unless `--hidden`,
            // so a start at login never flashes a window.
            if !hidden {
                tray::show_window(app.handle());
            }
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = engine::connect(&handle).await {
                    tracing::error!("cannot connect: {}", e.message);
                }
                if let Err(e) = watches::start_all(&handle) {
                    tracing::error!("cannot start the watch folders: {}", e.message);
                }
            });
            Ok(())
        })
        .on_window_event(|window, event| match event {
            // Closing hides: the queue and the watch folders keep going (tray: Show / Quit).
            WindowEvent::CloseRequested { api, .. } => {
                api.prevent_close();
                let _ = window.hide();
            }
            WindowEvent::DragDrop(DragDropEvent::Drop { paths, .. }) => {
                let state = window.state::<AppState>();
                let granted = state.grants().grant(paths);
                let _ = window.emit("paths-granted", &granted);
            }
            _ => {}
        })
        .invoke_handler(tauri::generate_handler![
            cmd::inspect::pick_files,
            cmd::inspect::pick_folder,
            cmd::inspect::inspect_paths,
            cmd::inspect::thumbnail,
            cmd::fit::fit_check,
            cmd::fit::make_fit,
            cmd::fit::make_fit_cancel,
            cmd::queue::enqueue,
            cmd::queue::enqueue_url,
            cmd::queue::queue_list,
            cmd::queue::queue_action,
            cmd::queue::fix_caption,
            cmd::watch::watch_list,
            cmd::watch::watch_add,
            cmd::watch::watch_set_paused,
            cmd::watch::watch_remove,
            cmd::settings::app_status,
            cmd::settings::ui_ready,
            cmd::settings::settings_get,
            cmd::settings::settings_save,
            cmd::settings::projects_list,
            cmd::settings::api_key_save,
            cmd::settings::api_key_clear,
            cmd::settings::reconnect,
            cmd::settings::diagnostics_export,
            cmd::autostart::autostart_get,
            cmd::autostart::autostart_set,
        ])
        .build(tauri::generate_context!())
        .map(|app| {
            app.run(|handle, event| {
                if let tauri::RunEvent::Exit = event {
                    let state = handle.state::<AppState>();
                    // ffmpeg dies with us (PDEATHSIG); asking first lets each conversion
                    // remove its partial file.
                    state.fits.cancel_all();
                    let ids: Vec<i64> = state
                        .watches
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .keys()
                        .copied()
                        .collect();
                    for id in ids {
                        watches::stop(&state, id);
                    }
                    tauri::async_runtime::block_on(async {
                        if let Some(mut engine) = state.engine.lock().await.take() {
                            engine.stop().await;
                        }
                    });
                    // Last: flushes the log file.
                    drop(
                        state
                            .log_guard
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .take(),
                    );
                }
            })
        });
    if let Err(e) = result {
        eprintln!("layers-uploader-app: {e}");
        std::process::exit(1);
    }
}
