//! The HTTP surface: one router serving the Layers API (`/v1`), Loops (`/api/v1`), storage
//! (`/storage`, `/media`) and the test surface (`/_sandbox`), plus helpers the handlers share.

pub mod account;
pub mod admin;
pub mod content;
pub mod finalize;
pub mod loops;
pub mod media;
pub mod urlfetch;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use layers_uploader::api::types::Page;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::app::App;
use crate::error::{ApiError, LoopsError};
use crate::{auth, clock, guard, idempotency, ratelimit, reqlog, storage};

/// Builds the whole router for one run.
pub fn router(app: Arc<App>) -> Router {
    let v1 = Router::new()
        .route("/whoami", get(account::whoami))
        .route("/projects", get(account::projects))
        .route(
            "/projects/{project_id}/content/uploads",
            post(content::create_session),
        )
        .route(
            "/projects/{project_id}/content/upload",
            post(urlfetch::upload),
        )
        .route("/projects/{project_id}/content", get(content::list))
        .route("/projects/{project_id}/media/presign", post(media::presign))
        .route(
            "/projects/{project_id}/media/finalize",
            post(media::finalize),
        )
        .route("/content/{id}/finalize-upload", post(finalize::finalize))
        .route(
            "/content/{id}",
            get(content::get_item).patch(content::patch_item),
        )
        .fallback(not_found)
        .layer(from_fn_with_state(app.clone(), idempotency::apply))
        .layer(from_fn_with_state(app.clone(), ratelimit::apply))
        .layer(from_fn_with_state(app.clone(), auth::require_key));
    Router::new()
        .nest("/v1", v1)
        .route("/api/v1/uploads", post(loops::create))
        .route("/api/v1/uploads/{id}/complete", post(loops::complete))
        .route("/storage/{*key}", put(storage::put_object))
        .route("/media/{*key}", get(storage::get_object))
        .route("/_sandbox/state", get(admin::state))
        .route("/_sandbox/delete/{id}", post(admin::delete))
        .fallback(fallback)
        .layer(from_fn_with_state(app.clone(), reqlog::record))
        .layer(from_fn_with_state(app.clone(), clock::stamp_date))
        .layer(from_fn_with_state(app.clone(), persist_writes))
        .layer(from_fn_with_state(app.clone(), guard::private_only))
        .with_state(app)
}

/// Saves the state after every request that may have changed it, before the answer leaves:
/// what a client was told happened is on disk when it hears it.
async fn persist_writes(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let response = next.run(req).await;
    if writes {
        if let Err(e) = app.persist().await {
            tracing::error!(error = %e, "cannot save the sandbox state");
            return ApiError::internal("The sandbox could not save its state; retry.")
                .into_response();
        }
    }
    response
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("No route for {}.", uri.path()))
}

async fn fallback(uri: Uri) -> Response {
    let path = uri.path();
    // Loops' "missing id" is a 400, and `/uploads//complete` never matches the route.
    if path.starts_with("/api/v1/uploads/") && path.ends_with("/complete") {
        return LoopsError::new(StatusCode::BAD_REQUEST, "Missing upload id.").into_response();
    }
    ApiError::not_found(format!("No route for {path}.")).into_response()
}

/// Parses a JSON body, mapping any failure to the caller's validation error.
pub fn parse_json<T: DeserializeOwned>(
    body: &Bytes,
    invalid: fn(String) -> ApiError,
) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(invalid("A JSON request body is required.".to_string()));
    }
    serde_json::from_slice(body).map_err(|e| invalid(format!("Invalid request body: {e}.")))
}

/// Serializes a value with a status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    (status, Json(value)).into_response()
}

/// Default and largest `limit` of list endpoints.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;

/// Cursor pagination over an ordered list: `limit` 1–100 (default 50), opaque `cursor`.
pub fn paginate<T: Clone>(
    items: &[T],
    query: &HashMap<String, String>,
) -> Result<Page<T>, ApiError> {
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::validation(format!("limit must be an integer from 1 to {MAX_LIMIT}."))
            })?,
    };
    let offset = match query.get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c
            .strip_prefix("cur_")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| ApiError::validation("cursor is not one this API issued."))?,
    };
    let page: Vec<T> = items.iter().skip(offset).take(limit).cloned().collect();
    let next = offset + page.len();
    Ok(Page {
        next_cursor: (next < items.len()).then(|| format!("cur_{next}")),
        items: page,
    })
}
