//! Declares the app's commands so each needs an explicit permission in
//! `capabilities/main.json`: a command not listed there cannot be called by the window.

const COMMANDS: &[&str] = &[
    "pick_files",
    "pick_folder",
    "inspect_paths",
    "thumbnail",
    "fit_check",
    "make_fit",
    "make_fit_cancel",
    "enqueue",
    "enqueue_url",
    "queue_list",
    "queue_action",
    "fix_caption",
    "watch_list",
    "watch_add",
    "watch_set_paused",
    "watch_remove",
    "app_status",
    "ui_ready",
    "settings_get",
    "settings_save",
    "projects_list",
    "api_key_save",
    "api_key_clear",
    "reconnect",
    "diagnostics_export",
    "autostart_get",
    "autostart_set",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo:warning=tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
