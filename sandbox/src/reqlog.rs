//! The request log behind `/_sandbox/state`: method, path without the query (presigned URLs
//! carry signatures there), status, the key id only, and whether any auth header was sent.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::App;
use crate::auth;
use crate::error::request_id;
use crate::state::RequestRecord;

/// Middleware around everything: logs the request and stamps `X-Request-Id`.
pub async fn record(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let auth_header_present = auth::auth_header_present(req.headers());
    let key_id = auth::key_label(req.headers());
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let mut response = next.run(req).await;
    // A refusal may leave the request body unread; say we close, so no client reuses a
    // connection the server is about to drop (as S3 does on errors).
    if has_body && !response.status().is_success() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if !response.headers().contains_key("x-request-id") {
        if let Ok(v) = HeaderValue::from_str(&request_id()) {
            response.headers_mut().insert("x-request-id", v);
        }
    }
    let status = response.status().as_u16();
    if path.starts_with("/_sandbox/") {
        return response;
    }
    tracing::info!(%method, %path, status, key_id = key_id.as_deref().unwrap_or("-"), "request");
    app.world().log_request(RequestRecord {
        method,
        path,
        status,
        key_id,
        auth_header_present,
        at_ms: app.now_ms(),
    });
    response
}
