//! The app with a key whose Layers does not answer yet: it stays usable (posts queue), says
//! "Layers unreachable, N posts waiting, next try in …", tries again by itself and uploads once
//! the API answers. Then a settings change restarts the run without letting go of the run lock.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use layers_sandbox::{Sandbox, SandboxConfig};
use layers_uploader::api::types::Grouping;
use layers_uploader::queue::lock::RunLock;
use layers_uploader::queue::PostState;
use layers_uploader_app::cmd::queue::{enqueue_batch, list_rows, EnqueueRequest};
use layers_uploader_app::engine;
use layers_uploader_app::settings::AppSettings;
use layers_uploader_app::state::AppState;
use tauri::Manager;

fn image(path: &Path) {
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=1080x1350",
            "-frames:v",
            "1",
        ])
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg made {}", path.display());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_unreachable_layers_is_tried_again_until_it_answers_and_the_queue_then_uploads() {
    // The only test in this binary: the environment is the process's.
    let port = free_port();
    std::env::set_var(
        "LAYERS_API_KEY",
        "lp_live_apptest_0123456789abcdef0123456789abcdef",
    );
    std::env::set_var("LAYERS_API_BASE", format!("http://127.0.0.1:{port}"));
    std::env::remove_var("LOOPS_API_KEY");
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/layers-test-no-bus",
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let project = SandboxConfig::default().project_ids()[0].clone();
    let state = AppState::open(data.clone(), Instant::now()).unwrap();
    AppSettings {
        project_id: Some(project.clone()),
        ..AppSettings::default()
    }
    .save(&state.store)
    .unwrap();
    let app = tauri::test::mock_builder()
        .manage(state)
        .build(tauri::test::mock_context(tauri::test::noop_assets()))
        .unwrap();
    let handle = app.handle().clone();
    let state = handle.state::<AppState>();

    // Nothing listens on the port: the app says so, keeps the last project, and waits.
    let status = tauri::async_runtime::block_on(engine::connect(&handle)).unwrap();
    assert_eq!(status.mode, "unreachable", "{status:?}");
    assert_eq!(status.project_id.as_deref(), Some(project.as_str()));
    assert!(status.retry_at_ms.is_some());
    let message = status.message.clone().unwrap_or_default();
    assert!(
        message.starts_with("Layers unreachable, 0 posts waiting, next try in "),
        "{message}"
    );

    // Posts can be queued meanwhile; nothing runs them yet.
    let photo = dir.path().join("photo.png");
    image(&photo);
    state.grants().grant([&photo]);
    let reply = enqueue_batch(
        &state,
        &EnqueueRequest {
            paths: vec![photo.clone()],
            grouping: Grouping::PerFile,
            caption: "Queued while offline".into(),
            destination: None,
        },
    )
    .unwrap();
    let post = reply.post_ids[0];
    wait_for("a later try to count the waiting post", 60, || {
        let s = state.status();
        s.mode == "unreachable"
            && s.waiting_posts == Some(1)
            && s.message
                .as_deref()
                .is_some_and(|m| m.starts_with("Layers unreachable, 1 post waiting, next try in "))
    });
    assert_eq!(state.store.post(post).unwrap().state, PostState::Queued);

    // Layers answers: the app connects by itself and the queued post uploads.
    let (_base, _sandbox) = Sandbox::start(
        SandboxConfig::default()
            .port(port)
            .data_dir(dir.path().join("api")),
    )
    .unwrap();
    wait_for("the app to connect once Layers answers", 120, || {
        let s = state.status();
        s.mode == "live" && s.runner == "running"
    });
    wait_for("the queued post to upload", 120, || {
        list_rows(&state.store).unwrap()[0].state == PostState::Completed
    });

    // A settings change restarts the run; a CLI trying all the while never gets the lock.
    let stop = Arc::new(AtomicBool::new(false));
    let taken = Arc::new(AtomicBool::new(false));
    let rival = {
        let (stop, taken, data) = (stop.clone(), taken.clone(), data.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if RunLock::acquire(&data).is_ok() {
                    taken.store(true, Ordering::Relaxed);
                    return;
                }
            }
        })
    };
    for _ in 0..30 {
        tauri::async_runtime::block_on(engine::restart_run(&handle)).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    rival.join().unwrap();
    assert!(
        !taken.load(Ordering::Relaxed),
        "another process took the run lock while the app restarted its run"
    );
    assert_eq!(state.status().runner, "running");
}
