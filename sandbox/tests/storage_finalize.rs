//! Presigned PUTs (S3's refusals), finalize (incomplete, ok, idempotent, reaped, size and
//! probe checks), platform fit, slideshows, and the failure-injection flags.

mod common;

use std::time::Duration;

use common::*;
use layers_sandbox::SandboxConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn storage_accepts_only_the_signed_put() {
    let sb = start(SandboxConfig::default());
    let m = media();
    let (_, url) = sb.session_for(&m.jpg800, "image/jpeg").await;
    let bytes = std::fs::read(&m.jpg800).unwrap();

    let r = sb.put(&url, "image/png", &m.jpg800).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<Code>SignatureDoesNotMatch</Code>"));

    let r = sb.http.put(&url).body(bytes.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "missing Content-Type");

    let tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=00");
    assert_eq!(
        sb.put(&tampered, "image/jpeg", &m.jpg800).await.status(),
        StatusCode::FORBIDDEN
    );
    let other_key = url.replace("upload-1.jpg", "upload-2.jpg");
    assert_eq!(
        sb.put(&other_key, "image/jpeg", &m.jpg800).await.status(),
        StatusCode::FORBIDDEN
    );
    let later = url.replacen("X-Amz-Expires=", "X-Amz-Expires=9", 1);
    assert_eq!(
        sb.put(&later, "image/jpeg", &m.jpg800).await.status(),
        StatusCode::FORBIDDEN
    );

    let r = sb
        .http
        .put(&url)
        .header("content-type", "image/jpeg")
        .header("authorization", "Bearer x")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Only one auth mechanism allowed"));

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(bytes.clone())];
    let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = sb
        .http
        .put(&url)
        .header("content-type", "image/jpeg")
        .body(streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::LENGTH_REQUIRED,
        "chunked PUT without Content-Length"
    );

    assert!(
        sb.state().await["objects"].as_object().unwrap().is_empty(),
        "no refused PUT stored anything"
    );
    let r = sb.put(&url, "image/jpeg", &m.jpg800).await;
    assert_eq!(r.status(), StatusCode::OK);
    let objects = sb.state().await["objects"].clone();
    let (key, obj) = objects.as_object().unwrap().iter().next().unwrap();
    assert!(url.contains(key.as_str()));
    assert_eq!(obj["sizeBytes"], bytes.len());
    assert_eq!(obj["sha256"], hex::encode(Sha256::digest(&bytes)));
}

#[tokio::test]
async fn an_expired_url_is_refused() {
    let sb = start(SandboxConfig::default().url_ttl(Duration::from_secs(1)));
    let m = media();
    let (_, url) = sb.session_for(&m.jpg800, "image/jpeg").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = sb.put(&url, "image/jpeg", &m.jpg800).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Request has expired"));
}

#[tokio::test]
async fn finalize_checks_the_put_then_completes_once_with_the_first_caption() {
    let sb = start(SandboxConfig::default());
    let m = media();
    let (id, url) = sb.session_for(&m.jpg800, "image/jpeg").await;
    let (s, v) = sb.finalize(LIVE, &id, "first").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], "UPLOAD_INCOMPLETE");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("did the PUT complete?") && msg.contains("/media/upload-1.jpg"),
        "{msg}"
    );
    let (s, pending) = sb.get(&format!("/v1/content/{id}"), LIVE).await;
    assert_eq!(
        (s, pending["status"].as_str()),
        (StatusCode::OK, Some("pending"))
    );

    assert_eq!(
        sb.put(&url, "image/jpeg", &m.jpg800).await.status(),
        StatusCode::OK
    );
    let (s, item) = sb.finalize(LIVE, &id, "first").await;
    assert_eq!(s, StatusCode::OK, "{item}");
    assert_eq!(item["id"], id);
    assert_eq!(item["projectId"], sb.project);
    assert_eq!(item["status"], "completed");
    assert_eq!(item["caption"], "first");
    for k in [
        "format",
        "hook",
        "influencerId",
        "sourceTiktokId",
        "mediaId",
        "firstComment",
        "failedAt",
        "lastError",
    ] {
        assert_eq!(item[k], Value::Null, "{k}");
    }
    assert_eq!(item["approvalStatus"], "not_required");
    assert_eq!(item["creativeType"], "uploaded");
    assert_eq!(item["adsEnrollment"], "opted_out");
    let a = &item["assets"][0];
    assert_eq!(a["assetId"], "upload-1");
    assert_eq!(
        (
            a["kind"].as_str(),
            a["width"].as_u64(),
            a["height"].as_u64()
        ),
        (Some("image"), Some(800), Some(800))
    );
    assert_eq!(a["mimeType"], "image/jpeg");
    assert_eq!(a["sizeBytes"], std::fs::metadata(&m.jpg800).unwrap().len());
    assert_eq!(a["thumbnailUrl"], Value::Null);
    assert_eq!(item["preview"]["kind"], "image");
    assert_eq!(item["preview"]["aspectRatio"], "1:1");
    assert_eq!(item["preview"]["hlsUrl"], Value::Null);
    assert_eq!(
        item["platformFit"],
        json!([
            { "platform": "tiktok", "ok": false, "issues": [ISSUE_800] },
            { "platform": "instagram", "ok": false, "issues": [ISSUE_800] }
        ])
    );
    assert!(item["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(item["completedAt"].is_string());
    // The published URL serves the bytes.
    let served = sb
        .http
        .get(a["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        served.as_ref(),
        std::fs::read(&m.jpg800).unwrap().as_slice()
    );

    let (s, again) = sb.finalize(LIVE, &id, "second").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        again, item,
        "a retry returns the same item; its body is ignored"
    );
    let (_, got) = sb.get(&format!("/v1/content/{id}"), LIVE).await;
    assert_eq!(got, item);

    let patch = |caption: String| {
        sb.http
            .patch(sb.url(&format!("/v1/content/{id}")))
            .bearer_auth(LIVE)
            .json(&json!({ "caption": caption }))
            .send()
    };
    let (s, patched) = read(patch("fixed".into()).await.unwrap()).await;
    assert_eq!(
        (s, patched["caption"].as_str()),
        (StatusCode::OK, Some("fixed"))
    );
    let (s, v) = read(patch("x".repeat(2201)).await.unwrap()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION"))
    );
    let (s, _) = read(patch("😀".repeat(1100)).await.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "2,200 UTF-16 units is the limit");

    let (_, list) = sb
        .get(
            &format!(
                "/v1/projects/{}/content?creativeType=uploaded&status=completed",
                sb.project
            ),
            LIVE,
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["nextCursor"], Value::Null);
    let (_, none) = sb
        .get(
            &format!("/v1/projects/{}/content?creativeType=generated", sb.project),
            LIVE,
        )
        .await;
    assert!(none["items"].as_array().unwrap().is_empty());
    assert_eq!(
        sb.get("/v1/content/cnt_unknown", LIVE).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        sb.finalize(LIVE, "cnt_unknown", "x").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn finalize_refuses_bad_captions_sizes_and_bytes() {
    let sb = start(SandboxConfig::default().video_cap_bytes(20_000));
    let m = media();
    // Caption rules.
    let (id, url) = sb.session_for(&m.png1080, "image/png").await;
    sb.put(&url, "image/png", &m.png1080).await;
    let r = sb
        .post(
            &format!("/v1/content/{id}/finalize-upload"),
            LIVE,
            &json!({}),
        )
        .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "caption is required");
    assert_eq!(
        sb.finalize(LIVE, &id, &"c".repeat(2201)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (s, item) = sb.finalize(LIVE, &id, "").await;
    assert_eq!(s, StatusCode::OK, "an empty caption is fine");
    assert_eq!(item["platformFit"][0]["ok"], true);
    assert_eq!(item["preview"]["aspectRatio"], "4:5");

    // Declared size must match the object.
    let mut d = decl(&m.jpg800, "image/jpeg");
    d["sizeBytes"] = json!(d["sizeBytes"].as_u64().unwrap() + 1);
    let (_, v) = sb.create(LIVE, json!([d]), "per-file").await;
    let (id, url) = (
        v["uploads"][0]["containerId"].as_str().unwrap(),
        v["uploads"][0]["files"][0]["uploadUrl"].as_str().unwrap(),
    );
    sb.put(url, "image/jpeg", &m.jpg800).await;
    let (s, v) = sb.finalize(LIVE, id, "x").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION")),
        "{v}"
    );

    // Actual bytes over the cap: 413 even though the declaration was under it.
    let mut d = decl(&m.mp4, "video/mp4");
    d["sizeBytes"] = json!(10_000);
    let (_, v) = sb.create(LIVE, json!([d]), "per-file").await;
    let (id, url) = (
        v["uploads"][0]["containerId"].as_str().unwrap(),
        v["uploads"][0]["files"][0]["uploadUrl"].as_str().unwrap(),
    );
    sb.put(url, "video/mp4", &m.mp4).await;
    let (s, v) = sb.finalize(LIVE, id, "x").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("PAYLOAD_TOO_LARGE")),
        "{v}"
    );
    assert_eq!(v["error"]["details"]["maxBytes"], 20_000);

    // Unreadable bytes, and bytes that are not the declared type.
    let (id, url) = sb.session_for(&m.junk, "image/jpeg").await;
    sb.put(&url, "image/jpeg", &m.junk).await;
    let (s, v) = sb.finalize(LIVE, &id, "x").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION")),
        "{v}"
    );
    let mut d = decl(&m.png1080, "image/jpeg");
    d["filename"] = json!("blue.jpg");
    let (_, v) = sb.create(LIVE, json!([d]), "per-file").await;
    let (id, url) = (
        v["uploads"][0]["containerId"].as_str().unwrap(),
        v["uploads"][0]["files"][0]["uploadUrl"].as_str().unwrap(),
    );
    sb.put(url, "image/jpeg", &m.png1080).await;
    let (s, v) = sb.finalize(LIVE, id, "x").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("image/png"),
        "{v}"
    );
}

#[tokio::test]
async fn videos_and_slideshows_preview_as_documented() {
    let sb = start(SandboxConfig::default());
    let m = media();
    let (id, url) = sb.session_for(&m.mp4, "video/mp4").await;
    sb.put(&url, "video/mp4", &m.mp4).await;
    let (s, item) = sb.finalize(LIVE, &id, "clip").await;
    assert_eq!(s, StatusCode::OK, "{item}");
    let a = &item["assets"][0];
    assert_eq!(
        (a["width"].as_u64(), a["height"].as_u64()),
        (Some(720), Some(1280))
    );
    let ms = a["durationMs"].as_u64().unwrap();
    assert!((3900..=4200).contains(&ms), "{ms}");
    let p = &item["preview"];
    assert_eq!(p["kind"], "video");
    assert_eq!(p["aspectRatio"], "9:16");
    assert_eq!(p["videoUrl"], a["url"]);
    assert_eq!(p["imageUrls"], json!([]));
    assert!(
        item["platformFit"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["ok"] == true),
        "{}",
        item["platformFit"]
    );

    // A slideshow of one image comes back as an image item.
    let (_, v) = sb
        .create(LIVE, json!([decl(&m.png1080, "image/png")]), "slideshow")
        .await;
    let up = &v["uploads"][0];
    sb.put(
        up["files"][0]["uploadUrl"].as_str().unwrap(),
        "image/png",
        &m.png1080,
    )
    .await;
    let (_, item) = sb
        .finalize(LIVE, up["containerId"].as_str().unwrap(), "one")
        .await;
    assert_eq!(item["preview"]["kind"], "image");
    assert_eq!(item["assets"].as_array().unwrap().len(), 1);

    // Two images: one slideshow item; fit is the worst of its images.
    let (_, v) = sb
        .create(
            LIVE,
            json!([decl(&m.png1080, "image/png"), decl(&m.jpg800, "image/jpeg")]),
            "slideshow",
        )
        .await;
    let up = &v["uploads"][0];
    sb.put(
        up["files"][0]["uploadUrl"].as_str().unwrap(),
        "image/png",
        &m.png1080,
    )
    .await;
    sb.put(
        up["files"][1]["uploadUrl"].as_str().unwrap(),
        "image/jpeg",
        &m.jpg800,
    )
    .await;
    let (_, item) = sb
        .finalize(LIVE, up["containerId"].as_str().unwrap(), "two")
        .await;
    assert_eq!(item["preview"]["kind"], "slideshow");
    assert_eq!(item["preview"]["imageUrls"].as_array().unwrap().len(), 2);
    assert_eq!(item["assets"][1]["assetId"], "upload-2");
    assert_eq!(
        item["platformFit"][0],
        json!({ "platform": "tiktok", "ok": false, "issues": [ISSUE_800] })
    );
}

#[tokio::test]
async fn a_reaped_session_frees_quota_and_cannot_finalize() {
    let sb = start(SandboxConfig::default().reap_after(Duration::from_millis(800)));
    let m = media();
    let (id, url) = sb.session_for(&m.jpg800, "image/jpeg").await;
    sb.put(&url, "image/jpeg", &m.jpg800).await;
    assert_eq!(sb.quota().await["currentUploads"], 1);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (s, v) = sb.finalize(LIVE, &id, "late").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("CONFLICT")),
        "{v}"
    );
    assert_eq!(sb.quota().await["currentUploads"], 0);
    assert_eq!(sb.state().await["containers"][0]["state"], "reaped");
}

#[tokio::test]
async fn injected_failures_drop_puts_and_fail_finalizes() {
    let sb = start(
        SandboxConfig::default()
            .fail_put_first(1)
            .fail_finalize_first(1),
    );
    let m = media();
    let (id, url) = sb.session_for(&m.png1080, "image/png").await;
    let bytes = std::fs::read(&m.png1080).unwrap();
    let first = sb
        .http
        .put(&url)
        .header("content-type", "image/png")
        .body(bytes)
        .send()
        .await;
    assert!(
        first.is_err() || !first.as_ref().unwrap().status().is_success(),
        "the first PUT must fail: {first:?}"
    );
    assert!(
        sb.state().await["objects"].as_object().unwrap().is_empty(),
        "a dropped PUT leaves no object"
    );
    assert_eq!(
        sb.put(&url, "image/png", &m.png1080).await.status(),
        StatusCode::OK
    );
    let (s, v) = sb.finalize(LIVE, &id, "x").await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    let (s, _) = sb.finalize(LIVE, &id, "x").await;
    assert_eq!(s, StatusCode::OK);
    let tmp: Vec<_> = std::fs::read_dir(sb.handle.data_dir().join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "no temp files left behind");
}

#[tokio::test]
async fn slow_puts_are_throttled() {
    let sb = start(SandboxConfig::default().slow_put_bps(4_000));
    let m = media();
    let (_, url) = sb.session_for(&m.jpg800, "image/jpeg").await;
    let size = std::fs::metadata(&m.jpg800).unwrap().len();
    let started = std::time::Instant::now();
    assert_eq!(
        sb.put(&url, "image/jpeg", &m.jpg800).await.status(),
        StatusCode::OK
    );
    let expected = Duration::from_secs_f64(size as f64 / 4_000.0);
    assert!(
        started.elapsed() + Duration::from_millis(200) >= expected,
        "{:?} < {expected:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_finalize_gets_the_answer_on_replay() {
    // The server's probe must take longer than the client's patience: ffprobe does (the
    // native MP4 reader answers in well under a millisecond).
    std::env::set_var("LAYERS_PROBE", "ffprobe");
    let sb = start(SandboxConfig::default());
    let m = media();
    let (id, url) = sb.session_for(&m.mp4, "video/mp4").await;
    assert_eq!(
        sb.put(&url, "video/mp4", &m.mp4).await.status(),
        StatusCode::OK
    );
    let path = format!("/v1/content/{id}/finalize-upload");
    // Give up long before the server's probe of the video is done.
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(30))
        .build()
        .unwrap();
    let gone = impatient
        .post(sb.url(&path))
        .bearer_auth(LIVE)
        .header("Idempotency-Key", "hang-up-key")
        .json(&serde_json::json!({ "caption": "first" }))
        .send()
        .await;
    assert!(gone.is_err(), "the client was meant to time out");
    // The replay with the same key gets the one result (it must not wait forever).
    let replay = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        sb.post_raw(
            &path,
            LIVE,
            &serde_json::json!({ "caption": "second" }),
            Some("hang-up-key"),
        ),
    )
    .await
    .expect("the replay answered");
    let (status, item) = read(replay).await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["id"], id);
    assert_eq!(item["caption"], "first", "the first finalize won");
}
