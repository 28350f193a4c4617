//! URL-fetch, the media library (presign → PUT → finalize with checksum) and Loops
//! (create → PUT → complete), each through the client against the real sandbox.

mod client_support;

use std::collections::HashMap;

use client_support::origin::{serve, Route};
use client_support::*;
use layers_sandbox::SandboxConfig;
use layers_uploader::api::types::{
    LoopsCreateRequest, MediaLibraryKind, MediaPresignRequest, MediaUrl, UrlFetchRequest,
};
use layers_uploader::api::{ApiError, IdempotencyKey, LoopsClient, Service};
use layers_uploader::secrets::ApiKey;
use layers_uploader::transfer::PutTarget;
use sha2::{Digest, Sha256};

fn route(content_type: &'static str, body: Vec<u8>) -> Route {
    Route {
        status: 200,
        content_type,
        body,
    }
}

fn fetch_request(urls: &[String], caption: &str) -> UrlFetchRequest {
    UrlFetchRequest {
        media: urls.iter().map(|u| MediaUrl { url: u.clone() }).collect(),
        caption: caption.into(),
    }
}

#[tokio::test]
async fn url_fetch_of_a_video_and_a_slideshow() {
    let w = start(SandboxConfig::default().allow_loopback_fetch(true));
    let read = |n: &str| std::fs::read(file(n)).unwrap();
    let origin = serve(HashMap::from([
        ("/clip.mp4", route("video/mp4", read("clip.mp4"))),
        ("/red.jpg", route("image/jpeg", read("red.jpg"))),
        ("/blue.png", route("image/png", read("blue.png"))),
    ]))
    .await;
    let video = w
        .client
        .upload_from_urls(
            &w.project,
            &fetch_request(&[format!("{origin}/clip.mp4")], "The roast ☕"),
            &IdempotencyKey::new_v4(),
        )
        .await
        .expect("URL-fetch of a video");
    assert_eq!(video.parsed.status, "completed");
    assert_eq!(video.parsed.assets[0].kind, "video");
    assert_eq!(video.parsed.caption.as_deref(), Some("The roast ☕"));
    assert_eq!(video.parsed.ads_enrollment.as_deref(), Some("opted_out"));
    assert!(video.json_line.starts_with('{') && !video.json_line.contains('\n'));

    let urls = [format!("{origin}/red.jpg"), format!("{origin}/blue.png")];
    let show = w
        .client
        .upload_from_urls(
            &w.project,
            &fetch_request(&urls, ""),
            &IdempotencyKey::new_v4(),
        )
        .await
        .expect("URL-fetch of a slideshow");
    assert_eq!(show.parsed.assets.len(), 2);
}

#[tokio::test]
async fn url_fetch_failures_map_to_their_rows() {
    let w = start(
        SandboxConfig::default()
            .allow_loopback_fetch(true)
            .video_cap_bytes(1024),
    );
    let origin = serve(HashMap::from([
        ("/octet.mp4", route("application/octet-stream", vec![0; 64])),
        ("/big.mp4", route("video/mp4", vec![0; 4096])),
        (
            "/gone.mp4",
            Route {
                status: 404,
                content_type: "text/plain",
                body: b"gone".to_vec(),
            },
        ),
    ]))
    .await;
    let call = |path: &str| {
        let req = fetch_request(&[format!("{origin}{path}")], "c");
        let client = w.client.clone();
        let project = w.project.clone();
        async move {
            client
                .upload_from_urls(&project, &req, &IdempotencyKey::new_v4())
                .await
                .unwrap_err()
        }
    };
    let e = call("/octet.mp4").await;
    assert_eq!(e.code(), "validation", "{e:?}");
    let e = call("/big.mp4").await;
    let ApiError::PayloadTooLarge {
        url,
        max_bytes,
        content_type,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(url.as_deref(), Some(format!("{origin}/big.mp4").as_str()));
    assert_eq!(*max_bytes, Some(1024));
    assert_eq!(content_type.as_deref(), Some("video/mp4"));
    let e = call("/gone.mp4").await;
    assert!(matches!(e, ApiError::ScrapeFailed { .. }), "{e:?}");
    assert!(!e.is_retryable());
    // Atomic: none of the failures left an item or used quota.
    assert_eq!(w.usage().await["currentUploads"], 0);
}

#[tokio::test]
async fn url_fetch_refuses_plain_http_without_the_loopback_flag() {
    let w = start(SandboxConfig::default());
    let err = w
        .client
        .upload_from_urls(
            &w.project,
            &fetch_request(&["http://127.0.0.1:9/x.mp4".into()], "c"),
            &IdempotencyKey::new_v4(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Validation { .. }), "{err:?}");
}

#[tokio::test]
async fn media_library_presign_put_finalize_with_checksum() {
    let w = start(SandboxConfig::default());
    let path = file("grid.webp");
    let bytes = std::fs::read(&path).unwrap();
    let sum = hex::encode(Sha256::digest(&bytes));
    let request = MediaPresignRequest {
        kind: MediaLibraryKind::ReferenceImage,
        filename: Some("grid.webp".into()),
        mime_type: "image/webp".into(),
        size_bytes: Some(bytes.len() as u64),
        checksum_sha256: Some(sum.clone()),
    };
    let presign = w
        .client
        .media_presign(&w.project, &request, &IdempotencyKey::new_v4())
        .await
        .expect("presign");
    assert_eq!(presign.method, "PUT");
    assert_eq!(
        presign.headers.get("Content-Length").map(String::as_str),
        Some(bytes.len().to_string().as_str())
    );
    let target = PutTarget {
        url: &presign.url,
        content_type: "image/webp",
        declared_size: Some(bytes.len() as u64),
        headers: Some(&presign.headers),
        reach: layers_uploader::transfer::Reach::Local,
    };
    w.transfer
        .put_file(&path, &target, None)
        .await
        .expect("PUT");
    let asset = w
        .client
        .media_finalize(&w.project, &presign.upload_id, &IdempotencyKey::new_v4())
        .await
        .expect("finalize");
    assert!(!asset.parsed.asset_id.is_empty());
    assert_eq!(asset.raw["checksumSha256"], sum.as_str());
    assert_eq!(asset.raw["sizeBytes"], bytes.len() as u64);
}

#[tokio::test]
async fn media_library_errors() {
    let w = start(SandboxConfig::default());
    let presign = |kind, mime: &str, size: u64, sum: Option<String>| MediaPresignRequest {
        kind,
        filename: None,
        mime_type: mime.into(),
        size_bytes: Some(size),
        checksum_sha256: sum,
    };
    let key = IdempotencyKey::new_v4;
    // Over the per-kind cap: 413 at presign.
    let e = w
        .client
        .media_presign(
            &w.project,
            &presign(MediaLibraryKind::Logo, "image/png", 60 << 20, None),
            &key(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::PayloadTooLarge {
                max_bytes: Some(52_428_800),
                ..
            }
        ),
        "{e:?}"
    );
    // VALIDATION_FAILED is the same kind as VALIDATION.
    let e = w
        .client
        .media_presign(
            &w.project,
            &presign(MediaLibraryKind::Audio, "image/png", 10, None),
            &key(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "validation", "{e:?}");
    // Finalize before the PUT, then with bytes that do not match the checksum.
    let path = file("red.jpg");
    let size = std::fs::metadata(&path).unwrap().len();
    let p = w
        .client
        .media_presign(
            &w.project,
            &presign(
                MediaLibraryKind::Image,
                "image/jpeg",
                size,
                Some("0".repeat(64)),
            ),
            &key(),
        )
        .await
        .unwrap();
    let e = w
        .client
        .media_finalize(&w.project, &p.upload_id, &key())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            ApiError::UploadIncomplete {
                missing_key: Some(_),
                ..
            }
        ),
        "{e:?}"
    );
    let target = PutTarget {
        url: &p.url,
        content_type: "image/jpeg",
        declared_size: Some(size),
        headers: Some(&p.headers),
        reach: layers_uploader::transfer::Reach::Local,
    };
    w.transfer.put_file(&path, &target, None).await.unwrap();
    let e = w
        .client
        .media_finalize(&w.project, &p.upload_id, &key())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "validation", "{e:?}");
    assert!(e.to_string().contains("checksumSha256"), "{e}");
    let e = w
        .client
        .media_finalize(&w.project, "upl_missing", &key())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
}

fn loops(base: &str, key: &str) -> LoopsClient {
    LoopsClient::new(base, ApiKey::new(key).unwrap()).unwrap()
}

#[tokio::test]
async fn loops_create_put_complete() {
    let w = start(SandboxConfig::default().loops_key("loops_k_0123456789abcdef"));
    let c = loops(&w.base, "loops_k_0123456789abcdef");
    let path = file("blue.png");
    let size = std::fs::metadata(&path).unwrap().len();
    let created = c
        .create_upload(&LoopsCreateRequest {
            content_type: "image/png".into(),
            content_length: size,
        })
        .await
        .expect("create");
    assert!(created.success);
    let target = PutTarget {
        url: &created.presigned_url,
        content_type: "image/png",
        declared_size: Some(size),
        headers: None,
        reach: layers_uploader::transfer::Reach::Local,
    };
    w.transfer
        .put_file(&path, &target, None)
        .await
        .expect("PUT");
    let done = c
        .complete_upload(&created.email_asset_id)
        .await
        .expect("complete");
    assert_eq!(done.email_asset_id, created.email_asset_id);
    assert!(done.final_url.starts_with("http"));
    let state = w.state().await.to_string();
    assert!(
        !state.contains("0123456789abcdef"),
        "the Loops key leaked into the state"
    );
}

#[tokio::test]
async fn loops_errors_map_to_their_rows() {
    let w = start(SandboxConfig::default().loops_key("loops_good_key_123456"));
    let c = loops(&w.base, "loops_good_key_123456");
    let create = |ct: &str, len: u64| LoopsCreateRequest {
        content_type: ct.into(),
        content_length: len,
    };
    let e = c
        .create_upload(&create("image/tiff", 10))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ApiError::LoopsUnsupportedType { supported, .. } if supported.contains(&"image/gif".to_string())),
        "{e:?}"
    );
    let e = c
        .create_upload(&create("image/png", 4_000_001))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::LoopsTooLarge {
                max_bytes: Some(4_000_000),
                ..
            }
        ),
        "{e:?}"
    );
    let e = c.complete_upload("asset_nope").await.unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::NotFound {
                service: Service::Loops,
                ..
            }
        ),
        "{e:?}"
    );
    let created = c.create_upload(&create("image/png", 10)).await.unwrap();
    let e = c
        .complete_upload(&created.email_asset_id)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "validation", "complete before the PUT: {e:?}");
    let e = loops(&w.base, "loops_wrong_key_99999")
        .create_upload(&create("image/png", 10))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::Unauthenticated {
                service: Service::Loops,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("loops_wrong_key_99999"));
    // 50 creates per 24 h, then 429 with the window.
    for _ in 0..49 {
        c.create_upload(&create("image/png", 10)).await.unwrap();
    }
    let e = c.create_upload(&create("image/png", 10)).await.unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::LoopsUploadLimit {
                max_uploads: Some(50),
                window_hours: Some(24),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("50 uploads per 24 h"));
}
