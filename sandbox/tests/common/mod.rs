//! Shared helpers for the sandbox's HTTP tests: start a server, speak JSON to it, and make
//! real media with ffmpeg (once per build, cached in Cargo's per-target temp dir).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A live key (full behaviour).
pub const LIVE: &str = "lp_live_k1live_s3cretLIVEvalue";
/// A second live key (idempotency is per key).
pub const LIVE2: &str = "lp_live_k2live_an0therSECRET";
/// A test key (documented sandbox behaviour).
pub const TEST: &str = "lp_test_k3test_t3stSECRETvalue";

/// A running sandbox plus a client.
pub struct Sb {
    pub base: String,
    pub project: String,
    pub http: reqwest::Client,
    pub handle: SandboxHandle,
}

/// Starts a sandbox with this config.
pub fn start(config: SandboxConfig) -> Sb {
    let (base, handle) = Sandbox::start(config).expect("sandbox starts");
    Sb {
        project: handle.projects()[0].clone(),
        base,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        handle,
    }
}

/// Reads a response as (status, JSON or Null).
pub async fn read(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl Sb {
    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET with a key.
    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        read(
            self.http
                .get(self.url(path))
                .bearer_auth(key)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// POST JSON with a key and optional Idempotency-Key.
    pub async fn post_raw(
        &self,
        path: &str,
        key: &str,
        body: &Value,
        idem: Option<&str>,
    ) -> reqwest::Response {
        let mut rb = self.http.post(self.url(path)).bearer_auth(key).json(body);
        if let Some(k) = idem {
            rb = rb.header("Idempotency-Key", k);
        }
        rb.send().await.unwrap()
    }

    /// POST JSON with a key.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> (StatusCode, Value) {
        read(self.post_raw(path, key, body, None).await).await
    }

    /// Creates a session in the default project.
    pub async fn create(&self, key: &str, files: Value, grouping: &str) -> (StatusCode, Value) {
        let path = format!("/v1/projects/{}/content/uploads", self.project);
        self.post(&path, key, &json!({ "files": files, "grouping": grouping }))
            .await
    }

    /// Creates a one-file per-file session for `file` and returns (containerId, uploadUrl).
    pub async fn session_for(&self, file: &Path, content_type: &str) -> (String, String) {
        let (s, v) = self
            .create(LIVE, json!([decl(file, content_type)]), "per-file")
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let up = &v["uploads"][0];
        (
            up["containerId"].as_str().unwrap().to_string(),
            up["files"][0]["uploadUrl"].as_str().unwrap().to_string(),
        )
    }

    /// PUTs a file's bytes with a content type, like a storage client would.
    pub async fn put(&self, url: &str, content_type: &str, file: &Path) -> reqwest::Response {
        let bytes = std::fs::read(file).unwrap();
        self.http
            .put(url)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    /// Finalizes a container.
    pub async fn finalize(&self, key: &str, id: &str, caption: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/v1/content/{id}/finalize-upload"),
            key,
            &json!({ "caption": caption }),
        )
        .await
    }

    /// `GET /_sandbox/state`.
    pub async fn state(&self) -> Value {
        read(
            self.http
                .get(self.url("/_sandbox/state"))
                .send()
                .await
                .unwrap(),
        )
        .await
        .1
    }

    /// Quota figures of the default project.
    pub async fn quota(&self) -> Value {
        self.state().await["quota"][&self.project].clone()
    }
}

/// A create-session file entry for a real file.
pub fn decl(file: &Path, content_type: &str) -> Value {
    json!({
        "filename": file.file_name().unwrap().to_string_lossy(),
        "contentType": content_type,
        "sizeBytes": std::fs::metadata(file).unwrap().len(),
    })
}

/// Real media made by ffmpeg.
pub struct Media {
    /// 800x800 JPEG (too small for the platforms).
    pub jpg800: PathBuf,
    /// 1080x1350 PNG (fits).
    pub png1080: PathBuf,
    /// 720x1280, 4 s, 30 fps, H.264 + AAC MP4 (fits).
    pub mp4: PathBuf,
    /// Bytes that are no media at all, named .jpg.
    pub junk: PathBuf,
}

fn ffmpeg(args: &[&str], out: &Path) {
    if out.exists() {
        return;
    }
    let tmp = out.with_extension(format!(
        "tmp.{}",
        out.extension().unwrap().to_string_lossy()
    ));
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args(args)
        .arg(&tmp)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg failed for {}", out.display());
    std::fs::rename(&tmp, out).unwrap();
}

/// The media, generated on first use.
pub fn media() -> &'static Media {
    static MEDIA: OnceLock<Media> = OnceLock::new();
    MEDIA.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox-media");
        std::fs::create_dir_all(&dir).unwrap();
        let m = Media {
            jpg800: dir.join("red-800.jpg"),
            png1080: dir.join("blue-1080x1350.png"),
            mp4: dir.join("green-720x1280.mp4"),
            junk: dir.join("junk.jpg"),
        };
        ffmpeg(
            &["-f", "lavfi", "-i", "color=red:s=800x800", "-frames:v", "1"],
            &m.jpg800,
        );
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "color=blue:s=1080x1350",
                "-frames:v",
                "1",
            ],
            &m.png1080,
        );
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "color=green:s=720x1280:r=30:d=4",
                "-f",
                "lavfi",
                "-i",
                "sine=d=4",
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
            &m.mp4,
        );
        if !m.junk.exists() {
            std::fs::write(&m.junk, vec![0x42u8; 4096]).unwrap();
        }
        m
    })
}

/// The exact issue the docs give for an 800x800 image.
pub const ISSUE_800: &str = "800x800 image resolution too low (min 1080px on the short edge)";
