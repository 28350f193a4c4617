//! The streaming PUT against the sandbox's storage: progress throttling, a shared bandwidth
//! limit, a connection dropped mid-body (retryable, same URL), and a file that changes while it
//! is being sent.

mod client_support;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client_support::*;
use layers_sandbox::SandboxConfig;
use layers_uploader::api::types::{
    CreateUploadSessionRequest, DeclaredFile, Grouping, PresignedPut,
};
use layers_uploader::api::{ApiError, IdempotencyKey, NetworkKind, RetryPolicy};
use layers_uploader::transfer::{BandwidthLimiter, Progress, PutTarget, TransferError};

/// A raw file of `size` bytes (content does not matter to storage).
fn raw_file(dir: &Path, name: &str, size: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let block: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len());
        f.write_all(&block[..n]).unwrap();
        left -= n;
    }
    path
}

/// A one-file video session for a file of `size` bytes; returns its presigned PUT.
async fn video_session(w: &World, size: u64) -> PresignedPut {
    let req = CreateUploadSessionRequest {
        files: vec![DeclaredFile {
            filename: "raw.mp4".into(),
            content_type: "video/mp4".into(),
            size_bytes: size,
        }],
        grouping: Grouping::PerFile,
    };
    let session = w
        .client
        .create_upload_session(&w.project, &req, &IdempotencyKey::new_v4())
        .await
        .unwrap();
    session.uploads[0].files[0].clone()
}

fn target<'a>(put: &'a PresignedPut, size: u64) -> PutTarget<'a> {
    PutTarget {
        url: &put.upload_url,
        content_type: &put.content_type,
        declared_size: Some(size),
        headers: None,
        reach: layers_uploader::transfer::Reach::Local,
    }
}

#[tokio::test]
async fn progress_is_throttled_monotonic_and_ends_at_the_total() {
    let w = start(SandboxConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let size = 3 << 20;
    let path = raw_file(dir.path(), "a.bin", size);
    let put = video_session(&w, size as u64).await;
    let events: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = events.clone();
    let transfer = w
        .transfer
        .clone()
        .with_limiter(BandwidthLimiter::new(2 << 20));
    let started = Instant::now();
    let receipt = transfer
        .put_file(
            &path,
            &target(&put, size as u64),
            Some(Arc::new(move |p| sink.lock().unwrap().push(p))),
        )
        .await
        .expect("PUT");
    let took = started.elapsed();
    assert_eq!(receipt.bytes, size as u64);
    assert!(receipt.etag.is_some());
    let events = events.lock().unwrap();
    assert!(
        took >= Duration::from_millis(1100),
        "the 2 MiB/s limit held: {took:?}"
    );
    let last = events.last().expect("events");
    assert_eq!(
        (last.bytes_sent, last.total_bytes),
        (size as u64, size as u64)
    );
    assert!(events
        .windows(2)
        .all(|p| p[0].bytes_sent <= p[1].bytes_sent));
    let per_sec = events.len() as f64 / took.as_secs_f64();
    assert!(per_sec <= 12.0, "{} events in {took:?}", events.len());
    assert!(events.len() >= 5, "progress was reported: {}", events.len());
}

#[tokio::test]
async fn a_dropped_connection_is_retryable_and_the_same_url_works_again() {
    let w = start(SandboxConfig::default().fail_put_first(1));
    let path = file("clip.mp4");
    let size = std::fs::metadata(&path).unwrap().len();
    let put = video_session(&w, size).await;
    let err = w
        .transfer
        .put_file(&path, &target(&put, size), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Api(ApiError::Network {
                kind: NetworkKind::Reset,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(
        !err.to_string().contains("X-Amz") && !err.to_string().contains("Signature="),
        "{err}"
    );
    let policy = RetryPolicy {
        base: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    let again = target(&put, size);
    policy
        .run(|_| w.transfer.put_file(&path, &again, None))
        .await
        .expect("the retry on the same URL succeeds");
}

#[tokio::test]
async fn a_file_that_shrinks_mid_upload_fails_clearly() {
    let w = start(SandboxConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let size = 2 << 20;
    let path = raw_file(dir.path(), "b.bin", size);
    let put = video_session(&w, size as u64).await;
    let transfer = w
        .transfer
        .clone()
        .with_limiter(BandwidthLimiter::new(1 << 20));
    let p = path.clone();
    let cutter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
    });
    let err = transfer
        .put_file(&path, &target(&put, size as u64), None)
        .await
        .unwrap_err();
    cutter.await.unwrap();
    assert!(matches!(err, TransferError::FileChanged { .. }), "{err:?}");
    assert_eq!(err.code(), "file_changed");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("shrank"), "{err}");
}

#[tokio::test]
async fn a_file_that_grows_mid_upload_fails_clearly() {
    let w = start(SandboxConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let size = 1 << 20;
    let path = raw_file(dir.path(), "c.bin", size);
    let put = video_session(&w, size as u64).await;
    let transfer = w
        .transfer
        .clone()
        .with_limiter(BandwidthLimiter::new(1 << 20));
    let p = path.clone();
    let appender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"more bytes from a still-running export")
            .unwrap();
    });
    let err = transfer
        .put_file(&path, &target(&put, size as u64), None)
        .await
        .unwrap_err();
    appender.await.unwrap();
    assert!(matches!(err, TransferError::FileChanged { .. }), "{err:?}");
}

#[tokio::test]
async fn a_size_other_than_the_declared_one_is_refused_before_sending() {
    let w = start(SandboxConfig::default());
    let path = file("red.jpg");
    let size = std::fs::metadata(&path).unwrap().len();
    let put = video_session(&w, size + 1).await;
    let err = w
        .transfer
        .put_file(&path, &target(&put, size + 1), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "file_changed", "{err:?}");
    let puts = w.state().await["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "PUT")
        .count();
    assert_eq!(puts, 0, "nothing was sent");
}

#[tokio::test]
async fn one_limiter_caps_concurrent_puts_together() {
    let w = start(SandboxConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let size = 1 << 20;
    let limiter = BandwidthLimiter::new(2 << 20);
    let transfer = w.transfer.clone().with_limiter(limiter);
    let mut jobs = Vec::new();
    let started = Instant::now();
    for i in 0..3 {
        let path = raw_file(dir.path(), &format!("p{i}.bin"), size);
        let put = video_session(&w, size as u64).await;
        let transfer = transfer.clone();
        jobs.push(tokio::spawn(async move {
            transfer
                .put_file(&path, &target(&put, size as u64), None)
                .await
        }));
    }
    for j in jobs {
        j.await.unwrap().expect("PUT");
    }
    // 3 MiB through one 2 MiB/s bucket (0.5 MiB burst) takes ≥ 1.25 s, not 0.5 s each.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1150), "{took:?}");
}
