//! [`ApiError`]: every way a Layers, Loops or storage call can fail, as variants a caller can act
//! on without parsing messages. Built from responses by [`super::envelope`]; each has a stable
//! [`ApiError::code`], a retry verdict, and a Display that says what to do next.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

use crate::api::types::QuotaDetails;

/// Which remote service an error came from, where the advice differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The Layers API.
    Layers,
    /// The Loops API.
    Loops,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Layers => "Layers",
            Service::Loops => "Loops",
        })
    }
}

/// What kind of transport failure happened (all retryable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    /// Could not connect (refused, DNS, TLS).
    Connect,
    /// The request or the body stalled past its time limit.
    Timeout,
    /// The connection broke mid-request or mid-response.
    Reset,
}

/// A failed API, Loops or storage call. Messages never contain the API key: the client scrubs
/// every text field with [`ApiError::scrub_secret`] before handing an error out.
#[derive(Debug, Error)]
pub enum ApiError {
    /// `422 VALIDATION` / `VALIDATION_FAILED`, or a Loops `400`: the request itself is wrong.
    #[error("Rejected as invalid: {message}{}. Fix the input; retrying unchanged fails again.{}", issues_suffix(.details), rid(.request_id))]
    Validation {
        message: String,
        details: Value,
        request_id: Option<String>,
    },
    /// `409 UPLOAD_QUOTA_EXCEEDED`: the project is full; `usage` is absent only if the server
    /// broke its promise to always send it.
    #[error("{}{}", quota_text(.usage), rid(.request_id))]
    QuotaExceeded {
        usage: Option<QuotaDetails>,
        request_id: Option<String>,
    },
    /// `409 UPLOAD_INCOMPLETE`: finalize came before every PUT landed.
    #[error("Finalize came before every file was uploaded (missing: {}). Upload the missing file again, then finalize.{}", .missing_key.as_deref().unwrap_or("not named by the server"), rid(.request_id))]
    UploadIncomplete {
        /// Storage key of the file that did not land, from details or else the message.
        missing_key: Option<String>,
        message: String,
        request_id: Option<String>,
    },
    /// `409 CONFLICT`: the session can no longer be finalized (reaped, or changed mid-call).
    #[error("This upload session can no longer be finalized ({message}). Start a new upload session.{}", rid(.request_id))]
    Conflict {
        message: String,
        request_id: Option<String>,
    },
    /// `413 PAYLOAD_TOO_LARGE`: a file is over its per-type cap.
    #[error("File too large: {}{} is over the {} cap{}. Export a smaller file.{}", .url.as_deref().unwrap_or("a file"), .content_type.as_deref().map(|t| format!(" ({t})")).unwrap_or_default(), .max_bytes.map(crate::media::human_bytes).unwrap_or_else(|| "size".into()), msg_suffix(.message), rid(.request_id))]
    PayloadTooLarge {
        /// The fetched URL (URL-fetch) or the storage key (finalize) of the file.
        url: Option<String>,
        max_bytes: Option<u64>,
        content_type: Option<String>,
        message: String,
        request_id: Option<String>,
    },
    /// `502 SCRAPE_FAILED`: Layers could not fetch a URL (down, timed out, expired signature).
    #[error("Layers could not fetch the media URL ({message}). Check that it is reachable and, if signed, valid for at least 15 minutes; then retry.{}", rid(.request_id))]
    ScrapeFailed {
        message: String,
        request_id: Option<String>,
    },
    /// `429 RATE_LIMITED`: wait `retry_after` (from the `Retry-After` header) before retrying.
    #[error("Rate limited by Layers: {}.{}", retry_text(.retry_after), rid(.request_id))]
    RateLimited {
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },
    /// `409 IDEMPOTENCY_CONFLICT`: an Idempotency-Key was reused with a different body.
    #[error("This Idempotency-Key was already used with a different request ({message}). A new operation needs a new key.{}", rid(.request_id))]
    IdempotencyConflict {
        message: String,
        request_id: Option<String>,
    },
    /// `401`: the key is missing, wrong or revoked (Loops: or the team lacks the content API).
    #[error("{}{}", unauth_text(*.service), rid(.request_id))]
    Unauthenticated {
        service: Service,
        message: String,
        request_id: Option<String>,
    },
    /// `403 FORBIDDEN_SCOPE`: the key works but lacks the scope this call needs.
    #[error("The API key lacks the permission this call needs ({message}). Use a key with the content:write and projects:write scopes.{}", rid(.request_id))]
    ForbiddenScope {
        message: String,
        request_id: Option<String>,
    },
    /// `404`: the project/container/upload is not in this key's organization (or does not exist).
    #[error("Not found on {service}: {message}. Check the id, and that it belongs to this key's organization.{}", rid(.request_id))]
    NotFound {
        service: Service,
        message: String,
        request_id: Option<String>,
    },
    /// A `5xx` with the error envelope.
    #[error("{service} had a server error (HTTP {status}{}): {message}. Retrying is safe.{}", code_part(.code), rid(.request_id))]
    Server {
        service: Service,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// Connect/timeout/reset: the request may or may not have arrived; retry with the same key.
    #[error("Could not reach {host}: {detail}. Check the network; retrying is safe.")]
    Network {
        kind: NetworkKind,
        host: String,
        detail: String,
    },
    /// A `4xx`/`5xx` from a presigned storage URL. A `4xx` means the URL is unusable.
    #[error("Storage refused the upload (HTTP {status}{}). {}", excerpt_suffix(.excerpt), storage_advice(*.status))]
    Storage { status: u16, excerpt: String },
    /// Loops `400` listing the content types it accepts.
    #[error("Loops does not accept this file type ({message}). It takes: {}.", .supported.join(", "))]
    LoopsUnsupportedType {
        message: String,
        supported: Vec<String>,
    },
    /// Loops `413`: the asset is over its size limit.
    #[error("File too large for Loops: the limit is {}. Use a smaller image.", .max_bytes.map(|b| format!("{b} bytes")).unwrap_or_else(|| "4,000,000 bytes".into()))]
    LoopsTooLarge {
        message: String,
        max_bytes: Option<u64>,
    },
    /// Loops `429`: the per-window upload count is used up (no reset time is given).
    #[error("Loops upload limit reached: {} uploads per {} h. Wait for the window to pass or ask Loops support to raise it.", .max_uploads.map(|n| n.to_string()).unwrap_or_else(|| "50".into()), .window_hours.map(|n| n.to_string()).unwrap_or_else(|| "24".into()))]
    LoopsUploadLimit {
        message: String,
        max_uploads: Option<u64>,
        window_hours: Option<u64>,
    },
    /// A well-formed error envelope with a code this client does not know.
    #[error("{service} refused the request (HTTP {status}{}): {message}.{}", code_part(.code), rid(.request_id))]
    Rejected {
        service: Service,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// A body that is not the JSON we expected (HTML error page, truncated, empty, wrong shape).
    #[error("Unexpected response from the server (HTTP {status}): {excerpt}")]
    Unexpected { status: u16, excerpt: String },
    /// The base URL given for the API cannot be used.
    #[error("Invalid API base URL {url:?}: {reason}. Give it like https://api.layers.com or http://127.0.0.1:PORT.")]
    InvalidBaseUrl { url: String, reason: String },
}

impl ApiError {
    /// Stable snake_case code the UI and the queue branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } => "validation",
            ApiError::QuotaExceeded { .. } => "quota_exceeded",
            ApiError::UploadIncomplete { .. } => "upload_incomplete",
            ApiError::Conflict { .. } => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::ScrapeFailed { .. } => "scrape_failed",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::IdempotencyConflict { .. } => "idempotency_conflict",
            ApiError::Unauthenticated { .. } => "unauthenticated",
            ApiError::ForbiddenScope { .. } => "forbidden_scope",
            ApiError::NotFound { .. } => "not_found",
            ApiError::Server { .. } => "server_error",
            ApiError::Network { .. } => "network",
            ApiError::Storage { .. } => "storage_rejected",
            ApiError::LoopsUnsupportedType { .. } => "loops_unsupported_type",
            ApiError::LoopsTooLarge { .. } => "loops_too_large",
            ApiError::LoopsUploadLimit { .. } => "loops_upload_limit",
            ApiError::Rejected { .. } => "rejected",
            ApiError::Unexpected { .. } => "unexpected_response",
            ApiError::InvalidBaseUrl { .. } => "invalid_base_url",
        }
    }

    /// True when the same request (same Idempotency-Key) may succeed later: 5xx, network,
    /// 429. Every 4xx is final unless the input changes (README: never retry them unchanged).
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Server { .. } | ApiError::Network { .. } | ApiError::RateLimited { .. } => {
                true
            }
            ApiError::Storage { status, .. } | ApiError::Unexpected { status, .. } => {
                *status >= 500
            }
            _ => false,
        }
    }

    /// The server's request id, for support tickets.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ApiError::Validation { request_id, .. }
            | ApiError::QuotaExceeded { request_id, .. }
            | ApiError::UploadIncomplete { request_id, .. }
            | ApiError::Conflict { request_id, .. }
            | ApiError::PayloadTooLarge { request_id, .. }
            | ApiError::ScrapeFailed { request_id, .. }
            | ApiError::RateLimited { request_id, .. }
            | ApiError::IdempotencyConflict { request_id, .. }
            | ApiError::Unauthenticated { request_id, .. }
            | ApiError::ForbiddenScope { request_id, .. }
            | ApiError::NotFound { request_id, .. }
            | ApiError::Server { request_id, .. }
            | ApiError::Rejected { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// How long the server asked us to wait, when it said (`429 Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Scrubs the whole key and, on its own, its secret segment (a server may echo either).
    /// A segment too short to be a real secret is left alone rather than mangle every message.
    pub fn scrub_key(self, key: &crate::secrets::ApiKey) -> ApiError {
        let scrubbed = self.scrub_secret(key.expose());
        let part = key.expose_secret_part();
        if part.len() >= 8 {
            scrubbed.scrub_secret(part)
        } else {
            scrubbed
        }
    }

    /// Replaces every occurrence of `secret` in the error's text with `[redacted]`, so a server
    /// that echoes the key back cannot make us print it.
    pub fn scrub_secret(mut self, secret: &str) -> ApiError {
        if secret.is_empty() {
            return self;
        }
        let s = |t: &mut String| {
            if t.contains(secret) {
                *t = t.replace(secret, "[redacted]");
            }
        };
        match &mut self {
            ApiError::Validation {
                message,
                details,
                request_id,
            } => {
                s(message);
                scrub_value(details, secret);
                request_id.as_mut().map(s);
            }
            ApiError::UploadIncomplete {
                missing_key,
                message,
                request_id,
            } => {
                s(message);
                missing_key.as_mut().map(s);
                request_id.as_mut().map(s);
            }
            ApiError::PayloadTooLarge {
                url,
                content_type,
                message,
                request_id,
                ..
            } => {
                s(message);
                url.as_mut().map(s);
                content_type.as_mut().map(s);
                request_id.as_mut().map(s);
            }
            ApiError::Conflict {
                message,
                request_id,
            }
            | ApiError::ScrapeFailed {
                message,
                request_id,
            }
            | ApiError::IdempotencyConflict {
                message,
                request_id,
            }
            | ApiError::ForbiddenScope {
                message,
                request_id,
            }
            | ApiError::Unauthenticated {
                message,
                request_id,
                ..
            }
            | ApiError::NotFound {
                message,
                request_id,
                ..
            } => {
                s(message);
                request_id.as_mut().map(s);
            }
            ApiError::Server {
                code,
                message,
                request_id,
                ..
            }
            | ApiError::Rejected {
                code,
                message,
                request_id,
                ..
            } => {
                s(code);
                s(message);
                request_id.as_mut().map(s);
            }
            ApiError::QuotaExceeded { request_id, .. }
            | ApiError::RateLimited { request_id, .. } => {
                request_id.as_mut().map(s);
            }
            ApiError::Network { host, detail, .. } => {
                s(host);
                s(detail);
            }
            ApiError::Storage { excerpt, .. } | ApiError::Unexpected { excerpt, .. } => s(excerpt),
            ApiError::LoopsUnsupportedType { message, supported } => {
                s(message);
                supported.iter_mut().for_each(s);
            }
            ApiError::LoopsTooLarge { message, .. }
            | ApiError::LoopsUploadLimit { message, .. } => s(message),
            ApiError::InvalidBaseUrl { url, reason } => {
                s(url);
                s(reason);
            }
        }
        self
    }
}

/// Recursively replaces `secret` in every string of a JSON value.
fn scrub_value(v: &mut Value, secret: &str) {
    match v {
        Value::String(t) if t.contains(secret) => *t = t.replace(secret, "[redacted]"),
        Value::Array(items) => items.iter_mut().for_each(|i| scrub_value(i, secret)),
        Value::Object(map) => map.values_mut().for_each(|i| scrub_value(i, secret)),
        _ => {}
    }
}

fn rid(request_id: &Option<String>) -> String {
    request_id
        .as_deref()
        .map(|r| format!(" (request id {r})"))
        .unwrap_or_default()
}

fn code_part(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(", {code}")
    }
}

fn msg_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(" ({message})")
    }
}

fn excerpt_suffix(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else {
        format!(": {excerpt}")
    }
}

/// `details.issues[].message` (or plain strings) joined, as the platform-fit 422 carries them.
fn issues_suffix(details: &Value) -> String {
    let Some(issues) = details.get("issues").and_then(Value::as_array) else {
        return String::new();
    };
    let texts: Vec<&str> = issues
        .iter()
        .filter_map(|i| {
            i.get("message")
                .and_then(Value::as_str)
                .or_else(|| i.as_str())
        })
        .collect();
    if texts.is_empty() {
        String::new()
    } else {
        format!(" — {}", texts.join("; "))
    }
}

fn quota_text(usage: &Option<QuotaDetails>) -> String {
    match usage {
        Some(q) => format!(
            "Quota reached: {}/{} uploads, {}/{} GB. Archive uploads in the Layers app, then retry.",
            q.current_uploads,
            q.max_uploads,
            gigabytes(q.current_bytes),
            gigabytes(q.max_bytes)
        ),
        None => "Quota reached for this project (the server did not say the usage). Archive \
                 uploads in the Layers app, then retry."
            .into(),
    }
}

/// Binary gigabytes with at most one decimal, trailing ".0" dropped ("17.4", "25").
fn gigabytes(bytes: u64) -> String {
    let gb = bytes as f64 / (1u64 << 30) as f64;
    let text = format!("{gb:.1}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

fn retry_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!("wait {} s before retrying", d.as_secs_f64().ceil() as u64),
        None => "wait a minute before retrying".into(),
    }
}

fn unauth_text(service: Service) -> &'static str {
    match service {
        Service::Layers => {
            "Layers refused the API key (401). Run `layers-upload login` with a valid key, or fix LAYERS_API_KEY."
        }
        Service::Loops => {
            "Loops refused the API key (401), or the team has no content API. Run `layers-upload login --loops` with a valid key, or fix LOOPS_API_KEY."
        }
    }
}

fn storage_advice(status: u16) -> &'static str {
    if (400..500).contains(&status) {
        "This upload URL is unusable (expired, or the signature does not match the request): start a new upload session."
    } else {
        "The storage service failed; retrying the PUT is safe."
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_message_matches_the_style_guide() {
        let e = ApiError::QuotaExceeded {
            usage: Some(QuotaDetails {
                current_uploads: 250,
                max_uploads: 250,
                current_bytes: 18_643_214_336,
                max_bytes: 26_843_545_600,
            }),
            request_id: None,
        };
        assert_eq!(
            e.to_string(),
            "Quota reached: 250/250 uploads, 17.4/25 GB. Archive uploads in the Layers app, then retry."
        );
    }

    #[test]
    fn loops_errors_without_a_code_read_cleanly() {
        let e = ApiError::Server {
            service: Service::Loops,
            status: 503,
            code: String::new(),
            message: "down".into(),
            request_id: None,
        };
        assert_eq!(
            e.to_string(),
            "Loops had a server error (HTTP 503): down. Retrying is safe."
        );
    }

    #[test]
    fn scrub_removes_the_secret_everywhere() {
        let secret = "lp_live_abc_SECRETSECRET";
        let e = ApiError::Validation {
            message: format!("bad header {secret}"),
            details: serde_json::json!({"echo": [secret], "n": 1}),
            request_id: Some("req_1".into()),
        }
        .scrub_secret(secret);
        assert!(!format!("{e} {e:?}").contains("SECRETSECRET"));
        let e = ApiError::Unexpected {
            status: 500,
            excerpt: format!("<html>{secret}</html>"),
        }
        .scrub_secret(secret);
        assert!(!format!("{e} {e:?}").contains("SECRETSECRET"));
    }
}
