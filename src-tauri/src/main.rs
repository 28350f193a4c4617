//! The Layers Uploader desktop app's entry point.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // First thing: the `READY <ms>` line counts from here.
    let started = std::time::Instant::now();
    layers_uploader_app::run(started);
}
