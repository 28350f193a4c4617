//! Errors: [`SandboxError`] for starting the server, [`ApiError`] for a Layers error envelope,
//! [`LoopsError`] for Loops' `{success:false, message}` body, [`StorageError`] for S3-style XML.

use std::io;
use std::path::PathBuf;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use layers_uploader::api::types::{ErrorBody, ErrorEnvelope, LoopsErrorBody};
use serde_json::{json, Value};

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The port is taken or not ours to bind.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for (0 = ephemeral).
        port: u16,
        /// What the OS said.
        source: io::Error,
    },
    /// The data dir could not be created or written.
    #[error("cannot prepare the data dir {path}: {source}")]
    DataDir {
        /// The directory that failed.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The previous run's state file could not be read back (its message names the file).
    #[error("cannot reload the sandbox state: {0}")]
    State(String),
    /// The tokio runtime or its thread could not be created.
    #[error("cannot start the server runtime: {0}")]
    Runtime(io::Error),
}

/// A fresh `req_…` id, so every error and log line can be matched up.
pub fn request_id() -> String {
    format!("req_{}", uuid::Uuid::new_v4().simple())
}

/// One Layers error: status, stable code, human message, code-specific details.
#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable error code clients branch on (`VALIDATION`, `UPLOAD_INCOMPLETE`, …).
    pub code: &'static str,
    /// What happened and what to do, for people.
    pub message: String,
    /// Code-specific details (quota figures, the offending URL, …); boxed to keep errors small.
    pub details: Box<Value>,
    /// Extra response headers (`Retry-After`, rate-limit headers).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with empty details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Box::new(json!({})),
            headers: Vec::new(),
        }
    }

    /// Attaches code-specific details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Box::new(details);
        self
    }

    /// Adds a response header (e.g. `Retry-After`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// `422 VALIDATION`, the content endpoints' validation code.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION", message)
    }

    /// `422 VALIDATION_FAILED`, the media endpoints' spelling of the same thing.
    pub fn validation_failed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            message,
        )
    }

    /// `404 NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// `409 CONFLICT`: the thing is no longer in a state that allows the call.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    /// `413 PAYLOAD_TOO_LARGE` with the details the docs promise.
    pub fn too_large(message: impl Into<String>, details: Value) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", message).with_details(details)
    }

    /// `500 INTERNAL`: our fault (or an injected failure).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let id = request_id();
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: self.code.to_string(),
                message: self.message,
                request_id: Some(id.clone()),
                details: *self.details,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&id) {
            headers.insert("x-request-id", v);
        }
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// A Loops error: status plus the documented `{success:false, message, …}` body.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {}", body.message)]
pub struct LoopsError {
    /// HTTP status.
    pub status: StatusCode,
    /// The documented Loops error body.
    pub body: LoopsErrorBody,
}

impl LoopsError {
    /// An error with only a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        LoopsError {
            status,
            body: LoopsErrorBody {
                success: false,
                message: message.into(),
                supported_content_types: None,
                max_bytes: None,
                max_uploads: None,
                window_hours: None,
            },
        }
    }
}

impl IntoResponse for LoopsError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// A storage-layer refusal, answered the way S3/R2 do: an XML `<Error>` document.
#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct StorageError {
    /// HTTP status.
    pub status: StatusCode,
    /// S3 error code (`SignatureDoesNotMatch`, `AccessDenied`, …).
    pub code: &'static str,
    /// S3-style message.
    pub message: String,
}

impl StorageError {
    /// A refusal with an S3 error code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        StorageError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let id = request_id();
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{id}</RequestId></Error>",
            self.code,
            xml_escape(&self.message)
        );
        (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/xml")],
            xml,
        )
            .into_response()
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
