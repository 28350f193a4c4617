//! The engine API the app calls for the other destinations, in process against the sandbox:
//! submit → `Runner::with_clients` → events → the stored result. Also the Loops refusals a
//! client without local rules would meet (400 with `supportedContentTypes`, 413 with
//! `maxBytes`), surfaced as Loops errors.

use std::sync::Arc;

use layers_sandbox::{Sandbox, SandboxConfig};
use layers_uploader::api::types::{Grouping, MediaLibraryKind};
use layers_uploader::api::{LayersClient, LoopsClient};
use layers_uploader::queue::dest::submit::submit_media;
use layers_uploader::queue::dest::{LOOPS, LOOPS_SCOPE};
use layers_uploader::queue::plan::mtime_ns;
use layers_uploader::queue::store::{NewBatch, NewFile, NewPost, Store};
use layers_uploader::queue::{Clients, PostState, QueueEvent, RunEnd, Runner, RunnerConfig, Scope};
use layers_uploader::secrets::ApiKey;
use layers_uploader::transfer::Transfer;

const LOOPS_KEY: &str = "loops_engine_TopSecretLoopsKey";

fn file(path: &std::path::Path, content_type: &str) -> NewFile {
    let meta = std::fs::metadata(path).unwrap();
    NewFile {
        path: path.to_path_buf(),
        filename: path.file_name().unwrap().to_string_lossy().into_owned(),
        content_type: content_type.into(),
        size_bytes: meta.len(),
        mtime_ns: mtime_ns(&meta),
        sha256: layers_uploader::media::inspect::sha256_path(path).unwrap(),
    }
}

fn config() -> RunnerConfig {
    RunnerConfig {
        writes_per_minute: 0,
        ..RunnerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_400_and_413_are_loops_errors_with_what_loops_accepts() {
    let (base, _handle) =
        Sandbox::start(SandboxConfig::default().loops_key(LOOPS_KEY)).expect("sandbox");
    let dir = tempfile::tempdir().unwrap();
    let bmp = dir.path().join("logo.bmp");
    std::fs::write(&bmp, b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0 a bitmap").unwrap();
    let big = dir.path().join("big.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(4_000_001, 7);
    std::fs::write(&big, bytes).unwrap();
    let store = Arc::new(Store::open_in(&dir.path().join("data")).unwrap());
    let post = |f: NewFile| NewPost {
        caption: String::new(),
        files: vec![f],
        rejected: None,
    };
    let (_, ids) = store
        .enqueue(&NewBatch {
            project_id: LOOPS_SCOPE.into(),
            destination: LOOPS.into(),
            grouping: Grouping::PerFile,
            force: false,
            posts: vec![post(file(&bmp, "image/bmp")), post(file(&big, "image/png"))],
        })
        .unwrap();
    let loops = LoopsClient::new(&base, ApiKey::new(LOOPS_KEY).unwrap()).unwrap();
    let clients = Clients {
        layers: None,
        loops: Some(loops),
    };
    let runner = Runner::with_clients(store.clone(), clients, Transfer::new().unwrap(), config());
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    assert_eq!(runner.run(&Scope::All, stop).await.unwrap(), RunEnd::Idle);

    let unsupported = store.post(ids[0]).unwrap();
    assert_eq!(unsupported.state, PostState::Failed);
    let e = unsupported.error.unwrap();
    assert_eq!(e.code, "loops_unsupported_type");
    assert!(
        e.message
            .contains("Loops takes image/jpeg, image/png, image/gif, image/webp"),
        "{}",
        e.message
    );
    let too_big = store.post(ids[1]).unwrap();
    assert_eq!(too_big.state, PostState::Failed);
    let e = too_big.error.unwrap();
    assert_eq!(e.code, "loops_too_large");
    assert!(e.message.contains("4,000,000 bytes"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_path_submit_run_and_read_the_events() {
    const KEY: &str = "lp_live_engine1_TopSecretEngineKey";
    let (base, handle) = Sandbox::start(SandboxConfig::default()).expect("sandbox");
    let project = handle.projects()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("brand.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(b"a brand reference image");
    std::fs::write(&png, bytes).unwrap();
    let store = Arc::new(Store::open_in(&dir.path().join("data")).unwrap());
    let submission = submit_media(
        &store,
        &project,
        MediaLibraryKind::ReferenceImage,
        std::slice::from_ref(&png),
        false,
    )
    .unwrap();
    let client = LayersClient::new(&base, ApiKey::layers(KEY).unwrap()).unwrap();
    let runner = Runner::with_clients(
        store.clone(),
        Clients {
            layers: Some(client),
            loops: None,
        },
        Transfer::new().unwrap(),
        config(),
    );
    let mut events = runner.subscribe();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let scope = Scope::Batch(submission.batch_id.clone());
    assert_eq!(runner.run(&scope, stop).await.unwrap(), RunEnd::Idle);
    let mut states = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let QueueEvent::PostState { state, .. } = e {
            states.push(state);
        }
    }
    assert_eq!(states.first(), Some(&PostState::Reserving));
    assert_eq!(states.last(), Some(&PostState::Completed));
    let post = store.post(submission.post_ids[0]).unwrap();
    let asset: serde_json::Value = serde_json::from_str(&post.content_json.unwrap()).unwrap();
    assert_eq!(post.container_id.as_deref(), asset["assetId"].as_str());
    assert_eq!(post.destination, "layers-media:reference_image");
}
