//! The media library (presign → PUT → finalize) and Loops email assets (create → PUT →
//! complete), with their documented refusals.

mod common;

use common::*;
use layers_sandbox::SandboxConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn media_presign_put_finalize_with_checksum() {
    let sb = start(SandboxConfig::default());
    let bytes = std::fs::read(&media().jpg800).unwrap();
    let presign = format!("/v1/projects/{}/media/presign", sb.project);
    let finalize = format!("/v1/projects/{}/media/finalize", sb.project);
    let r = sb
        .http
        .post(sb.url(&presign))
        .header("X-Api-Key", LIVE)
        .json(&json!({
            "kind": "reference_image", "filename": "founder shot.jpg", "mimeType": "image/jpeg",
            "sizeBytes": bytes.len(), "checksumSha256": sha(&bytes)
        }))
        .send()
        .await
        .unwrap();
    let (s, p) = read(r).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert!(p["uploadId"].as_str().unwrap().starts_with("upl_"));
    assert_eq!(p["url"], p["signedUrl"]);
    assert_eq!(p["method"], "PUT");
    assert_eq!(
        p["headers"],
        json!({ "Content-Type": "image/jpeg", "Content-Length": bytes.len().to_string() })
    );
    assert!(p["expiresAt"].is_string());

    let (s, v) = sb
        .post(&finalize, LIVE, &json!({ "uploadId": p["uploadId"] }))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("UPLOAD_INCOMPLETE")),
        "{v}"
    );

    let r = sb
        .http
        .put(p["url"].as_str().unwrap())
        .header("Content-Type", "image/jpeg")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, asset) = sb
        .post(&finalize, LIVE, &json!({ "uploadId": p["uploadId"] }))
        .await;
    assert_eq!(s, StatusCode::OK, "{asset}");
    assert!(asset["assetId"].as_str().unwrap().starts_with("ast_"));
    assert_eq!(asset["kind"], "reference_image");
    assert_eq!(asset["mimeType"], "image/jpeg");
    assert_eq!(asset["sizeBytes"], bytes.len());
    assert_eq!(asset["checksumSha256"], sha(&bytes));
    let served = sb
        .http
        .get(asset["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.as_ref(), bytes.as_slice());
    let (_, again) = sb
        .post(&finalize, LIVE, &json!({ "uploadId": p["uploadId"] }))
        .await;
    assert_eq!(again, asset, "finalize is idempotent");

    // Aliases, no size.
    let (s, p) = sb
        .post(
            &presign,
            LIVE,
            &json!({ "kind": "audio", "contentType": "audio/mpeg", "byteSize": 10 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["headers"]["Content-Type"], "audio/mpeg");
    assert_eq!(p["headers"]["Content-Length"], "10");
    let (s, p) = sb
        .post(
            &presign,
            LIVE,
            &json!({ "kind": "logo", "mimeType": "image/png" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(p["headers"].get("Content-Length").is_none());
}

#[tokio::test]
async fn media_refusals() {
    let sb =
        start(SandboxConfig::default().key_scopes("lp_live_k8content_only", &["content:write"]));
    let presign = format!("/v1/projects/{}/media/presign", sb.project);
    let finalize = format!("/v1/projects/{}/media/finalize", sb.project);
    let rows: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({ "kind": "sticker", "mimeType": "image/png" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "kind": "image" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "kind": "image", "mimeType": "image/png", "sizeBytes": -1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "kind": "image", "mimeType": "image/png", "sizeBytes": "big" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "kind": "image", "mimeType": "image/png", "sizeBytes": 0 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "kind": "video", "mimeType": "image/png" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "kind": "image", "mimeType": "image/png", "checksumSha256": "abc" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "kind": "logo", "mimeType": "image/png", "sizeBytes": 52_428_801 }),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            json!({ "kind": "audio", "mimeType": "audio/mpeg", "sizeBytes": 209_715_201 }),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            json!({ "kind": "video", "mimeType": "video/mp4", "sizeBytes": 1_073_741_825 }),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    for (body, status, code) in rows {
        let (s, v) = sb.post(&presign, LIVE, &body).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {v}"
        );
    }
    let (s, _) = sb
        .post(
            &presign,
            LIVE,
            &json!({ "kind": "video", "mimeType": "video/mp4", "sizeBytes": 1_073_741_824 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "exactly 1 GB is allowed");
    let ok = json!({ "kind": "image", "mimeType": "image/png" });
    assert_eq!(
        sb.post("/v1/projects/nope/media/presign", LIVE, &ok)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (s, v) = sb.post(&presign, "lp_live_k8content_only", &ok).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("FORBIDDEN_SCOPE"))
    );
    assert_eq!(
        sb.post(&finalize, LIVE, &json!({ "uploadId": "upl_nope" }))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        sb.post(&finalize, LIVE, &json!({})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Checksum and size mismatches are refused at finalize.
    let bytes = std::fs::read(&media().png1080).unwrap();
    for (extra, what) in [
        (json!({ "checksumSha256": "0".repeat(64) }), "checksum"),
        (json!({ "sizeBytes": bytes.len() + 1 }), "size"),
    ] {
        let mut body = json!({ "kind": "image", "mimeType": "image/png" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (_, p) = sb.post(&presign, LIVE, &body).await;
        let r = sb
            .http
            .put(p["url"].as_str().unwrap())
            .header("content-type", "image/png")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let (s, v) = sb
            .post(&finalize, LIVE, &json!({ "uploadId": p["uploadId"] }))
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION_FAILED")),
            "{what}: {v}"
        );
    }
}

#[tokio::test]
async fn loops_create_put_complete() {
    let sb = start(SandboxConfig::default().loops_key("loops_team_key"));
    let bytes = std::fs::read(&media().png1080).unwrap();
    let create = |ct: &str, len: u64, key: &str| {
        sb.http
            .post(sb.url("/api/v1/uploads"))
            .bearer_auth(key)
            .json(&json!({ "contentType": ct, "contentLength": len }))
            .send()
    };
    let (s, v) = read(create("image/png", 10, "some_other_key").await.unwrap()).await;
    assert_eq!(
        (s, v["success"].as_bool()),
        (StatusCode::UNAUTHORIZED, Some(false)),
        "{v}"
    );
    let (s, c) = read(
        create("image/png", bytes.len() as u64, "loops_team_key")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["success"], true);
    let id = c["emailAssetId"].as_str().unwrap();
    let url = c["presignedUrl"].as_str().unwrap();

    let complete = |id: &str| {
        sb.http
            .post(sb.url(&format!("/api/v1/uploads/{id}/complete")))
            .bearer_auth("loops_team_key")
            .send()
    };
    let (s, v) = read(complete(id).await.unwrap()).await;
    assert_eq!(
        (s, v["success"].as_bool()),
        (StatusCode::BAD_REQUEST, Some(false)),
        "not uploaded yet: {v}"
    );

    // Length and type are both signed.
    let r = sb
        .http
        .put(url)
        .header("content-type", "image/png")
        .body(bytes[..bytes.len() - 1].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = sb
        .http
        .put(url)
        .header("content-type", "image/jpeg")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = sb
        .http
        .put(url)
        .header("content-type", "image/png")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let (s, done) = read(complete(id).await.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["success"], true);
    assert_eq!(done["emailAssetId"], id);
    let served = sb
        .http
        .get(done["finalUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.as_ref(), bytes.as_slice());

    let (s, v) = read(complete("asset_unknown").await.unwrap()).await;
    assert_eq!(
        (s, v["success"].as_bool()),
        (StatusCode::NOT_FOUND, Some(false))
    );
    let r = sb
        .http
        .post(sb.url("/api/v1/uploads//complete"))
        .bearer_auth("loops_team_key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Bytes that are not an accepted image are refused at complete.
    let (_, c) = read(create("image/png", 100, "loops_team_key").await.unwrap()).await;
    let r = sb
        .http
        .put(c["presignedUrl"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(vec![b'x'; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, v) = read(complete(c["emailAssetId"].as_str().unwrap()).await.unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["supportedContentTypes"].is_array(), "{v}");
}

#[tokio::test]
async fn loops_refusals_and_the_daily_limit() {
    let sb = start(SandboxConfig::default());
    let create = |body: Value, key: &'static str| {
        let req = sb.http.post(sb.url("/api/v1/uploads")).json(&body);
        let req = if key.is_empty() {
            req
        } else {
            req.bearer_auth(key)
        };
        async move { read(req.send().await.unwrap()).await }
    };
    let (s, v) = create(
        json!({ "contentType": "image/svg+xml", "contentLength": 10 }),
        "k",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["success"], false);
    assert_eq!(
        v["supportedContentTypes"],
        json!(["image/jpeg", "image/png", "image/gif", "image/webp"])
    );
    let (s, v) = create(
        json!({ "contentType": "image/gif", "contentLength": 4_000_001 }),
        "k",
    )
    .await;
    assert_eq!(
        (s, v["maxBytes"].as_u64()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some(4_000_000))
    );
    let (s, _) = create(
        json!({ "contentType": "image/gif", "contentLength": 4_000_000 }),
        "k",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = create(json!({ "contentType": "image/gif" }), "k").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = create(
        json!({ "contentType": "image/gif", "contentLength": 5 }),
        "",
    )
    .await;
    assert_eq!(
        (s, v["success"].as_bool()),
        (StatusCode::UNAUTHORIZED, Some(false))
    );

    for i in 1..50 {
        let (s, _) = create(
            json!({ "contentType": "image/png", "contentLength": 5 }),
            "k",
        )
        .await;
        assert_eq!(s, StatusCode::OK, "create {i}");
    }
    let (s, v) = create(
        json!({ "contentType": "image/png", "contentLength": 5 }),
        "k",
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(
        (v["maxUploads"].as_u64(), v["windowHours"].as_u64()),
        (Some(50), Some(24))
    );
    let (s, _) = create(
        json!({ "contentType": "image/png", "contentLength": 5 }),
        "another",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "the limit is per key");
}
