//! Loops email assets: `POST /api/v1/uploads` (a presigned PUT binding Content-Type and
//! Content-Length) and `POST /api/v1/uploads/:id/complete`. Errors use Loops' own body.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use layers_uploader::api::types::{
    LoopsCompleteResponse, LoopsCreateRequest, LoopsCreateResponse, LOOPS_CONTENT_TYPES,
    LOOPS_MAX_BYTES,
};
use layers_uploader::media::sniff;

use super::json;
use crate::app::{secret_hash, App};
use crate::auth::presented_key;
use crate::clock;
use crate::error::LoopsError;
use crate::signing::SignedHeaders;
use crate::state::LoopsAsset;

/// Loops' documented limit: 50 uploads per 24 hours per key.
const MAX_UPLOADS: u64 = 50;
const WINDOW_HOURS: u64 = 24;

fn authenticate(app: &App, headers: &HeaderMap) -> Result<String, LoopsError> {
    match presented_key(headers) {
        Some(k) if app.loops_key_ok(k) => Ok(secret_hash(k)[..16].to_string()),
        _ => Err(LoopsError::new(
            StatusCode::UNAUTHORIZED,
            "Invalid API key (or the content API is not enabled for your team).",
        )),
    }
}

fn unsupported(message: &str) -> LoopsError {
    let mut e = LoopsError::new(StatusCode::BAD_REQUEST, message);
    e.body.supported_content_types =
        Some(LOOPS_CONTENT_TYPES.iter().map(|s| s.to_string()).collect());
    e
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        _ => "webp",
    }
}

/// `POST /api/v1/uploads` `{contentType, contentLength}`.
pub async fn create(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, LoopsError> {
    let owner = authenticate(&app, &headers)?;
    let req: LoopsCreateRequest = serde_json::from_slice(&body).map_err(|e| {
        LoopsError::new(
            StatusCode::BAD_REQUEST,
            format!("Invalid request body: {e}."),
        )
    })?;
    if !LOOPS_CONTENT_TYPES.contains(&req.content_type.as_str()) {
        return Err(unsupported("Unsupported contentType."));
    }
    if req.content_length == 0 {
        return Err(LoopsError::new(
            StatusCode::BAD_REQUEST,
            "contentLength must be a positive integer.",
        ));
    }
    if req.content_length > LOOPS_MAX_BYTES {
        let mut e = LoopsError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("File too large: the maximum is {LOOPS_MAX_BYTES} bytes."),
        );
        e.body.max_bytes = Some(LOOPS_MAX_BYTES);
        return Err(e);
    }
    let id = format!("asset_{}", uuid::Uuid::new_v4().simple());
    let key = format!("loops/{id}.{}", extension(&req.content_type));
    let expires_secs = (app.now_ms() + app.config.url_ttl.as_millis() as u64) / 1000;
    let presigned_url = app.signer.presign(
        &app.base_url,
        &key,
        SignedHeaders {
            content_type: &req.content_type,
            content_length: Some(req.content_length),
        },
        expires_secs,
    );
    {
        let mut world = app.world();
        let window = Duration::from_secs(WINDOW_HOURS * 3600).as_millis() as u64;
        let now = clock::now_ms();
        let creates = world
            .loops_creates
            .entry(owner.clone())
            .or_insert_with(VecDeque::new);
        while creates
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= window)
        {
            creates.pop_front();
        }
        if creates.len() as u64 >= MAX_UPLOADS {
            let mut e = LoopsError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Upload limit exceeded: max 50 uploads per 24 hours. Please contact support if you need to increase your upload limit.",
            );
            e.body.max_uploads = Some(MAX_UPLOADS);
            e.body.window_hours = Some(WINDOW_HOURS);
            return Err(e);
        }
        creates.push_back(now);
        world.loops.insert(
            id.clone(),
            LoopsAsset {
                email_asset_id: id.clone(),
                key_fingerprint: owner,
                content_type: req.content_type,
                content_length: req.content_length,
                key,
                final_url: None,
            },
        );
    }
    Ok(json(
        StatusCode::OK,
        &LoopsCreateResponse {
            success: true,
            email_asset_id: id,
            presigned_url,
        },
    ))
}

/// `POST /api/v1/uploads/:id/complete`.
pub async fn complete(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, LoopsError> {
    let owner = authenticate(&app, &headers)?;
    if id.trim().is_empty() {
        return Err(LoopsError::new(
            StatusCode::BAD_REQUEST,
            "Missing upload id.",
        ));
    }
    let (asset, stored) = {
        let world = app.world();
        let asset = world
            .loops
            .get(&id)
            .filter(|a| a.key_fingerprint == owner)
            .cloned()
            .ok_or_else(|| LoopsError::new(StatusCode::NOT_FOUND, "Upload not found."))?;
        let stored = world.objects.contains_key(&asset.key);
        (asset, stored)
    };
    if let Some(url) = &asset.final_url {
        return Ok(done(id, url.clone()));
    }
    if !stored {
        return Err(LoopsError::new(
            StatusCode::BAD_REQUEST,
            "No file was uploaded for this id: PUT it to the presignedUrl first.",
        ));
    }
    let path = app.object_path(&asset.key);
    let head = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(512);
        std::fs::File::open(path)?.take(512).read_to_end(&mut buf)?;
        Ok(buf)
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default();
    let sniffed = sniff::sniff(&head).map(|s| s.mime);
    if !sniffed.is_some_and(|m| LOOPS_CONTENT_TYPES.contains(&m)) {
        return Err(unsupported(
            "The uploaded file has an unsupported content type.",
        ));
    }
    let final_url = app.media_url(&asset.key);
    if let Some(a) = app.world().loops.get_mut(&id) {
        a.final_url = Some(final_url.clone());
    }
    Ok(done(id, final_url))
}

fn done(id: String, final_url: String) -> Response {
    json(
        StatusCode::OK,
        &LoopsCompleteResponse {
            success: true,
            email_asset_id: id,
            final_url,
        },
    )
}
