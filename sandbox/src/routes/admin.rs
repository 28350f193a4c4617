//! The test surface: `GET /_sandbox/state` (everything, with keys reduced to key ids) and
//! `POST /_sandbox/delete/:containerId` (frees quota, as archiving does in the Layers app).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::json;
use crate::app::App;
use crate::error::ApiError;
use crate::state::{ContainerState, World};

/// The whole state as JSON (also what the data-dir snapshot holds).
pub fn snapshot(app: &App, world: &World) -> Value {
    let containers: Vec<Value> = world
        .containers
        .values()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
            let objects: Vec<Value> = c
                .files
                .iter()
                .map(|f| json!(world.objects.get(&f.r2_key)))
                .collect();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("objects".to_string(), Value::Array(objects));
            }
            v
        })
        .collect();
    let mut quota = Map::new();
    for p in &app.projects {
        quota.insert(
            p.clone(),
            json!(world.usage(p, app.config.max_uploads, app.config.max_bytes)),
        );
    }
    json!({
        "containers": containers,
        "objects": world.objects,
        "mediaUploads": world.media.values().collect::<Vec<_>>(),
        "loopsAssets": world.loops.values().collect::<Vec<_>>(),
        "quota": quota,
        "requests": world.requests,
    })
}

/// `GET /_sandbox/state`.
pub async fn state(State(app): State<Arc<App>>) -> Response {
    let world = app.world();
    let v = snapshot(&app, &world);
    drop(world);
    json(StatusCode::OK, &v)
}

/// `POST /_sandbox/delete/:containerId`: frees the container's quota and drops its objects.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let lock = app.container_lock(&id);
    let _guard = lock.lock().await;
    let (keys, usage) = free_container(&app, &id)?;
    // Saved before the bytes go, as the reaper does.
    app.persist()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    for k in keys {
        let _ = tokio::fs::remove_file(app.object_path(&k)).await;
    }
    Ok(json(
        StatusCode::OK,
        &json!({ "containerId": id, "state": "deleted", "quota": usage }),
    ))
}

fn free_container(app: &App, id: &str) -> Result<(Vec<String>, serde_json::Value), ApiError> {
    let mut world = app.world();
    let Some(c) = world
        .containers
        .get_mut(id)
        .filter(|c| c.state != ContainerState::Deleted)
    else {
        return Err(ApiError::not_found(format!("Content {id} not found.")));
    };
    c.state = ContainerState::Deleted;
    let project = c.project_id.clone();
    let keys: Vec<String> = c.files.iter().map(|f| f.r2_key.clone()).collect();
    for k in &keys {
        world.objects.remove(k);
    }
    let usage = world.usage(&project, app.config.max_uploads, app.config.max_bytes);
    Ok((keys, json!(usage)))
}
