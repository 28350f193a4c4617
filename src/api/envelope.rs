//! Turns an error response (status, `Retry-After`, body bytes) into an [`ApiError`]. Lenient by
//! design: any body — HTML, truncated JSON, nothing at all — yields an error value, never a panic.

use std::time::Duration;

use serde_json::Value;

use super::error::{ApiError, Service};
use crate::api::types::QuotaDetails;

/// Longest body excerpt an error carries (characters).
pub const EXCERPT_CHARS: usize = 300;

/// Error from a Layers API response with a non-2xx status; `Retry-After` is judged against
/// the local clock (the client uses [`layers_error_waiting`] with the server's own `Date`).
pub fn layers_error(status: u16, retry_after: Option<&str>, body: &[u8]) -> ApiError {
    layers_error_waiting(status, retry_after.and_then(parse_retry_after), body)
}

/// Error from a Layers API response whose `Retry-After` is already a wait.
pub fn layers_error_waiting(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
    let Some((code, message, request_id, details)) = envelope_fields(body) else {
        if status == 429 {
            return ApiError::RateLimited {
                retry_after,
                request_id: None,
            };
        }
        return ApiError::Unexpected {
            status,
            excerpt: excerpt(body),
        };
    };
    match code.as_str() {
        "VALIDATION" | "VALIDATION_FAILED" => ApiError::Validation {
            message,
            details,
            request_id,
        },
        "UPLOAD_QUOTA_EXCEEDED" => ApiError::QuotaExceeded {
            usage: serde_json::from_value::<QuotaDetails>(details).ok(),
            request_id,
        },
        "UPLOAD_INCOMPLETE" => ApiError::UploadIncomplete {
            missing_key: missing_key_from_details(&details)
                .or_else(|| missing_key_from_message(&message)),
            message,
            request_id,
        },
        "CONFLICT" => ApiError::Conflict {
            message,
            request_id,
        },
        "PAYLOAD_TOO_LARGE" => ApiError::PayloadTooLarge {
            url: str_field(&details, "url").or_else(|| str_field(&details, "r2Key")),
            max_bytes: details.get("maxBytes").and_then(Value::as_u64),
            content_type: str_field(&details, "contentType"),
            message,
            request_id,
        },
        "SCRAPE_FAILED" => ApiError::ScrapeFailed {
            message,
            request_id,
        },
        "RATE_LIMITED" => ApiError::RateLimited {
            retry_after,
            request_id,
        },
        "IDEMPOTENCY_CONFLICT" => ApiError::IdempotencyConflict {
            message,
            request_id,
        },
        "UNAUTHENTICATED" => ApiError::Unauthenticated {
            service: Service::Layers,
            message,
            request_id,
        },
        "FORBIDDEN_SCOPE" => ApiError::ForbiddenScope {
            message,
            request_id,
        },
        "NOT_FOUND" => ApiError::NotFound {
            service: Service::Layers,
            message,
            request_id,
        },
        _ => by_status(
            Service::Layers,
            status,
            code,
            message,
            request_id,
            retry_after,
        ),
    }
}

/// Unknown codes fall back to what the status says.
fn by_status(
    service: Service,
    status: u16,
    code: String,
    message: String,
    request_id: Option<String>,
    retry_after: Option<Duration>,
) -> ApiError {
    match status {
        401 => ApiError::Unauthenticated {
            service,
            message,
            request_id,
        },
        404 => ApiError::NotFound {
            service,
            message,
            request_id,
        },
        429 => ApiError::RateLimited {
            retry_after,
            request_id,
        },
        500..=599 => ApiError::Server {
            service,
            status,
            code,
            message,
            request_id,
        },
        _ => ApiError::Rejected {
            service,
            status,
            code,
            message,
            request_id,
        },
    }
}

/// `(code, message, requestId, details)` of a Layers envelope; `None` if the body is not one.
fn envelope_fields(body: &[u8]) -> Option<(String, String, Option<String>, Value)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    let code = e.get("code")?.as_str()?.to_owned();
    let message = str_field(e, "message").unwrap_or_default();
    let request_id = str_field(e, "requestId");
    let details = e.get("details").cloned().unwrap_or(Value::Null);
    Some((code, message, request_id, details))
}

fn str_field(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// The storage key of an incomplete upload, from whichever details field the server used.
fn missing_key_from_details(details: &Value) -> Option<String> {
    const SINGLE: [&str; 4] = ["missingKey", "r2Key", "key", "missing"];
    const LISTS: [&str; 4] = ["missingKeys", "missing", "keys", "r2Keys"];
    SINGLE
        .iter()
        .find_map(|f| str_field(details, f))
        .or_else(|| {
            LISTS.iter().find_map(|f| {
                details
                    .get(*f)?
                    .as_array()?
                    .iter()
                    .find_map(|k| k.as_str().map(str::to_owned))
            })
        })
}

/// Fallback: the first path-like token of the message ("… public-media/…/upload-1.mp4 …").
fn missing_key_from_message(message: &str) -> Option<String> {
    message.split_whitespace().find_map(|token| {
        let t = token.trim_matches(|c: char| "\"'`()[]{}<>,;:?!".contains(c) || c == '.');
        // Only the ends are trimmed, so a sentence's final period goes and the extension stays.
        (t.contains('/') && !t.starts_with("http")).then(|| t.to_owned())
    })
}

/// Error from a Loops API response with a non-2xx status.
pub fn loops_error(status: u16, body: &[u8]) -> ApiError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
    let Some(v) = parsed else {
        return match status {
            429 => ApiError::LoopsUploadLimit {
                message: excerpt(body),
                max_uploads: None,
                window_hours: None,
            },
            _ => ApiError::Unexpected {
                status,
                excerpt: excerpt(body),
            },
        };
    };
    let message = str_field(&v, "message").unwrap_or_default();
    let num = |f: &str| v.get(f).and_then(Value::as_u64);
    match status {
        400 => match v.get("supportedContentTypes").and_then(Value::as_array) {
            Some(list) => ApiError::LoopsUnsupportedType {
                message,
                supported: list
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
            },
            None => ApiError::Validation {
                message,
                details: v,
                request_id: None,
            },
        },
        413 => ApiError::LoopsTooLarge {
            message,
            max_bytes: num("maxBytes"),
        },
        429 => ApiError::LoopsUploadLimit {
            message,
            max_uploads: num("maxUploads"),
            window_hours: num("windowHours"),
        },
        _ => by_status(Service::Loops, status, String::new(), message, None, None),
    }
}

/// Error from a presigned storage URL (its body is usually S3-style XML).
pub fn storage_error(status: u16, body: &[u8]) -> ApiError {
    ApiError::Storage {
        status,
        excerpt: excerpt(body),
    }
}

/// Longest `Retry-After` kept as given; beyond a day it is nonsense and reads as a day (the
/// retry policy caps the wait much lower, and says so).
const RETRY_AFTER_CEILING_SECS: f64 = 86_400.0;

/// `Retry-After` by the local clock: seconds (integer or decimal) or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, crate::api::clock::local_now_ms())
}

/// `Retry-After` as a wait: seconds (integer or decimal), or an HTTP date measured from
/// `server_now_ms` (the same response's `Date`, so a skewed local clock does not matter). A
/// date in the past means "now".
pub fn parse_retry_after_at(value: &str, server_now_ms: i64) -> Option<Duration> {
    let value = value.trim();
    let secs: f64 = match value.parse::<f64>() {
        Ok(secs) => secs,
        Err(_) => {
            let at = crate::api::clock::parse_http_date_ms(value)?;
            (at - server_now_ms).max(0) as f64 / 1000.0
        }
    };
    (secs.is_finite() && secs >= 0.0)
        .then(|| Duration::from_secs_f64(secs.min(RETRY_AFTER_CEILING_SECS)))
}

/// A short, single-line, lossy-UTF-8 excerpt of a body for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return "(empty body)".into();
    }
    match flat.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
