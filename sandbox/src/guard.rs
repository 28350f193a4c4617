//! Private mode (the app's embedded sandbox, [`crate::SandboxConfig::private_key`]): every
//! request must be addressed to our own loopback port (`Host: 127.0.0.1:<port>` or
//! `localhost:<port>`, which a DNS-rebinding page cannot send), and the test surface
//! (`/_sandbox/*`) and stored bytes (`/media/*`) need the sandbox's key. `/v1` checks the key
//! in `auth.rs`; presigned `/storage` PUTs carry their own signature.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::{secret_hash, App};
use crate::auth::presented_key;
use crate::error::ApiError;

/// Middleware (outermost): a no-op unless private mode is on.
pub async fn private_only(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if !app.is_private() {
        return next.run(req).await;
    }
    let port = app.base_url.rsplit(':').next().unwrap_or_default();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let host_ok = host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}");
    if !host_ok {
        tracing::warn!(host, "refused a request addressed to another host");
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "MISDIRECTED",
            "This sandbox answers only requests addressed to its own 127.0.0.1 port.",
        )
        .into_response();
    }
    let path = req.uri().path();
    let guarded = path.starts_with("/_sandbox/") || path.starts_with("/media/");
    if guarded {
        let key_ok = presented_key(req.headers())
            .filter(|k| !k.is_empty())
            .is_some_and(|k| app.layers_key_ok(&secret_hash(k)));
        if !key_ok {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "This sandbox is private: send its key as Authorization: Bearer <key>.",
            )
            .into_response();
        }
    }
    next.run(req).await
}
