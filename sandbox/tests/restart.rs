//! The state survives a `kill -9` of the real `layers-sandbox` binary: items (GET, PATCH),
//! media assets, Loops assets, stored bytes, presigned URLs and idempotent replays all work
//! against the restarted process on the same data dir. Also private mode (key + Host).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{decl, media, read, LIVE};
use layers_sandbox::{Sandbox, SandboxConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A `layers-sandbox` child process; `kill -9`ed on drop.
struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(data: &Path, port: u16) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_layers-sandbox"))
        .args(["--port", &port.to_string(), "--loops-key", "loops_k"])
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("layers-sandbox starts");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // Keep reading: a closed pipe would make its next stdout line fail and the sandbox exit.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let base = line
        .trim()
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("no LISTENING line: {line:?}"))
        .to_string();
    Proc { child, base }
}

fn port_of(base: &str) -> u16 {
    base.rsplit(':').next().unwrap().parse().unwrap()
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(&self, rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        read(rb.send().await.unwrap()).await
    }
    async fn post(&self, path: &str, body: Value, idem: Option<&str>) -> (StatusCode, Value) {
        let mut rb = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(LIVE)
            .json(&body);
        if let Some(k) = idem {
            rb = rb.header("Idempotency-Key", k);
        }
        self.send(rb).await
    }
    async fn put(&self, url: &str, ct: &str, bytes: &[u8]) -> StatusCode {
        let r = self.http.put(url).header("content-type", ct);
        r.body(bytes.to_vec()).send().await.unwrap().status()
    }
    async fn bytes(&self, url: &str) -> (StatusCode, Vec<u8>) {
        let r = self.http.get(url).send().await.unwrap();
        (r.status(), r.bytes().await.unwrap().to_vec())
    }
}

#[tokio::test]
async fn items_media_loops_and_replays_survive_a_kill_9_of_the_sandbox() {
    let data = tempfile::tempdir().unwrap();
    let png = std::fs::read(&media().png1080).unwrap();
    let mut sb = spawn(data.path(), 0);
    let port = port_of(&sb.base);
    let c = Client {
        // No pooled connections: one to the killed process would fail the first request.
        http: reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        base: sb.base.clone(),
    };
    let project = layers_sandbox::DEFAULT_PROJECT_ID;

    // A completed item.
    let (s, v) = c
        .post(
            &format!("/v1/projects/{project}/content/uploads"),
            json!({ "files": [decl(&media().png1080, "image/png")], "grouping": "per-file" }),
            Some("create-1"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["uploads"][0]["containerId"].as_str().unwrap().to_string();
    let url = v["uploads"][0]["files"][0]["uploadUrl"].as_str().unwrap();
    assert_eq!(c.put(url, "image/png", &png).await, StatusCode::OK);
    let finalize = format!("/v1/content/{id}/finalize-upload");
    let (s, item) = c
        .post(&finalize, json!({ "caption": "before" }), Some("fin-1"))
        .await;
    assert_eq!(s, StatusCode::OK, "{item}");

    // A second session left unfinished: its presigned URL must still verify after the restart.
    let (s, v) = c
        .post(
            &format!("/v1/projects/{project}/content/uploads"),
            json!({ "files": [decl(&media().png1080, "image/png")], "grouping": "per-file" }),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let pending = v["uploads"][0]["containerId"].as_str().unwrap().to_string();
    let pending_url = v["uploads"][0]["files"][0]["uploadUrl"]
        .as_str()
        .unwrap()
        .to_string();

    // A media-library asset.
    let (s, p) = c
        .post(
            &format!("/v1/projects/{project}/media/presign"),
            json!({ "kind": "reference_image", "filename": "a.png", "mimeType": "image/png",
                    "sizeBytes": png.len() }),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        c.put(p["url"].as_str().unwrap(), "image/png", &png).await,
        StatusCode::OK
    );
    let (s, asset) = c
        .post(
            &format!("/v1/projects/{project}/media/finalize"),
            json!({ "uploadId": p["uploadId"] }),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{asset}");

    // A Loops asset.
    let (s, l) = c
        .send(
            c.http
                .post(format!("{}/api/v1/uploads", c.base))
                .bearer_auth("loops_k")
                .json(&json!({ "contentType": "image/png", "contentLength": png.len() })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{l}");
    let loops_id = l["emailAssetId"].as_str().unwrap().to_string();
    assert_eq!(
        c.put(l["presignedUrl"].as_str().unwrap(), "image/png", &png)
            .await,
        StatusCode::OK
    );
    let complete = format!("{}/api/v1/uploads/{loops_id}/complete", c.base);
    let (s, done) = c.send(c.http.post(&complete).bearer_auth("loops_k")).await;
    assert_eq!(s, StatusCode::OK, "{done}");

    // kill -9, then the same data dir (the port is reused when free).
    sb.child.kill().unwrap();
    sb.child.wait().unwrap();
    sb = spawn(data.path(), 0);
    assert_eq!(port_of(&sb.base), port, "the previous port is reused");

    let (s, got) = c
        .send(
            c.http
                .get(format!("{}/v1/content/{id}", c.base))
                .bearer_auth(LIVE),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["id"], item["id"]);
    let (s, patched) = c
        .send(
            c.http
                .patch(format!("{}/v1/content/{id}", c.base))
                .bearer_auth(LIVE)
                .json(&json!({ "caption": "after" })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(patched["caption"], "after");

    // The finalize answer is replayed, not redone.
    let r = c
        .http
        .post(format!("{}{finalize}", c.base))
        .bearer_auth(LIVE)
        .header("Idempotency-Key", "fin-1")
        .json(&json!({ "caption": "before" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let (s, replay) = read(r).await;
    assert_eq!((s, &replay), (StatusCode::OK, &item));

    // Stored bytes, served at the URLs handed out before the crash.
    for u in [
        asset["url"].as_str().unwrap(),
        done["finalUrl"].as_str().unwrap(),
    ] {
        assert_eq!(c.bytes(u).await, (StatusCode::OK, png.clone()), "{u}");
    }
    // Completing the Loops asset again still knows it.
    let (s, again) = c.send(c.http.post(&complete).bearer_auth("loops_k")).await;
    assert_eq!((s, &again["finalUrl"]), (StatusCode::OK, &done["finalUrl"]));

    // The unfinished session's URL still verifies, and it finalizes.
    assert_eq!(c.put(&pending_url, "image/png", &png).await, StatusCode::OK);
    let (s, v) = c
        .post(
            &format!("/v1/content/{pending}/finalize-upload"),
            json!({ "caption": "late" }),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, state) = c
        .send(c.http.get(format!("{}/_sandbox/state", c.base)))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(state["quota"][project]["currentUploads"], 2, "{state}");
}

#[tokio::test]
async fn private_mode_wants_the_key_and_our_own_host_on_state_and_media() {
    let key = "lp_live_sandbox_0123456789abcdef";
    let (base, handle) = Sandbox::start(SandboxConfig::default().private_key(key)).unwrap();
    let port = port_of(&base);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let png = std::fs::read(&media().png1080).unwrap();

    // Another well-formed key opens nothing.
    let (s, v) = read(
        http.get(format!("{base}/v1/whoami"))
            .bearer_auth(LIVE)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");

    // The key works end to end; the object is then guarded.
    let (s, p) = read(
        http.post(format!(
            "{base}/v1/projects/{}/media/presign",
            handle.projects()[0]
        ))
        .bearer_auth(key)
        .json(
            &json!({ "kind": "reference_image", "filename": "a.png", "mimeType": "image/png",
                    "sizeBytes": png.len() }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let r = http
        .put(p["url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "presigned PUTs need no key");
    let (s, asset) = read(
        http.post(format!(
            "{base}/v1/projects/{}/media/finalize",
            handle.projects()[0]
        ))
        .bearer_auth(key)
        .json(&json!({ "uploadId": p["uploadId"] }))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{asset}");
    let media_url = asset["url"].as_str().unwrap().to_string();
    assert!(
        media_url.starts_with(&format!("{base}/media/")),
        "{media_url}"
    );

    for path in [media_url.clone(), format!("{base}/_sandbox/state")] {
        let r = http.get(&path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no key: {path}");
        let r = http.get(&path).bearer_auth(LIVE).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "other key: {path}");
        let r = http.get(&path).bearer_auth(key).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "its key: {path}");
        for host in [
            "evil.example:80".to_string(),
            format!("evil.example:{port}"),
            "127.0.0.1".to_string(),
        ] {
            let r = http
                .get(&path)
                .bearer_auth(key)
                .header("host", host.as_str())
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::MISDIRECTED_REQUEST,
                "{host}: {path}"
            );
        }
        let r = http
            .get(&path)
            .bearer_auth(key)
            .header("host", format!("localhost:{port}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "localhost: {path}");
    }
    let r = http
        .post(format!("{base}/_sandbox/delete/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let bytes = http
        .get(&media_url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), png.as_slice());

    // Without private mode nothing changes (tests and the CLI sandbox read state freely).
    let (open, _h) = Sandbox::start(SandboxConfig::default()).unwrap();
    let r = http
        .get(format!("{open}/_sandbox/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
