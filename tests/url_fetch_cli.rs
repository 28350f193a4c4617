//! `layers-upload fetch-url` end to end: files served by a local test origin, fetched by the
//! in-process `layers-sandbox` (loopback allowed, as the real service would fetch a public
//! https URL), through the queue with a stored Idempotency-Key; and each documented failure
//! (413, 422, 502 SCRAPE_FAILED) explained, with nothing created.

#[path = "client_support/origin.rs"]
mod origin;
mod support;

use std::collections::HashMap;
use std::process::{Command, Output, Stdio};

use layers_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use origin::{serve, Route};
use serde_json::Value;
use support::corpus::corpus;

const KEY: &str = "lp_live_fetch1_TopSecretFetchKeyValue";

struct World {
    base: String,
    project: String,
    data: tempfile::TempDir,
    _handle: SandboxHandle,
}

fn world(config: SandboxConfig) -> World {
    let (base, handle) = Sandbox::start(config.allow_loopback_fetch(true)).expect("sandbox");
    World {
        project: handle.projects()[0].clone(),
        base,
        data: tempfile::tempdir().unwrap(),
        _handle: handle,
    }
}

impl World {
    /// Runs the CLI on a blocking thread, so the origin keeps serving meanwhile.
    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-upload"));
        cmd.args(args)
            .env("LAYERS_API_KEY", KEY)
            .env("LAYERS_API_BASE", &self.base)
            .env("LAYERS_PROJECT_ID", &self.project)
            .env("LAYERS_UPLOADER_DATA_DIR", self.data.path())
            .env_remove("LAYERS_FAILPOINT")
            .stdin(Stdio::null());
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("run layers-upload"))
            .await
            .unwrap();
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !text.contains("TopSecretFetchKeyValue"),
            "key leaked:\n{text}"
        );
        out
    }

    async fn state(&self) -> Value {
        reqwest::get(format!("{}/_sandbox/state", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn route(content_type: &'static str, name: &str) -> Route {
    Route {
        status: 200,
        content_type,
        body: std::fs::read(corpus().join(name)).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_url_creates_one_item_and_prints_it_exactly_as_returned() {
    let w = world(SandboxConfig::default());
    let origin = serve(HashMap::from([
        ("/clip.mp4", route("video/mp4", "silent.mp4")),
        ("/a.jpg", route("image/jpeg", "jpeg_1080.jpg")),
        ("/b.png", route("image/png", "png_1080.png")),
    ]))
    .await;
    let video = format!("{origin}/clip.mp4");
    let out = w
        .run(&["fetch-url", "--json", "--caption", "Hosted ☕", &video])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    let item: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(item["caption"], "Hosted ☕");
    assert_eq!(item["assets"][0]["kind"], "video");
    // Byte for byte the server's JSON for that item.
    let served = reqwest::Client::new()
        .get(format!(
            "{}/v1/content/{}",
            w.base,
            item["id"].as_str().unwrap()
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let served: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(item, served);

    // A slideshow of two images is one call, one item.
    let a = format!("{origin}/a.jpg");
    let b = format!("{origin}/b.png");
    let out = w.run(&["fetch-url", "--caption", "", &a, &b]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let state = w.state().await;
    let completed: Vec<&Value> = state["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "completed")
        .collect();
    assert_eq!(completed.len(), 2);
    // Each call carried an Idempotency-Key stored before it was sent; `queue list` says how.
    let list = w.run(&["queue", "list", "--json"]).await;
    let rows: Vec<Value> = stdout(&list)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["destination"] == "layers-url-fetch"));
    assert_eq!(rows[1]["files"], serde_json::json!([a, b]));
    let uploads = state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/content/upload"))
        .count();
    assert_eq!(uploads, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_url_failures_are_explained_and_create_nothing() {
    let w = world(SandboxConfig::default().video_cap_bytes(1024));
    let origin = serve(HashMap::from([
        ("/big.mp4", route("video/mp4", "silent.mp4")),
        ("/page.mp4", {
            let mut r = route("text/html", "jpeg_1080.jpg");
            r.body = b"<html>not media</html>".to_vec();
            r
        }),
        (
            "/expired.jpg",
            Route {
                status: 403,
                content_type: "application/xml",
                body: b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
                    .to_vec(),
            },
        ),
    ]))
    .await;

    let out = w
        .run(&["fetch-url", "--caption", "c", &format!("{origin}/big.mp4")])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("413 PAYLOAD_TOO_LARGE") && err.contains("/big.mp4") && err.contains("1KB"),
        "{err}"
    );
    assert!(err.contains("Nothing was created"), "{err}");

    let out = w
        .run(&["fetch-url", "--caption", "c", &format!("{origin}/page.mp4")])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("422 VALIDATION") && err.contains("Nothing was created"),
        "{err}"
    );

    // An expired signed URL: the origin refuses it, and Layers reports SCRAPE_FAILED.
    let out = w
        .run(&[
            "fetch-url",
            "--caption",
            "c",
            &format!("{origin}/expired.jpg"),
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("502 SCRAPE_FAILED")
            && err.contains("An expired signed URL reads as SCRAPE_FAILED"),
        "{err}"
    );
    let state = w.state().await;
    assert_eq!(
        state["quota"][&w.project]["currentUploads"], 0,
        "atomic: no item"
    );
    assert!(state["containers"].as_array().unwrap().is_empty());
}
