//! The direct-upload transport end to end: LayersClient + Transfer against the real sandbox,
//! with real media. Happy paths, replay, and every way a session goes wrong.

mod client_support;

use std::time::Duration;

use client_support::*;
use layers_sandbox::SandboxConfig;
use layers_uploader::api::types::Grouping;
use layers_uploader::api::{ApiError, ContentFilter, IdempotencyKey};
use layers_uploader::transfer::PutTarget;

#[tokio::test]
async fn per_file_session_of_three_files_gives_three_completed_items() {
    let w = start(SandboxConfig::default());
    let paths = vec![file("red.jpg"), file("blue.png"), file("clip.mp4")];
    let session = w.session(&paths, Grouping::PerFile).await;
    assert_eq!(session.uploads.len(), 3, "one item per file");
    let mut ids = Vec::new();
    for (upload, path) in session.uploads.iter().zip(&paths) {
        put_upload(&w.transfer, upload, std::slice::from_ref(path)).await;
        let key = IdempotencyKey::new_v4();
        let item = w
            .client
            .finalize_upload(&upload.container_id, "launch day", &key)
            .await
            .expect("finalize");
        assert_eq!(item.parsed.id, upload.container_id);
        assert_eq!(item.parsed.status, "completed");
        assert_eq!(item.parsed.creative_type, "uploaded");
        assert_eq!(item.parsed.caption.as_deref(), Some("launch day"));
        assert_eq!(item.parsed.assets[0].mime_type, content_type(path));
        assert_eq!(item.raw["id"], upload.container_id.as_str());
        // GET returns the same object the finalize did.
        let got = w.client.get_content(&upload.container_id).await.unwrap();
        assert_eq!(got.raw, item.raw);
        ids.push(upload.container_id.clone());
    }
    let video = w.client.get_content(&ids[2]).await.unwrap().parsed;
    assert_eq!(video.assets[0].kind, "video");
    assert_eq!(
        (video.assets[0].width, video.assets[0].height),
        (Some(360), Some(640))
    );

    let filter = ContentFilter {
        creative_type: Some("uploaded"),
        status: Some("completed"),
    };
    let page = w
        .client
        .list_content(&w.project, filter, Some(2), None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let cursor = page.next_cursor.expect("a second page");
    let rest = w
        .client
        .list_content(&w.project, filter, Some(2), Some(&cursor))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next_cursor.is_none());
}

#[tokio::test]
async fn slideshow_of_three_images_is_one_item() {
    let w = start(SandboxConfig::default());
    let paths = vec![file("red.jpg"), file("green.jpg"), file("grid.webp")];
    let item = w.upload_post(&paths, Grouping::Slideshow, "three").await;
    assert_eq!(item.parsed.assets.len(), 3);
    assert_eq!(item.parsed.preview.as_ref().unwrap().kind, "slideshow");
    assert!(
        item.parsed.platform_fit.iter().all(|f| f.ok),
        "{:?}",
        item.raw
    );
}

#[tokio::test]
async fn slideshow_of_ten_images_is_accepted() {
    let w = start(SandboxConfig::default());
    let paths: Vec<_> = (0..10)
        .map(|i| file(if i % 2 == 0 { "red.jpg" } else { "blue.png" }))
        .collect();
    let item = w.upload_post(&paths, Grouping::Slideshow, "ten").await;
    assert_eq!(item.parsed.assets.len(), 10);
}

#[tokio::test]
async fn slideshow_of_one_image_comes_back_as_an_image_item() {
    let w = start(SandboxConfig::default());
    let item = w
        .upload_post(&[file("red.jpg")], Grouping::Slideshow, "")
        .await;
    assert_eq!(item.parsed.assets.len(), 1);
    assert_eq!(item.parsed.preview.as_ref().unwrap().kind, "image");
    assert_eq!(item.parsed.caption.as_deref(), Some(""));
}

#[tokio::test]
async fn unfit_image_is_accepted_with_the_issue_in_platform_fit() {
    let w = start(SandboxConfig::default());
    let item = w
        .upload_post(&[file("square_800.jpg")], Grouping::PerFile, "small")
        .await;
    let fit = &item.parsed.platform_fit;
    assert!(fit.iter().all(|f| !f.ok));
    assert!(fit[0].issues[0].contains("800x800 image resolution too low"));
}

#[tokio::test]
async fn replayed_create_returns_the_same_session_without_a_second_reservation() {
    let w = start(SandboxConfig::default());
    let paths = vec![file("red.jpg")];
    let request = declare(&paths, Grouping::PerFile);
    let key = IdempotencyKey::new_v4();
    let first = w
        .client
        .create_upload_session(&w.project, &request, &key)
        .await
        .unwrap();
    let again = w
        .client
        .create_upload_session(
            &w.project,
            &request,
            &IdempotencyKey::from_persisted(key.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(first, again, "the replay is the original session");
    assert_eq!(w.usage().await["currentUploads"], 1);

    let mut other = request.clone();
    other.files[0].filename = "renamed.jpg".into();
    let err = w
        .client
        .create_upload_session(&w.project, &other, &key)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::IdempotencyConflict { .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn finalize_before_the_put_names_the_missing_key() {
    let w = start(SandboxConfig::default());
    let paths = vec![file("red.jpg"), file("green.jpg")];
    let session = w.session(&paths, Grouping::Slideshow).await;
    let upload = &session.uploads[0];
    // Only the first file lands.
    put_upload(&w.transfer, &upload_with(upload, 0), &paths[..1]).await;
    let key = IdempotencyKey::new_v4();
    let err = w
        .client
        .finalize_upload(&upload.container_id, "c", &key)
        .await
        .unwrap_err();
    let ApiError::UploadIncomplete { missing_key, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        missing_key.as_deref(),
        Some(upload.files[1].r2_key.as_str())
    );
    assert!(err.to_string().contains(&upload.files[1].r2_key));
    // Complete the PUT and finalize again with the same key: it succeeds.
    put_upload(&w.transfer, &upload_with(upload, 1), &paths[1..]).await;
    let item = w
        .client
        .finalize_upload(&upload.container_id, "c", &key)
        .await
        .expect("finalize after the PUT");
    assert_eq!(item.parsed.assets.len(), 2);
}

/// The session upload narrowed to its file `i`.
fn upload_with(
    upload: &layers_uploader::api::types::SessionUpload,
    i: usize,
) -> layers_uploader::api::types::SessionUpload {
    let mut one = upload.clone();
    one.files = vec![upload.files[i].clone()];
    one
}

#[tokio::test]
async fn expired_url_is_a_storage_error_that_needs_a_new_session() {
    let w = start(SandboxConfig::default().url_ttl(Duration::from_secs(1)));
    let paths = vec![file("red.jpg")];
    let session = w.session(&paths, Grouping::PerFile).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let put = &session.uploads[0].files[0];
    let target = PutTarget {
        url: &put.upload_url,
        content_type: &put.content_type,
        declared_size: None,
        headers: None,
        reach: layers_uploader::transfer::Reach::Local,
    };
    let err = w
        .transfer
        .put_file(&paths[0], &target, None)
        .await
        .unwrap_err();
    let layers_uploader::transfer::TransferError::Api(ApiError::Storage { status, excerpt }) = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 403);
    assert!(excerpt.contains("expired"), "{excerpt}");
    assert!(!err.is_retryable());
    assert_eq!(err.code(), "storage_rejected");
    assert!(
        err.to_string().contains("start a new upload session"),
        "{err}"
    );
}

#[tokio::test]
async fn a_content_type_other_than_the_declared_one_fails_the_signature() {
    let w = start(SandboxConfig::default());
    let paths = vec![file("red.jpg")];
    let session = w.session(&paths, Grouping::PerFile).await;
    let put = &session.uploads[0].files[0];
    let target = PutTarget {
        url: &put.upload_url,
        content_type: "image/png",
        declared_size: None,
        headers: None,
        reach: layers_uploader::transfer::Reach::Local,
    };
    let err = w
        .transfer
        .put_file(&paths[0], &target, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, layers_uploader::transfer::TransferError::Api(ApiError::Storage { status: 403, excerpt }) if excerpt.contains("SignatureDoesNotMatch")),
        "{err:?}"
    );
}

#[tokio::test]
async fn refinalize_with_another_caption_keeps_the_first_and_patch_fixes_it() {
    let w = start(SandboxConfig::default());
    let paths = vec![file("blue.png")];
    let session = w.session(&paths, Grouping::PerFile).await;
    let id = &session.uploads[0].container_id;
    put_upload(&w.transfer, &session.uploads[0], &paths).await;
    let first = w
        .client
        .finalize_upload(id, "first", &IdempotencyKey::new_v4())
        .await
        .unwrap();
    let second = w
        .client
        .finalize_upload(id, "second", &IdempotencyKey::new_v4())
        .await
        .unwrap();
    assert_eq!(second.parsed.caption.as_deref(), Some("first"));
    assert_eq!(second.raw, first.raw);
    let patched = w
        .client
        .patch_caption(id, "fixed ☕", &IdempotencyKey::new_v4())
        .await
        .unwrap();
    assert_eq!(patched.parsed.caption.as_deref(), Some("fixed ☕"));
    let too_long = "x".repeat(2201);
    let err = w
        .client
        .patch_caption(id, &too_long, &IdempotencyKey::new_v4())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation", "{err:?}");
}

#[tokio::test]
async fn a_reaped_session_is_a_conflict() {
    let w = start(SandboxConfig::default().reap_after(Duration::from_millis(300)));
    let paths = vec![file("red.jpg")];
    let session = w.session(&paths, Grouping::PerFile).await;
    assert_eq!(w.usage().await["currentUploads"], 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let err = w
        .client
        .finalize_upload(
            &session.uploads[0].container_id,
            "late",
            &IdempotencyKey::new_v4(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("Start a new upload session"));
    assert_eq!(
        w.usage().await["currentUploads"],
        0,
        "reaping frees the quota"
    );
}

#[tokio::test]
async fn quota_exhaustion_names_usage_and_limits() {
    let w = start(SandboxConfig::default().max_uploads(2));
    let paths = vec![file("red.jpg")];
    w.session(&paths, Grouping::PerFile).await;
    w.session(&paths, Grouping::PerFile).await;
    let err = w
        .client
        .create_upload_session(
            &w.project,
            &declare(&paths, Grouping::PerFile),
            &IdempotencyKey::new_v4(),
        )
        .await
        .unwrap_err();
    let ApiError::QuotaExceeded { usage: Some(q), .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((q.current_uploads, q.max_uploads), (2, 2));
    assert_eq!(q.max_bytes, 26_843_545_600);
    assert!(
        err.to_string()
            .starts_with("Quota reached: 2/2 uploads, 0/25 GB."),
        "{err}"
    );
    assert!(err.request_id().is_some_and(|r| r.starts_with("req_")));
}

#[tokio::test]
async fn a_test_key_session_has_inert_urls_and_fixture_finalize() {
    let w = start(SandboxConfig::default());
    let c = client(&w.base, TEST_KEY);
    assert!(c.key().is_test());
    let paths = vec![file("clip.mp4")];
    let session = c
        .create_upload_session(
            &w.project,
            &declare(&paths, Grouping::PerFile),
            &IdempotencyKey::new_v4(),
        )
        .await
        .unwrap();
    let put = &session.uploads[0].files[0];
    let target = PutTarget {
        url: &put.upload_url,
        content_type: &put.content_type,
        declared_size: None,
        headers: None,
        reach: layers_uploader::transfer::Reach::Local,
    };
    // The PUT fails harmlessly; finalize still returns a completed item with our caption.
    let err = w
        .transfer
        .put_file(&paths[0], &target, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "storage_rejected");
    let item = c
        .finalize_upload(
            &session.uploads[0].container_id,
            "sandbox ✓",
            &IdempotencyKey::new_v4(),
        )
        .await
        .unwrap();
    assert_eq!(item.parsed.status, "completed");
    assert_eq!(item.parsed.caption.as_deref(), Some("sandbox ✓"));
}

#[tokio::test]
async fn projects_are_listed_across_pages() {
    let mut config = SandboxConfig::default();
    for i in 0..120 {
        config = config.project(format!("00000000-0000-4000-8000-{i:012}"));
    }
    let w = start(config);
    let first = w.client.list_projects(Some(50), None).await.unwrap();
    assert_eq!(first.items.len(), 50);
    assert!(first.next_cursor.is_some());
    let all = w.client.list_all_projects().await.unwrap();
    assert_eq!(all.len(), 120);
    assert_eq!(all[119].id, "00000000-0000-4000-8000-000000000119");
    let who = w.client.whoami().await.unwrap();
    assert!(!who.organization_name.is_empty());
}
