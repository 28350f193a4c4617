//! `POST /v1/projects/:projectId/content/upload`: the URL-fetch transport. Atomic: every URL
//! is fetched and validated before anything is written; one failure and no item exists.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use layers_uploader::api::types::UrlFetchRequest;
use layers_uploader::media::MediaKind;
use serde_json::json;

use super::content::{check_caption, check_entry_count, default_extension};
use super::finalize::{check_probe, probe};
use super::{json, parse_json};
use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::fetch::{self, Fetched};
use crate::item::{self, MeasuredAsset};
use crate::state::{Container, ContainerState, DeclaredObject, Env, StoredObject};

fn quota_error(details: serde_json::Value) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "UPLOAD_QUOTA_EXCEEDED",
        "Upload quota reached for this project. Delete uploaded content to free quota, or contact support to raise the limits.",
    )
    .with_details(details)
}

/// `POST /v1/projects/:projectId/content/upload` `{media:[{url}], caption}`.
pub async fn upload(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(project_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require("content:write")?;
    app.require_project(&project_id)?;
    let req: UrlFetchRequest = parse_json(&body, ApiError::validation)?;
    check_entry_count("media", req.media.len())?;
    check_caption(&req.caption)?;
    let uuid = uuid::Uuid::new_v4();
    let id = format!("cnt_{uuid}");
    let now = app.now_ms();
    if caller.env == Env::Test {
        return Ok(fixture(&app, &caller, &project_id, &req, &id, now));
    }
    {
        let world = app.world();
        let usage = world.usage(&project_id, app.config.max_uploads, app.config.max_bytes);
        if usage.current_uploads + 1 > usage.max_uploads {
            return Err(quota_error(json!(usage)));
        }
    }
    let multi = req.media.len() > 1;
    let mut fetched: Vec<Fetched> = Vec::new();
    let result = fetch_and_probe(&app, &req, multi, &mut fetched).await;
    let assets = match result {
        Ok(a) => a,
        Err(e) => {
            for f in &fetched {
                let _ = tokio::fs::remove_file(&f.temp).await;
            }
            return Err(e);
        }
    };
    let total: u64 = fetched.iter().map(|f| f.size_bytes).sum();
    let mut world = app.world();
    let usage = world.usage(&project_id, app.config.max_uploads, app.config.max_bytes);
    if usage.current_uploads + 1 > usage.max_uploads
        || usage.current_bytes + total > usage.max_bytes
    {
        drop(world);
        for f in &fetched {
            let _ = std::fs::remove_file(&f.temp);
        }
        return Err(quota_error(json!(usage)));
    }
    let mut declared = Vec::new();
    let mut final_assets = Vec::new();
    for (n, (f, mut asset)) in fetched.iter().zip(assets).enumerate() {
        let key = format!(
            "public-media/content-container/{uuid}/media/upload-{}.{}",
            n + 1,
            default_extension(&f.content_type)
        );
        let dest = app.object_path(&key);
        let moved = dest
            .parent()
            .map(std::fs::create_dir_all)
            .unwrap_or(Ok(()))
            .and_then(|_| std::fs::rename(&f.temp, &dest));
        if let Err(e) = moved {
            return Err(ApiError::internal(format!(
                "cannot store the fetched file: {e}"
            )));
        }
        world.objects.insert(
            key.clone(),
            StoredObject {
                size_bytes: f.size_bytes,
                sha256: f.sha256.clone(),
                content_type: f.content_type.clone(),
                stored_at_ms: app.now_ms(),
            },
        );
        asset.url = app.media_url(&key);
        final_assets.push(asset);
        declared.push(DeclaredObject {
            r2_key: key,
            filename: f.url.clone(),
            content_type: f.content_type.clone(),
            declared_size_bytes: f.size_bytes,
            expires_at: String::new(),
        });
    }
    let item = item::completed(
        &id,
        &project_id,
        &req.caption,
        &final_assets,
        now,
        app.now_ms(),
    );
    world.insert_container(Container {
        container_id: id.clone(),
        project_id,
        env: caller.env,
        key_id: caller.key_id.clone(),
        state: ContainerState::Completed,
        files: declared,
        reserved_bytes: total,
        counts_quota: true,
        created_at_ms: now,
        caption: Some(req.caption.clone()),
        item: Some(item.clone()),
        seq: 0,
    });
    drop(world);
    tracing::info!(container = id, "URL-fetch item created");
    Ok(json(StatusCode::CREATED, &item))
}

async fn fetch_and_probe(
    app: &App,
    req: &UrlFetchRequest,
    multi: bool,
    fetched: &mut Vec<Fetched>,
) -> Result<Vec<MeasuredAsset>, ApiError> {
    for m in &req.media {
        fetched.push(fetch::fetch(app, &m.url, multi).await?);
    }
    let mut assets = Vec::new();
    for f in fetched.iter() {
        let ins = probe(f.temp.clone(), app.limits).await?;
        check_probe(&ins, &f.url, &f.content_type)?;
        assets.push(MeasuredAsset {
            kind: f.kind,
            url: String::new(),
            width: ins.width,
            height: ins.height,
            duration_ms: ins.duration_ms,
            mime_type: f.content_type.clone(),
            size_bytes: f.size_bytes,
            platform_fit: ins.platform_fit,
        });
    }
    Ok(assets)
}

/// Test keys: nothing is fetched; a completed item backed by fixture media, caption verbatim.
fn fixture(
    app: &App,
    caller: &Caller,
    project_id: &str,
    req: &UrlFetchRequest,
    id: &str,
    now: u64,
) -> Response {
    let assets: Vec<MeasuredAsset> = req
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let path = m
                .url
                .split(['?', '#'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let video = req.media.len() == 1 && (path.ends_with(".mp4") || path.ends_with(".mov"));
            let (kind, mime, ext) = if video {
                (MediaKind::Video, "video/mp4", "mp4")
            } else {
                (MediaKind::Image, "image/jpeg", "jpg")
            };
            let url = format!(
                "{}/media/fixtures/{id}/upload-{}.{ext}",
                app.base_url,
                i + 1
            );
            item::fixture_asset(kind, url, mime, 1_048_576)
        })
        .collect();
    let item = item::completed(id, project_id, &req.caption, &assets, now, app.now_ms());
    app.world().insert_container(Container {
        container_id: id.to_string(),
        project_id: project_id.to_string(),
        env: caller.env,
        key_id: caller.key_id.clone(),
        state: ContainerState::Completed,
        files: Vec::new(),
        reserved_bytes: 0,
        counts_quota: false,
        created_at_ms: now,
        caption: Some(req.caption.clone()),
        item: Some(item.clone()),
        seq: 0,
    });
    json(StatusCode::CREATED, &item)
}
