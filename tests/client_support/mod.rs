//! Shared fixtures for the client × sandbox tests: a sandbox per test, keys, real media made with
//! ffmpeg (once per target dir), and helpers that PUT a whole session.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use layers_uploader::api::types::{
    ContentItem, CreateUploadSessionRequest, DeclaredFile, Grouping, SessionUpload, UploadSession,
};
use layers_uploader::api::{IdempotencyKey, LayersClient, ServerJson};
use layers_uploader::secrets::ApiKey;
use layers_uploader::transfer::{PutReceipt, PutTarget, Transfer};
use serde_json::Value;

/// A live key: the sandbox runs every check for `lp_live_` keys.
pub const LIVE_KEY: &str = "lp_live_cl1ent_S3cretValueThatMustNeverLeak";
/// The secret part alone, which must not appear anywhere either.
pub const LIVE_SECRET: &str = "S3cretValueThatMustNeverLeak";
/// A test key: inert upload URLs and fixture media.
pub const TEST_KEY: &str = "lp_test_t3st_AnotherS3cretNeverLeaked";

/// One running sandbox and a client for it.
pub struct World {
    pub base: String,
    pub project: String,
    pub client: LayersClient,
    pub transfer: Transfer,
    pub handle: SandboxHandle,
}

/// Starts a sandbox with `config` and a live-key client.
pub fn start(config: SandboxConfig) -> World {
    let (base, handle) = Sandbox::start(config).expect("sandbox starts");
    let project = handle.projects()[0].clone();
    World {
        client: client(&base, LIVE_KEY),
        transfer: Transfer::new().expect("transfer client"),
        project,
        base,
        handle,
    }
}

/// A Layers client for `base` with `key`.
pub fn client(base: &str, key: &str) -> LayersClient {
    LayersClient::new(base, ApiKey::new(key).expect("key")).expect("client")
}

/// The media directory, generated on first use and cached per target dir.
pub fn media() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = root.join("client-media-v1");
        if dir.join(".complete").exists() {
            return dir;
        }
        let tmp = root.join(format!("client-media-v1.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).expect("create media dir");
        for (name, args) in MEDIA {
            ffmpeg(args, &tmp.join(name));
        }
        std::fs::write(tmp.join(".complete"), b"").expect("mark complete");
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
}

/// Small but valid files, all fit for both platforms unless named otherwise.
const MEDIA: &[(&str, &[&str])] = &[
    (
        "red.jpg",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=1080x1350",
            "-frames:v",
            "1",
        ],
    ),
    (
        "green.jpg",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=green:s=1080x1350",
            "-frames:v",
            "1",
        ],
    ),
    (
        "blue.png",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=1080x1080",
            "-frames:v",
            "1",
        ],
    ),
    (
        "grid.webp",
        &["-f", "lavfi", "-i", "testsrc=s=1080x1920", "-frames:v", "1"],
    ),
    (
        "square_800.jpg",
        &["-f", "lavfi", "-i", "testsrc=s=800x800", "-frames:v", "1"],
    ),
    (
        "clip.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=360x640:r=30",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:r=44100",
            "-t",
            "3.5",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
    ),
];

fn ffmpeg(args: &[&str], out: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg must be installed (make deps)");
    assert!(status.success(), "ffmpeg failed making {}", out.display());
}

/// A generated media file.
pub fn file(name: &str) -> PathBuf {
    media().join(name)
}

/// The declared type of a generated file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("mp4") => "video/mp4",
        Some("mov") => "video/quicktime",
        other => panic!("no type for {other:?}"),
    }
}

/// The create-session declaration of `paths`, with their real sizes.
pub fn declare(paths: &[PathBuf], grouping: Grouping) -> CreateUploadSessionRequest {
    CreateUploadSessionRequest {
        files: paths
            .iter()
            .map(|p| DeclaredFile {
                filename: p.file_name().unwrap().to_string_lossy().into_owned(),
                content_type: content_type(p).to_owned(),
                size_bytes: std::fs::metadata(p).expect("stat").len(),
            })
            .collect(),
        grouping,
    }
}

/// PUTs each of `paths` to the matching file of `upload`, in order.
pub async fn put_upload(
    transfer: &Transfer,
    upload: &SessionUpload,
    paths: &[PathBuf],
) -> Vec<PutReceipt> {
    assert_eq!(upload.files.len(), paths.len(), "one URL per file");
    let mut receipts = Vec::new();
    for (put, path) in upload.files.iter().zip(paths) {
        let target = PutTarget {
            url: &put.upload_url,
            content_type: &put.content_type,
            declared_size: Some(std::fs::metadata(path).unwrap().len()),
            headers: None,
            reach: layers_uploader::transfer::Reach::Local,
        };
        receipts.push(transfer.put_file(path, &target, None).await.expect("PUT"));
    }
    receipts
}

impl World {
    /// Creates a session for `paths` with a fresh key.
    pub async fn session(&self, paths: &[PathBuf], grouping: Grouping) -> UploadSession {
        self.client
            .create_upload_session(
                &self.project,
                &declare(paths, grouping),
                &IdempotencyKey::new_v4(),
            )
            .await
            .expect("create session")
    }

    /// Create → PUT → finalize for `paths` as one post (per-file of one, or a slideshow).
    pub async fn upload_post(
        &self,
        paths: &[PathBuf],
        grouping: Grouping,
        caption: &str,
    ) -> ServerJson<ContentItem> {
        let session = self.session(paths, grouping).await;
        assert_eq!(session.uploads.len(), 1, "one post");
        put_upload(&self.transfer, &session.uploads[0], paths).await;
        self.client
            .finalize_upload(
                &session.uploads[0].container_id,
                caption,
                &IdempotencyKey::new_v4(),
            )
            .await
            .expect("finalize")
    }

    /// `GET /_sandbox/state`.
    pub async fn state(&self) -> Value {
        reqwest::get(format!("{}/_sandbox/state", self.base))
            .await
            .expect("state reachable")
            .json()
            .await
            .expect("state is JSON")
    }

    /// Quota usage of the default project, from the state surface.
    pub async fn usage(&self) -> Value {
        self.state().await["quota"][&self.project].clone()
    }
}

/// Fails if the key (or its secret part) appears anywhere in `text`.
pub fn assert_no_key(text: &str, what: &str) {
    for secret in [LIVE_KEY, LIVE_SECRET, TEST_KEY, "AnotherS3cretNeverLeaked"] {
        assert!(
            !text.contains(secret),
            "{what} contains the API key: {text}"
        );
    }
}

pub mod origin;
