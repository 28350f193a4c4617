//! Every error-table row the sandbox can produce, through the client: auth, scope, not found,
//! rate limit with Retry-After, validation at session and finalize, injected 5xx with a retry
//! that reuses the Idempotency-Key — and a check that the key never leaks anywhere.

mod client_support;

use std::time::Duration;

use client_support::*;
use layers_sandbox::SandboxConfig;
use layers_uploader::api::types::{CreateUploadSessionRequest, DeclaredFile, Grouping};
use layers_uploader::api::{ApiError, IdempotencyKey, RetryPolicy, Service};

fn declared(name: &str, content_type: &str, size: u64) -> DeclaredFile {
    DeclaredFile {
        filename: name.into(),
        content_type: content_type.into(),
        size_bytes: size,
    }
}

#[tokio::test]
async fn a_refused_key_is_unauthenticated_and_never_shown() {
    let w = start(SandboxConfig::default());
    let bad = client(&w.base, "not-a-layers-key-S3cretValueThatMustNeverLeak");
    let err = bad.whoami().await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Unauthenticated {
                service: Service::Layers,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "unauthenticated");
    assert!(!err.is_retryable());
    assert_no_key(&format!("{err} {err:?}"), "the 401 error");
}

#[tokio::test]
async fn a_key_without_the_scope_is_forbidden() {
    let w =
        start(SandboxConfig::default().key_scopes(LIVE_KEY, &["content:read", "projects:read"]));
    assert!(w.client.whoami().await.is_ok());
    let err = w
        .client
        .create_upload_session(
            &w.project,
            &declare(&[file("red.jpg")], Grouping::PerFile),
            &IdempotencyKey::new_v4(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::ForbiddenScope { .. }), "{err:?}");
    assert!(err.to_string().contains("content:write"), "{err}");
}

#[tokio::test]
async fn unknown_containers_and_projects_are_not_found() {
    let w = start(SandboxConfig::default());
    let err = w
        .client
        .get_content("cnt_00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    let key = IdempotencyKey::new_v4();
    let err = w
        .client
        .finalize_upload("cnt_nope", "", &key)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let err = w
        .client
        .create_upload_session(
            "11111111-1111-4111-8111-111111111111",
            &declare(&[file("red.jpg")], Grouping::PerFile),
            &IdempotencyKey::new_v4(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found", "{err:?}");
}

#[tokio::test]
async fn over_the_write_budget_is_rate_limited_with_retry_after() {
    let w = start(SandboxConfig::default().writes_per_minute(2));
    let req = declare(&[file("red.jpg")], Grouping::PerFile);
    for _ in 0..2 {
        w.client
            .create_upload_session(&w.project, &req, &IdempotencyKey::new_v4())
            .await
            .unwrap();
    }
    let err = w
        .client
        .create_upload_session(&w.project, &req, &IdempotencyKey::new_v4())
        .await
        .unwrap_err();
    let wait = err.retry_after().expect("Retry-After parsed");
    assert!(matches!(err, ApiError::RateLimited { .. }), "{err:?}");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(RetryPolicy::default().next_delay(&err, 0), Some(wait));
    assert!(
        err.to_string()
            .contains(&format!("wait {} s", wait.as_secs_f64().ceil())),
        "{err}"
    );
    // Reads have their own bucket.
    assert!(w.client.whoami().await.is_ok());
}

#[tokio::test]
async fn session_validation_rows() {
    let w = start(SandboxConfig::default());
    let create = |files: Vec<DeclaredFile>, grouping| {
        let client = w.client.clone();
        let project = w.project.clone();
        async move {
            let req = CreateUploadSessionRequest { files, grouping };
            client
                .create_upload_session(&project, &req, &IdempotencyKey::new_v4())
                .await
                .unwrap_err()
        }
    };
    let e = create(
        vec![
            declared("a.jpg", "image/jpeg", 10),
            declared("b.mp4", "video/mp4", 10),
        ],
        Grouping::Slideshow,
    )
    .await;
    assert!(
        matches!(&e, ApiError::Validation { message, .. } if message.contains("Slideshows are images only.")),
        "{e:?}"
    );
    let e = create(
        vec![declared("a.jpg", "image/jpeg", 10); 11],
        Grouping::PerFile,
    )
    .await;
    assert_eq!(e.code(), "validation", "11 files: {e:?}");
    let e = create(vec![declared("a.gif", "image/gif", 10)], Grouping::PerFile).await;
    assert_eq!(e.code(), "validation", "gif: {e:?}");
    let e = create(
        vec![declared("a.mp4", "video/mp4", 104_857_601)],
        Grouping::PerFile,
    )
    .await;
    assert_eq!(e.code(), "validation", "over the cap at declaration: {e:?}");
    let e = create(vec![], Grouping::PerFile).await;
    assert_eq!(e.code(), "validation", "no files: {e:?}");
}

#[tokio::test]
async fn a_caption_over_2200_utf16_units_is_refused_at_finalize() {
    let w = start(SandboxConfig::default());
    let paths = vec![file("red.jpg")];
    let session = w.session(&paths, Grouping::PerFile).await;
    put_upload(&w.transfer, &session.uploads[0], &paths).await;
    let caption = "😀".repeat(1101); // 2,202 UTF-16 units
    let err = w
        .client
        .finalize_upload(
            &session.uploads[0].container_id,
            &caption,
            &IdempotencyKey::new_v4(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation", "{err:?}");
}

#[tokio::test]
async fn an_injected_500_is_retryable_and_the_retry_reuses_the_key() {
    let w = start(SandboxConfig::default().fail_finalize_first(2));
    let paths = vec![file("green.jpg")];
    let session = w.session(&paths, Grouping::PerFile).await;
    put_upload(&w.transfer, &session.uploads[0], &paths).await;
    let id = &session.uploads[0].container_id;
    let key = IdempotencyKey::new_v4();
    let err = w.client.finalize_upload(id, "c", &key).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let policy = RetryPolicy {
        base: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    let item = policy
        .run(|_| w.client.finalize_upload(id, "c", &key))
        .await
        .expect("the retry succeeds");
    assert_eq!(item.parsed.status, "completed");
}

#[tokio::test]
async fn no_storage_request_carries_auth_and_the_key_is_nowhere_in_the_state() {
    let w = start(SandboxConfig::default());
    w.upload_post(
        &[file("red.jpg"), file("blue.png")],
        Grouping::Slideshow,
        "x",
    )
    .await;
    w.upload_post(&[file("clip.mp4")], Grouping::PerFile, "y")
        .await;
    let state = w.state().await;
    let requests = state["requests"].as_array().expect("request log");
    let storage: Vec<_> = requests
        .iter()
        .filter(|r| {
            r["method"] == "PUT" && r["path"].as_str().unwrap_or("").starts_with("/storage/")
        })
        .collect();
    assert_eq!(storage.len(), 3, "three PUTs logged");
    for r in &storage {
        assert_eq!(r["authHeaderPresent"], false, "storage PUT with auth: {r}");
        assert!(r["keyId"].is_null(), "{r}");
    }
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r["path"].as_str().unwrap_or("").starts_with("/v1/"))
        .collect();
    assert!(api
        .iter()
        .all(|r| r["authHeaderPresent"] == true && r["keyId"] == "cl1ent"));
    assert_no_key(&state.to_string(), "GET /_sandbox/state");
}

#[tokio::test]
async fn a_server_that_echoes_the_key_cannot_make_the_client_print_it() {
    use client_support::origin::{serve, Route};
    let echo = format!(
        r#"{{"error":{{"code":"VALIDATION","message":"bad header Bearer {LIVE_KEY}","requestId":"req_{LIVE_SECRET}","details":{{"got":["{LIVE_KEY}"]}}}}}}"#
    );
    let base = serve(std::collections::HashMap::from([
        (
            "/v1/whoami",
            Route {
                status: 422,
                content_type: "application/json",
                body: echo.into_bytes(),
            },
        ),
        (
            "/v1/projects",
            Route {
                status: 500,
                content_type: "text/html",
                body: format!("<pre>{LIVE_KEY}</pre>").into_bytes(),
            },
        ),
    ]))
    .await;
    let c = client(&base, LIVE_KEY);
    let err = c.whoami().await.unwrap_err();
    assert_eq!(err.code(), "validation");
    assert!(err.to_string().contains("[redacted]"), "{err}");
    assert_no_key(&format!("{err} {err:?}"), "an echoed 422");
    let err = c.list_projects(None, None).await.unwrap_err();
    assert_eq!(err.code(), "unexpected_response");
    assert_no_key(&format!("{err} {err:?}"), "an echoed 500 page");
}

/// Create a one-file session declaring `declared` bytes, PUT `path` regardless, finalize.
async fn finalize_after_put(
    w: &World,
    path: &std::path::Path,
    ct: &str,
    declared: u64,
) -> ApiError {
    let req = CreateUploadSessionRequest {
        files: vec![declared_file(path, ct, declared)],
        grouping: Grouping::PerFile,
    };
    let session = w
        .client
        .create_upload_session(&w.project, &req, &IdempotencyKey::new_v4())
        .await
        .unwrap();
    let put = &session.uploads[0].files[0];
    // No declared_size: the client check is what we bypass to reach the server's recheck.
    let target = layers_uploader::transfer::PutTarget {
        url: &put.upload_url,
        content_type: &put.content_type,
        declared_size: None,
        headers: None,
        reach: layers_uploader::transfer::Reach::Local,
    };
    w.transfer.put_file(path, &target, None).await.expect("PUT");
    w.client
        .finalize_upload(
            &session.uploads[0].container_id,
            "c",
            &IdempotencyKey::new_v4(),
        )
        .await
        .unwrap_err()
}

fn declared_file(path: &std::path::Path, ct: &str, size: u64) -> DeclaredFile {
    declared(&path.file_name().unwrap().to_string_lossy(), ct, size)
}

#[tokio::test]
async fn finalize_rechecks_size_cap_and_readability() {
    let w = start(SandboxConfig::default().video_cap_bytes(100_000));
    let clip = file("clip.mp4");
    let actual = std::fs::metadata(&clip).unwrap().len();
    assert!(actual > 100_000, "the clip must exceed the lowered cap");
    // Declared under the cap, actually over it: 413 at finalize, naming the file.
    let e = finalize_after_put(&w, &clip, "video/mp4", 50_000).await;
    let ApiError::PayloadTooLarge { url, max_bytes, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*max_bytes, Some(100_000));
    assert!(url.as_deref().is_some_and(|k| k.contains('/')), "{e:?}");
    // A size other than the declared one: 422.
    let jpg = file("red.jpg");
    let size = std::fs::metadata(&jpg).unwrap().len();
    let e = finalize_after_put(&w, &jpg, "image/jpeg", size - 1).await;
    assert_eq!(e.code(), "validation", "{e:?}");
    // Bytes that are not the declared type: 422 at probe time.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.jpg");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let e = finalize_after_put(&w, &junk, "image/jpeg", 4096).await;
    assert_eq!(e.code(), "validation", "{e:?}");
}
