//! The media library: `POST /v1/projects/:projectId/media/presign` (a signed PUT for a logo,
//! reference image, audio or video) and `/media/finalize` (register the uploaded object).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use layers_uploader::api::types::{
    MediaAsset, MediaFinalizeRequest, MediaLibraryKind, MediaPresignRequest, MediaPresignResponse,
};
use serde_json::{json, Value};

use super::{json, parse_json};
use crate::app::App;
use crate::auth::Caller;
use crate::clock;
use crate::error::ApiError;
use crate::signing::SignedHeaders;
use crate::state::MediaUpload;

/// Renames the documented aliases (`contentType`, `byteSize`) to the canonical fields.
fn normalize_aliases(v: &mut Value) {
    if let Some(obj) = v.as_object_mut() {
        for (alias, canonical) in [("contentType", "mimeType"), ("byteSize", "sizeBytes")] {
            if !obj.contains_key(canonical) {
                if let Some(x) = obj.remove(alias) {
                    obj.insert(canonical.to_string(), x);
                }
            }
        }
    }
}

fn mime_fits_kind(kind: MediaLibraryKind, mime: &str) -> bool {
    let prefix = match kind {
        MediaLibraryKind::Image | MediaLibraryKind::Logo | MediaLibraryKind::ReferenceImage => {
            "image/"
        }
        MediaLibraryKind::Video => "video/",
        MediaLibraryKind::Audio => "audio/",
    };
    mime.len() > prefix.len() && mime.starts_with(prefix)
}

/// A storage-safe file name: the caller's, with anything odd replaced.
fn safe_name(filename: Option<&str>, mime: &str) -> String {
    let cleaned: String = filename
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    let trimmed = cleaned.trim_matches('.');
    if trimmed.is_empty() {
        let ext = mime.rsplit('/').next().unwrap_or("bin");
        let ext: String = ext.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        format!("file.{}", if ext.is_empty() { "bin" } else { &ext })
    } else {
        trimmed.to_string()
    }
}

/// `POST /v1/projects/:projectId/media/presign`.
pub async fn presign(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(project_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require("projects:write")?;
    app.require_project(&project_id)?;
    let mut v: Value = parse_json(&body, ApiError::validation_failed)?;
    normalize_aliases(&mut v);
    if v.get("mimeType").is_none_or_null() {
        return Err(ApiError::validation_failed("mimeType is required.")
            .with_details(json!({ "field": "mimeType" })));
    }
    let req: MediaPresignRequest = serde_json::from_value(v)
        .map_err(|e| ApiError::validation_failed(format!("Invalid request body: {e}.")))?;
    if !mime_fits_kind(req.kind, &req.mime_type) {
        return Err(ApiError::validation_failed(format!(
            "mimeType {:?} does not fit kind {}.",
            req.mime_type,
            req.kind.as_str()
        ))
        .with_details(json!({ "field": "mimeType" })));
    }
    if let Some(name) = &req.filename {
        let n = name.chars().count();
        if n == 0 || n > 256 {
            return Err(ApiError::validation_failed(format!(
                "filename must be 1 to 256 characters (got {n})."
            ))
            .with_details(json!({ "field": "filename" })));
        }
    }
    let cap = req.kind.cap_bytes();
    match req.size_bytes {
        Some(0) => {
            return Err(
                ApiError::validation_failed("sizeBytes must be a positive integer.")
                    .with_details(json!({ "field": "sizeBytes" })),
            )
        }
        Some(n) if n > cap => {
            return Err(ApiError::too_large(
                format!(
                    "sizeBytes {n} exceeds the {} limit of {cap} bytes.",
                    req.kind.as_str()
                ),
                json!({ "sizeBytes": n, "maxBytes": cap, "kind": req.kind.as_str() }),
            ))
        }
        _ => {}
    }
    if let Some(sum) = &req.checksum_sha256 {
        if sum.len() != 64 || !sum.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(
                ApiError::validation_failed("checksumSha256 must be 64 hex characters.")
                    .with_details(json!({ "field": "checksumSha256" })),
            );
        }
    }
    let upload_id = format!("upl_{}", uuid::Uuid::new_v4().simple());
    let key = format!(
        "uploads/{project_id}/{upload_id}/{}",
        safe_name(req.filename.as_deref(), &req.mime_type)
    );
    let expires_secs = (app.now_ms() + app.config.url_ttl.as_millis() as u64) / 1000;
    let expires_at = clock::rfc3339(expires_secs * 1000);
    let url = app.signer.presign(
        &app.base_url,
        &key,
        SignedHeaders {
            content_type: &req.mime_type,
            content_length: None,
        },
        expires_secs,
    );
    let mut headers = BTreeMap::new();
    headers.insert("Content-Type".to_string(), req.mime_type.clone());
    if let Some(n) = req.size_bytes {
        headers.insert("Content-Length".to_string(), n.to_string());
    }
    app.world().media.insert(
        upload_id.clone(),
        MediaUpload {
            upload_id: upload_id.clone(),
            project_id,
            kind: req.kind.as_str().to_string(),
            mime_type: req.mime_type.clone(),
            declared_size_bytes: req.size_bytes,
            checksum_sha256: req.checksum_sha256.map(|s| s.to_ascii_lowercase()),
            key,
            expires_at: expires_at.clone(),
            asset: None,
        },
    );
    Ok(json(
        StatusCode::OK,
        &MediaPresignResponse {
            upload_id,
            signed_url: Some(url.clone()),
            url,
            method: "PUT".to_string(),
            headers,
            expires_at,
        },
    ))
}

trait NullCheck {
    fn is_none_or_null(&self) -> bool;
}

impl NullCheck for Option<&Value> {
    fn is_none_or_null(&self) -> bool {
        matches!(self, None | Some(Value::Null))
    }
}

/// `POST /v1/projects/:projectId/media/finalize` `{uploadId}`.
pub async fn finalize(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(project_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require("projects:write")?;
    app.require_project(&project_id)?;
    let req: MediaFinalizeRequest = parse_json(&body, ApiError::validation_failed)?;
    let mut world = app.world();
    let upload = world
        .media
        .get(&req.upload_id)
        .filter(|u| u.project_id == project_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("Upload {} not found.", req.upload_id)))?;
    if let Some(asset) = &upload.asset {
        return Ok(json(StatusCode::OK, asset));
    }
    let Some(object) = world.objects.get(&upload.key).cloned() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "UPLOAD_INCOMPLETE",
            format!(
                "Object {} has not been uploaded yet: did the PUT complete?",
                upload.key
            ),
        )
        .with_details(json!({ "missing": [upload.key] })));
    };
    if let Some(declared) = upload.declared_size_bytes {
        if declared != object.size_bytes {
            return Err(ApiError::validation_failed(format!(
                "The uploaded object is {} bytes but sizeBytes declared {declared}.",
                object.size_bytes
            ))
            .with_details(
                json!({ "sizeBytes": object.size_bytes, "declaredSizeBytes": declared }),
            ));
        }
    }
    let cap = serde_json::from_value::<MediaLibraryKind>(json!(upload.kind))
        .map(MediaLibraryKind::cap_bytes)
        .unwrap_or(0);
    if object.size_bytes > cap {
        return Err(ApiError::too_large(
            format!(
                "The uploaded object is {} bytes, over the {} limit of {cap} bytes.",
                object.size_bytes, upload.kind
            ),
            json!({ "sizeBytes": object.size_bytes, "maxBytes": cap, "kind": upload.kind }),
        ));
    }
    if let Some(expected) = &upload.checksum_sha256 {
        if *expected != object.sha256 {
            return Err(ApiError::validation_failed(
                "checksumSha256 does not match the uploaded bytes; upload the file again.",
            )
            .with_details(
                json!({ "field": "checksumSha256", "expected": expected, "actual": object.sha256 }),
            ));
        }
    }
    let mut extra = BTreeMap::new();
    extra.insert("kind".to_string(), json!(upload.kind));
    extra.insert("mimeType".to_string(), json!(upload.mime_type));
    extra.insert("sizeBytes".to_string(), json!(object.size_bytes));
    extra.insert("url".to_string(), json!(app.media_url(&upload.key)));
    if let Some(sum) = &upload.checksum_sha256 {
        extra.insert("checksumSha256".to_string(), json!(sum));
    }
    let asset = MediaAsset {
        asset_id: format!("ast_{}", uuid::Uuid::new_v4().simple()),
        extra,
    };
    let value = json!(asset);
    if let Some(u) = world.media.get_mut(&req.upload_id) {
        u.asset = Some(value.clone());
    }
    Ok(json(StatusCode::OK, &value))
}
