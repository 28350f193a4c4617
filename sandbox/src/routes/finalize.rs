//! `POST /v1/content/:containerId/finalize-upload` (step 3): every declared object landed,
//! actual size within the cap and equal to the declared size, the bytes probe as the declared
//! type; then the item completes. Idempotent: the first caption wins, retry bodies are ignored.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use layers_uploader::api::types::CaptionBody;
use layers_uploader::media::{inspect, ErrorCode, Inspection, Limits, MediaKind};
use serde_json::json;

use super::content::{check_caption, kind_of};
use super::{json, parse_json};
use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::item::{self, MeasuredAsset};
use crate::state::{Container, ContainerState, Env};

/// `POST /v1/content/:containerId/finalize-upload`.
pub async fn finalize(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require("content:write")?;
    if app.take_finalize_failure() {
        return Err(ApiError::internal(
            "Injected failure (--fail-finalize-first): finalize did not run. Retry.",
        ));
    }
    if let Some(delay) = app.config.slow_finalize {
        tokio::time::sleep(delay).await;
    }
    let lock = app.container_lock(&id);
    let _guard = lock.lock().await;
    let find = || {
        app.world()
            .containers
            .get(&id)
            .filter(|c| c.env == caller.env)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(format!("Upload {id} not found in your organization."))
            })
    };
    let mut container = find()?;
    // Past its reap age, a session is reaped whether or not the housekeeping tick ran yet, so
    // a late finalize never depends on timer scheduling.
    let reap_ms = app.config.reap_after.as_millis() as u64;
    if container.state == ContainerState::Reserved
        && app.now_ms() >= container.created_at_ms.saturating_add(reap_ms)
        && crate::server::reap_container(&app, &id).await
    {
        container = find()?;
    }
    match container.state {
        ContainerState::Completed => {
            if let Some(item) = &container.item {
                return Ok(json(StatusCode::OK, item));
            }
        }
        ContainerState::Reaped => {
            return Err(ApiError::conflict(format!(
                "Upload {id} was abandoned and reaped; it can no longer be finalized. Start a new session."
            )))
        }
        ContainerState::Deleted => {
            return Err(ApiError::not_found(format!("Upload {id} not found in your organization.")))
        }
        ContainerState::Reserved => {}
    }
    let req: CaptionBody = parse_json(&body, ApiError::validation)?;
    check_caption(&req.caption)?;
    let assets = match caller.env {
        Env::Test => fixture_assets(&app, &container),
        Env::Live => measure(&app, &container).await?,
    };
    let item = item::completed(
        &container.container_id,
        &container.project_id,
        &req.caption,
        &assets,
        container.created_at_ms,
        app.now_ms(),
    );
    let mut world = app.world();
    let Some(stored) = world.containers.get_mut(&id) else {
        return Err(ApiError::conflict(
            "The upload changed state mid-call. Start a new session.",
        ));
    };
    if stored.state != ContainerState::Reserved {
        return Err(ApiError::conflict(format!(
            "Upload {id} is no longer finalizable (it was {} mid-call). Start a new session.",
            match stored.state {
                ContainerState::Reaped => "reaped",
                ContainerState::Deleted => "deleted",
                _ => "changed",
            }
        )));
    }
    stored.state = ContainerState::Completed;
    stored.caption = Some(req.caption);
    stored.item = Some(item.clone());
    drop(world);
    tracing::info!(container = id, "upload finalized");
    Ok(json(StatusCode::OK, &item))
}

fn fixture_assets(app: &App, c: &Container) -> Vec<MeasuredAsset> {
    c.files
        .iter()
        .map(|f| {
            let kind = kind_of(&f.content_type).unwrap_or(MediaKind::Image);
            let url = format!("{}/media/fixtures/{}", app.base_url, f.r2_key);
            item::fixture_asset(kind, url, &f.content_type, f.declared_size_bytes)
        })
        .collect()
}

async fn measure(app: &App, c: &Container) -> Result<Vec<MeasuredAsset>, ApiError> {
    let objects: Vec<_> = {
        let world = app.world();
        c.files
            .iter()
            .map(|f| (f, world.objects.get(&f.r2_key).cloned()))
            .collect()
    };
    let missing: Vec<&str> = objects
        .iter()
        .filter(|(_, o)| o.is_none())
        .map(|(f, _)| f.r2_key.as_str())
        .collect();
    if let Some(first) = missing.first() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "UPLOAD_INCOMPLETE",
            format!("Object {first} has not been uploaded yet: did the PUT complete?"),
        )
        .with_details(json!({ "missing": missing })));
    }
    let mut assets = Vec::new();
    for (f, object) in objects {
        let Some(object) = object else { continue };
        let kind = kind_of(&f.content_type).unwrap_or(MediaKind::Image);
        let cap = app.limits.cap_for(kind);
        if object.size_bytes > cap {
            return Err(ApiError::too_large(
                format!(
                    "{} is {} bytes, over the {} cap of {cap} bytes.",
                    f.r2_key,
                    object.size_bytes,
                    if kind == MediaKind::Video {
                        "video"
                    } else {
                        "image"
                    }
                ),
                json!({ "r2Key": f.r2_key, "sizeBytes": object.size_bytes, "maxBytes": cap }),
            ));
        }
        if object.size_bytes != f.declared_size_bytes {
            return Err(ApiError::validation(format!(
                "{} is {} bytes but {} bytes were declared.",
                f.r2_key, object.size_bytes, f.declared_size_bytes
            ))
            .with_details(json!({
                "r2Key": f.r2_key,
                "sizeBytes": object.size_bytes,
                "declaredSizeBytes": f.declared_size_bytes
            })));
        }
        let ins = probe(app.object_path(&f.r2_key), app.limits).await?;
        check_probe(&ins, &f.r2_key, &f.content_type)?;
        assets.push(MeasuredAsset {
            kind,
            url: app.media_url(&f.r2_key),
            width: ins.width,
            height: ins.height,
            duration_ms: ins.duration_ms,
            mime_type: f.content_type.clone(),
            size_bytes: object.size_bytes,
            platform_fit: ins.platform_fit,
        });
    }
    Ok(assets)
}

/// Runs `media::inspect` off the async threads (it reads the whole file and runs ffprobe).
pub async fn probe(path: PathBuf, limits: Limits) -> Result<Inspection, ApiError> {
    tokio::task::spawn_blocking(move || inspect(&path, &limits))
        .await
        .map_err(|e| ApiError::internal(format!("probe task failed: {e}")))
}

/// `422 VALIDATION` when the bytes are unreadable or are not what was declared. Name and
/// size findings of `inspect` are ignored here: the server checks those itself.
pub fn check_probe(ins: &Inspection, name: &str, declared: &str) -> Result<(), ApiError> {
    let hard = ins.errors.iter().find(|e| {
        matches!(
            e.code,
            ErrorCode::Unreadable
                | ErrorCode::UnsupportedType
                | ErrorCode::Empty
                | ErrorCode::NotFound
                | ErrorCode::NotAFile
                | ErrorCode::PermissionDenied
        )
    });
    if let Some(e) = hard {
        return Err(ApiError::validation(format!(
            "{name} is corrupt or unreadable: {}",
            e.message
        ))
        .with_details(json!({ "r2Key": name, "reason": e.code.as_str() })));
    }
    let sniffed = ins.content_type.as_deref().unwrap_or("");
    let same =
        sniffed == declared || (sniffed.starts_with("video/") && declared.starts_with("video/"));
    if !same {
        return Err(ApiError::validation(format!(
            "{name} was declared {declared} but its bytes are {sniffed}."
        ))
        .with_details(json!({ "r2Key": name, "declared": declared, "actual": sniffed })));
    }
    Ok(())
}
