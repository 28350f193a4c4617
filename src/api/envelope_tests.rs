//! Every documented error row, plus the bodies a real network hands you (HTML, truncated, empty).

use std::time::Duration;

use serde_json::json;

use super::*;

fn env(code: &str, message: &str, details: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"error": {"code": code, "message": message, "requestId": "req_42", "details": details}}))
        .unwrap()
}

#[test]
fn validation_and_validation_failed_are_one_kind() {
    for (status, code) in [(422, "VALIDATION"), (422, "VALIDATION_FAILED")] {
        let e = layers_error(
            status,
            None,
            &env(code, "Slideshows are images only.", Value::Null),
        );
        assert!(matches!(e, ApiError::Validation { .. }), "{code}: {e:?}");
        assert_eq!(e.code(), "validation");
        assert!(!e.is_retryable());
        assert_eq!(e.request_id(), Some("req_42"));
        assert!(e.to_string().contains("Slideshows are images only."), "{e}");
    }
}

#[test]
fn platform_fit_issues_show_in_the_message() {
    let details = json!({"platform": "instagram", "issues": [{"path": "targets", "message": "800x800 image resolution too low (min 1080px on the short edge)"}]});
    let e = layers_error(
        422,
        None,
        &env("VALIDATION", "does not fit instagram", details),
    );
    assert!(
        e.to_string().contains("800x800 image resolution too low"),
        "{e}"
    );
}

#[test]
fn quota_carries_usage_and_limits() {
    let details = json!({"currentUploads": 250, "maxUploads": 250, "currentBytes": 18643214336u64, "maxBytes": 26843545600u64});
    let e = layers_error(
        409,
        None,
        &env("UPLOAD_QUOTA_EXCEEDED", "Upload quota reached", details),
    );
    let ApiError::QuotaExceeded { usage: Some(q), .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((q.current_uploads, q.max_uploads), (250, 250));
    assert_eq!(q.max_bytes, 26_843_545_600);
    assert_eq!(e.code(), "quota_exceeded");
    assert!(e
        .to_string()
        .starts_with("Quota reached: 250/250 uploads, 17.4/25 GB."));
    let e = layers_error(409, None, &env("UPLOAD_QUOTA_EXCEEDED", "x", Value::Null));
    assert!(matches!(e, ApiError::QuotaExceeded { usage: None, .. }));
}

#[test]
fn upload_incomplete_takes_the_key_from_details_first() {
    let key = "public-media/content-container/a3f8/media/upload-2.png";
    let e = layers_error(
        409,
        None,
        &env(
            "UPLOAD_INCOMPLETE",
            "Missing public-media/other (did the PUT complete?)",
            json!({"missingKey": key}),
        ),
    );
    assert!(
        matches!(&e, ApiError::UploadIncomplete { missing_key: Some(k), .. } if k == key),
        "{e:?}"
    );
    let e = layers_error(
        409,
        None,
        &env(
            "UPLOAD_INCOMPLETE",
            "x",
            json!({"missingKeys": [key, "b/c"]}),
        ),
    );
    assert!(
        matches!(&e, ApiError::UploadIncomplete { missing_key: Some(k), .. } if k == key),
        "{e:?}"
    );
    assert_eq!(e.code(), "upload_incomplete");
    assert!(e.to_string().contains(key));
}

#[test]
fn upload_incomplete_falls_back_to_the_message() {
    let msg = "Upload not found at public-media/content-container/a3f8/media/upload-1.mp4. Did the PUT complete?";
    let e = layers_error(409, None, &env("UPLOAD_INCOMPLETE", msg, Value::Null));
    assert!(
        matches!(&e, ApiError::UploadIncomplete { missing_key: Some(k), .. } if k == "public-media/content-container/a3f8/media/upload-1.mp4"),
        "{e:?}"
    );
    let quoted = "File 'public-media/x/upload-1.mp4' missing (did the PUT complete?)";
    let e = layers_error(409, None, &env("UPLOAD_INCOMPLETE", quoted, Value::Null));
    assert!(
        matches!(&e, ApiError::UploadIncomplete { missing_key: Some(k), .. } if k == "public-media/x/upload-1.mp4")
    );
    let e = layers_error(
        409,
        None,
        &env("UPLOAD_INCOMPLETE", "did the PUT complete?", Value::Null),
    );
    assert!(matches!(
        &e,
        ApiError::UploadIncomplete {
            missing_key: None,
            ..
        }
    ));
}

#[test]
fn conflict_means_start_a_new_session() {
    let e = layers_error(
        409,
        None,
        &env("CONFLICT", "Session was reaped", Value::Null),
    );
    assert!(matches!(e, ApiError::Conflict { .. }));
    assert_eq!(e.code(), "conflict");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("Start a new upload session"));
}

#[test]
fn payload_too_large_reads_url_cap_and_type() {
    let details = json!({"url": "https://cdn.example/a.mp4", "maxBytes": 104857600, "contentType": "video/mp4"});
    let e = layers_error(413, None, &env("PAYLOAD_TOO_LARGE", "too big", details));
    let ApiError::PayloadTooLarge {
        url,
        max_bytes,
        content_type,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(url.as_deref(), Some("https://cdn.example/a.mp4"));
    assert_eq!(*max_bytes, Some(104_857_600));
    assert_eq!(content_type.as_deref(), Some("video/mp4"));
    assert!(e.to_string().contains("100MB"), "{e}");
    // contentType is absent when the stream was cut off mid-fetch.
    let e = layers_error(
        413,
        None,
        &env(
            "PAYLOAD_TOO_LARGE",
            "cut",
            json!({"url": "u", "maxBytes": 1}),
        ),
    );
    assert!(matches!(
        e,
        ApiError::PayloadTooLarge {
            content_type: None,
            ..
        }
    ));
}

#[test]
fn scrape_failed_is_not_retried_unchanged() {
    let e = layers_error(
        502,
        None,
        &env("SCRAPE_FAILED", "upstream 403", Value::Null),
    );
    assert!(matches!(e, ApiError::ScrapeFailed { .. }));
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("15 minutes"));
}

#[test]
fn rate_limited_reads_retry_after() {
    let e = layers_error(
        429,
        Some("7"),
        &env("RATE_LIMITED", "slow down", Value::Null),
    );
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert!(e.is_retryable());
    assert_eq!(e.code(), "rate_limited");
    assert!(e.to_string().contains("wait 7 s"), "{e}");
    let e = layers_error(429, Some("1.5"), b"Too Many Requests");
    assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
    let e = layers_error(429, Some("soon"), &env("RATE_LIMITED", "x", Value::Null));
    assert_eq!(e.retry_after(), None);
}

#[test]
fn retry_after_as_an_http_date_is_measured_from_the_servers_clock() {
    let date = "Sun, 06 Nov 1994 08:49:37 GMT";
    let server_now = 784_111_777_000 - 3_000;
    assert_eq!(
        parse_retry_after_at(date, server_now),
        Some(Duration::from_secs(3))
    );
    assert_eq!(
        parse_retry_after_at(date, server_now + 60_000),
        Some(Duration::ZERO),
        "a date already past means now"
    );
    assert_eq!(
        parse_retry_after_at(
            &crate::api::clock::format_http_date(server_now + 400 * 86_400_000),
            server_now
        ),
        Some(Duration::from_secs(86_400)),
        "an absurd date is capped"
    );
    assert_eq!(parse_retry_after_at("next tuesday", server_now), None);
    assert_eq!(parse_retry_after_at("-5", server_now), None);
}

#[test]
fn auth_scope_and_not_found_rows() {
    let e = layers_error(401, None, &env("UNAUTHENTICATED", "bad key", Value::Null));
    assert!(matches!(
        e,
        ApiError::Unauthenticated {
            service: Service::Layers,
            ..
        }
    ));
    assert!(e.to_string().contains("layers-upload login"));
    let e = layers_error(
        403,
        None,
        &env("FORBIDDEN_SCOPE", "needs content:write", Value::Null),
    );
    assert_eq!(e.code(), "forbidden_scope");
    let e = layers_error(
        404,
        None,
        &env("NOT_FOUND", "no such container", Value::Null),
    );
    assert_eq!(e.code(), "not_found");
    let e = layers_error(
        409,
        None,
        &env("IDEMPOTENCY_CONFLICT", "key reused", Value::Null),
    );
    assert_eq!(e.code(), "idempotency_conflict");
    assert!(!e.is_retryable());
}

#[test]
fn server_errors_are_retryable() {
    let e = layers_error(503, None, &env("INTERNAL", "db down", Value::Null));
    assert!(matches!(e, ApiError::Server { status: 503, .. }));
    assert!(e.is_retryable());
    let e = layers_error(400, None, &env("BAD_REQUEST", "huh", Value::Null));
    assert!(matches!(e, ApiError::Rejected { status: 400, .. }));
    assert!(!e.is_retryable());
}

#[test]
fn non_json_truncated_and_empty_bodies_never_panic() {
    let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
    let e = layers_error(502, None, html);
    assert!(
        matches!(&e, ApiError::Unexpected { status: 502, excerpt } if excerpt.contains("502 Bad Gateway"))
    );
    assert!(e.is_retryable());
    let e = layers_error(422, None, br#"{"error":{"code":"VALIDATION","mess"#);
    assert!(matches!(e, ApiError::Unexpected { status: 422, .. }));
    assert!(!e.is_retryable());
    let e = layers_error(500, None, b"");
    assert!(matches!(&e, ApiError::Unexpected { excerpt, .. } if excerpt == "(empty body)"));
    let e = layers_error(400, None, b"{\"error\":\"plain string\"}");
    assert!(matches!(e, ApiError::Unexpected { .. }));
    let e = layers_error(400, None, &[0xff, 0xfe, 0x00, 0x41]);
    assert!(matches!(e, ApiError::Unexpected { .. }));
    let long = "x".repeat(10_000);
    let ApiError::Unexpected { excerpt, .. } = layers_error(500, None, long.as_bytes()) else {
        panic!()
    };
    assert_eq!(excerpt.chars().count(), EXCERPT_CHARS + 1);
}

#[test]
fn loops_rows() {
    let e = loops_error(400, br#"{"success":false,"message":"Unsupported contentType.","supportedContentTypes":["image/jpeg","image/png","image/gif","image/webp"]}"#);
    assert!(matches!(&e, ApiError::LoopsUnsupportedType { supported, .. } if supported.len() == 4));
    assert!(e.to_string().contains("image/gif"));
    let e = loops_error(400, br#"{"success":false,"message":"id missing"}"#);
    assert_eq!(e.code(), "validation");
    let e = loops_error(
        413,
        br#"{"success":false,"message":"too big","maxBytes":4000000}"#,
    );
    assert!(matches!(
        e,
        ApiError::LoopsTooLarge {
            max_bytes: Some(4_000_000),
            ..
        }
    ));
    let e = loops_error(429, br#"{"success":false,"message":"Upload limit exceeded: max 50 uploads per 24 hours.","maxUploads":50,"windowHours":24}"#);
    assert!(matches!(
        e,
        ApiError::LoopsUploadLimit {
            max_uploads: Some(50),
            window_hours: Some(24),
            ..
        }
    ));
    assert!(e.to_string().contains("50 uploads per 24 h"), "{e}");
    assert!(!e.is_retryable());
    let e = loops_error(401, br#"{"success":false,"message":"Invalid API key"}"#);
    assert!(matches!(
        e,
        ApiError::Unauthenticated {
            service: Service::Loops,
            ..
        }
    ));
    let e = loops_error(404, br#"{"success":false,"message":"Upload not found"}"#);
    assert!(matches!(
        e,
        ApiError::NotFound {
            service: Service::Loops,
            ..
        }
    ));
    let e = loops_error(500, b"oops");
    assert!(matches!(e, ApiError::Unexpected { status: 500, .. }));
}

#[test]
fn storage_errors_say_whether_the_url_is_dead() {
    let e = storage_error(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>");
    assert_eq!(e.code(), "storage_rejected");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("start a new upload session"), "{e}");
    assert!(e.to_string().contains("SignatureDoesNotMatch"));
    assert!(storage_error(503, b"").is_retryable());
}

#[test]
fn every_code_is_snake_case() {
    let samples = [
        layers_error(422, None, &env("VALIDATION", "", Value::Null)),
        layers_error(502, None, b"x"),
        loops_error(429, b""),
        storage_error(400, b""),
    ];
    for e in samples {
        assert!(e.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    }
}
