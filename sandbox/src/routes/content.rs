//! Content containers: create a direct-upload session (step 1), read, list and re-caption
//! items. Finalize (step 3) lives in `finalize.rs`; URL-fetch in `urlfetch.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use layers_uploader::api::types::{
    caption_len, CaptionBody, ContentItem, CreateUploadSessionRequest, DeclaredFile, Grouping,
    PresignedPut, SessionUpload, UploadSession, ACCEPTED_CONTENT_TYPES, MAX_CAPTION_UTF16,
    MAX_FILENAME_CHARS, MAX_FILES_PER_CALL,
};
use layers_uploader::media::{human_bytes, MediaKind};
use serde_json::json;

use super::{json, paginate, parse_json};
use crate::app::App;
use crate::auth::Caller;
use crate::clock;
use crate::error::ApiError;
use crate::item;
use crate::signing::SignedHeaders;
use crate::state::{Container, ContainerState, DeclaredObject, Env};
use crate::storage::INERT_PREFIX;

/// The kind a content type declares (only for accepted types).
pub fn kind_of(content_type: &str) -> Option<MediaKind> {
    if !ACCEPTED_CONTENT_TYPES.contains(&content_type) {
        return None;
    }
    Some(if content_type.starts_with("video/") {
        MediaKind::Video
    } else {
        MediaKind::Image
    })
}

/// The storage-key extension: the filename's, else the content type's.
pub fn extension_for(filename: &str, content_type: &str) -> String {
    filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| default_extension(content_type).to_string())
}

/// The usual extension of an accepted content type.
pub fn default_extension(content_type: &str) -> &'static str {
    match content_type {
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        _ => "bin",
    }
}

/// `422` unless a call carries 1 to 10 entries in `field` (`files`, `media`).
pub fn check_entry_count(field: &str, n: usize) -> Result<(), ApiError> {
    if n == 0 || n > MAX_FILES_PER_CALL {
        return Err(ApiError::validation(format!(
            "{field} must hold 1 to {MAX_FILES_PER_CALL} entries (got {n})."
        ))
        .with_details(json!({ "field": field })));
    }
    Ok(())
}

/// `422` unless the caption is within 2,200 UTF-16 units.
pub fn check_caption(caption: &str) -> Result<(), ApiError> {
    let n = caption_len(caption);
    if n > MAX_CAPTION_UTF16 {
        return Err(ApiError::validation(format!(
            "caption is {n} characters; the maximum is {MAX_CAPTION_UTF16}."
        ))
        .with_details(json!({ "field": "caption", "length": n, "max": MAX_CAPTION_UTF16 })));
    }
    Ok(())
}

fn validate_file(app: &App, i: usize, f: &DeclaredFile) -> Result<MediaKind, ApiError> {
    let field = |name: &str| format!("files[{i}].{name}");
    let chars = f.filename.chars().count();
    if chars == 0 || chars > MAX_FILENAME_CHARS {
        return Err(ApiError::validation(format!(
            "{} must be 1 to {MAX_FILENAME_CHARS} characters (got {chars}).",
            field("filename")
        ))
        .with_details(json!({ "field": field("filename") })));
    }
    let Some(kind) = kind_of(&f.content_type) else {
        return Err(ApiError::validation(format!(
            "{} {:?} is not accepted; use one of {}.",
            field("contentType"),
            f.content_type,
            ACCEPTED_CONTENT_TYPES.join(", ")
        ))
        .with_details(
            json!({ "field": field("contentType"), "accepted": ACCEPTED_CONTENT_TYPES }),
        ));
    };
    if f.size_bytes == 0 {
        return Err(ApiError::validation(format!(
            "{} must be a positive integer.",
            field("sizeBytes")
        ))
        .with_details(json!({ "field": field("sizeBytes") })));
    }
    let cap = app.limits.cap_for(kind);
    if f.size_bytes > cap {
        return Err(ApiError::validation(format!(
            "{} declares {} bytes; the {} cap is {} ({cap} bytes).",
            f.filename,
            f.size_bytes,
            if kind == MediaKind::Video {
                "video"
            } else {
                "image"
            },
            human_bytes(cap)
        ))
        .with_details(
            json!({ "field": field("sizeBytes"), "sizeBytes": f.size_bytes, "maxBytes": cap }),
        ));
    }
    Ok(kind)
}

/// `POST /v1/projects/:projectId/content/uploads`.
pub async fn create_session(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(project_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require("content:write")?;
    app.require_project(&project_id)?;
    let req: CreateUploadSessionRequest = parse_json(&body, ApiError::validation)?;
    check_entry_count("files", req.files.len())?;
    let kinds = req
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| validate_file(&app, i, f))
        .collect::<Result<Vec<_>, _>>()?;
    if req.grouping == Grouping::Slideshow && kinds.contains(&MediaKind::Video) {
        return Err(ApiError::validation("Slideshows are images only.")
            .with_details(json!({ "field": "grouping" })));
    }
    let groups: Vec<Vec<&DeclaredFile>> = match req.grouping {
        Grouping::PerFile => req.files.iter().map(|f| vec![f]).collect(),
        Grouping::Slideshow => vec![req.files.iter().collect()],
    };
    let now = app.now_ms();
    let expires_secs = (now + app.config.url_ttl.as_millis() as u64) / 1000;
    let expires_at = clock::rfc3339_millis(expires_secs * 1000);
    let live = caller.env == Env::Live;

    let mut world = app.world();
    if live {
        let usage = world.usage(&project_id, app.config.max_uploads, app.config.max_bytes);
        let new_bytes: u64 = req.files.iter().map(|f| f.size_bytes).sum();
        if usage.current_uploads + groups.len() as u64 > usage.max_uploads
            || usage.current_bytes + new_bytes > usage.max_bytes
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "UPLOAD_QUOTA_EXCEEDED",
                "Upload quota reached for this project. Delete uploaded content to free quota, or contact support to raise the limits.",
            )
            .with_details(json!(usage)));
        }
    }
    let mut uploads = Vec::new();
    for group in groups {
        let uuid = uuid::Uuid::new_v4();
        let container_id = format!("cnt_{uuid}");
        let mut files = Vec::new();
        let mut declared = Vec::new();
        for (n, f) in group.iter().enumerate() {
            let r2_key = format!(
                "public-media/content-container/{uuid}/media/upload-{}.{}",
                n + 1,
                extension_for(&f.filename, &f.content_type)
            );
            let upload_url = if live {
                app.signer.presign(
                    &app.base_url,
                    &r2_key,
                    SignedHeaders {
                        content_type: &f.content_type,
                        content_length: None,
                    },
                    expires_secs,
                )
            } else {
                format!(
                    "{}/storage/{INERT_PREFIX}{r2_key}?X-Amz-Expires={expires_secs}&X-Amz-Signature=inert",
                    app.base_url
                )
            };
            files.push(PresignedPut {
                upload_url,
                r2_key: r2_key.clone(),
                content_type: f.content_type.clone(),
                expires_at: expires_at.clone(),
            });
            declared.push(DeclaredObject {
                r2_key,
                filename: f.filename.clone(),
                content_type: f.content_type.clone(),
                declared_size_bytes: f.size_bytes,
                expires_at: expires_at.clone(),
            });
        }
        world.insert_container(Container {
            container_id: container_id.clone(),
            project_id: project_id.clone(),
            env: caller.env,
            key_id: caller.key_id.clone(),
            state: ContainerState::Reserved,
            reserved_bytes: if live {
                group.iter().map(|f| f.size_bytes).sum()
            } else {
                0
            },
            counts_quota: live,
            files: declared,
            created_at_ms: now,
            caption: None,
            item: None,
            seq: 0,
        });
        uploads.push(SessionUpload {
            container_id,
            files,
        });
    }
    drop(world);
    tracing::info!(
        project_id,
        containers = uploads.len(),
        "upload session created"
    );
    Ok(json(StatusCode::CREATED, &UploadSession { uploads }))
}

/// The item a caller may see for a container: its env, not reaped or deleted.
pub fn visible_item(container: &Container, caller: &Caller) -> Option<ContentItem> {
    if container.env != caller.env {
        return None;
    }
    match container.state {
        ContainerState::Completed => container.item.clone(),
        ContainerState::Reserved => Some(item::pending(
            &container.container_id,
            &container.project_id,
            container.created_at_ms,
        )),
        ContainerState::Reaped | ContainerState::Deleted => None,
    }
}

fn container_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Content {id} not found in your organization."))
}

/// `GET /v1/content/:id`.
pub async fn get_item(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let world = app.world();
    let item = world
        .containers
        .get(&id)
        .and_then(|c| visible_item(c, &caller))
        .ok_or_else(|| container_not_found(&id))?;
    Ok(json(StatusCode::OK, &item))
}

/// `PATCH /v1/content/:id` `{caption}`: uploaded, completed content only.
pub async fn patch_item(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require("content:write")?;
    let req: CaptionBody = parse_json(&body, ApiError::validation)?;
    let mut world = app.world();
    let container = world
        .containers
        .get_mut(&id)
        .filter(|c| c.env == caller.env)
        .filter(|c| {
            matches!(
                c.state,
                ContainerState::Reserved | ContainerState::Completed
            )
        })
        .ok_or_else(|| container_not_found(&id))?;
    let Some(item) = container
        .item
        .as_mut()
        .filter(|_| container.state == ContainerState::Completed)
    else {
        return Err(ApiError::validation(
            "Only completed uploaded content can be re-captioned; finalize the upload first.",
        ));
    };
    check_caption(&req.caption)?;
    item.caption = Some(req.caption.clone());
    let item = item.clone();
    container.caption = Some(req.caption);
    Ok(json(StatusCode::OK, &item))
}

/// `GET /v1/projects/:projectId/content?creativeType=&status=&limit=&cursor=` (oldest first).
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(project_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    app.require_project(&project_id)?;
    let creative = query.get("creativeType").filter(|s| !s.is_empty());
    let status = query.get("status").filter(|s| !s.is_empty());
    let world = app.world();
    let mut containers: Vec<&Container> = world
        .containers
        .values()
        .filter(|c| c.project_id == project_id)
        .collect();
    containers.sort_by_key(|c| c.seq);
    let items: Vec<ContentItem> = containers
        .into_iter()
        .filter_map(|c| visible_item(c, &caller))
        .filter(|i| matches_filter(creative, &i.creative_type))
        .filter(|i| matches_filter(status, &i.status))
        .collect();
    drop(world);
    Ok(json(StatusCode::OK, &paginate(&items, &query)?))
}

/// An absent filter matches everything; a present one must equal the value.
fn matches_filter(filter: Option<&String>, value: &str) -> bool {
    match filter {
        Some(f) => f == value,
        None => true,
    }
}
