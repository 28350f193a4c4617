//! A keyring that cannot be read (here: no D-Bus session at all) is shown as such and leaves
//! the queue idle: the app must not start its embedded sandbox and send uploads there.

use std::time::Instant;

use layers_uploader_app::engine;
use layers_uploader_app::error::ErrorCode;
use layers_uploader_app::state::AppState;

#[test]
fn a_keyring_that_cannot_be_read_is_shown_and_starts_no_sandbox() {
    // The only test in this binary: the environment is the process's.
    std::env::remove_var("LAYERS_API_KEY");
    std::env::remove_var("LOOPS_API_KEY");
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/layers-test-no-bus",
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = AppState::open(data.clone(), Instant::now()).unwrap();
    let app = tauri::test::mock_builder()
        .manage(state)
        .build(tauri::test::mock_context(tauri::test::noop_assets()))
        .unwrap();
    let handle = app.handle().clone();
    let err = tauri::async_runtime::block_on(engine::connect(&handle)).unwrap_err();
    assert_eq!(err.code, ErrorCode::Keyring, "{}", err.message);
    let state = tauri::Manager::state::<AppState>(&handle);
    let status = state.status();
    assert_eq!(status.mode, "keyring", "{status:?}");
    assert_eq!(status.runner, "stopped");
    assert_eq!(status.api_base, None, "connected nowhere: {status:?}");
    let message = status.message.unwrap_or_default();
    assert!(
        message.starts_with("The keyring is locked or unavailable: unlock it, then press Retry."),
        "{message}"
    );
    assert!(
        tauri::async_runtime::block_on(engine::client(&state)).is_err(),
        "no engine, so nothing runs the queue"
    );
    assert!(
        !data.join("sandbox").exists(),
        "the embedded sandbox was not started"
    );
    assert!(
        layers_uploader::queue::lock::RunLock::acquire(&data).is_ok(),
        "the app holds no run lock: the queue is idle"
    );
}
