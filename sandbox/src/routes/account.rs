//! `GET /v1/whoami` and `GET /v1/projects`: who the key is, and what it may upload into.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use layers_uploader::api::types::{Project, WhoAmI};
use serde_json::json;

use super::{json, paginate};
use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::Env;

/// The organisation every key belongs to.
pub const ORGANIZATION_ID: &str = "org_sandbox";

/// `GET /v1/whoami` (or an injected `--fail-whoami` failure).
pub async fn whoami(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    // A 2xx in the list lets that call through (so a later call is the one that fails).
    if let Some(status) = app.take_whoami_failure().filter(|s| *s >= 300) {
        return Err(injected_failure(&app, status));
    }
    let mut extra = BTreeMap::new();
    let env = match caller.env {
        Env::Live => "live",
        Env::Test => "test",
    };
    extra.insert("environment".to_string(), json!(env));
    Ok(json(
        StatusCode::OK,
        &WhoAmI {
            organization_id: ORGANIZATION_ID.to_string(),
            organization_name: "Sandbox Organization".to_string(),
            scopes: caller.scopes.clone(),
            rate_limit_tier: Some("standard".to_string()),
            api_key_id: Some(caller.key_id.clone()),
            extra,
        },
    ))
}

/// A `429 RATE_LIMITED` (with `Retry-After`), a `401`/`403`, or a `5xx` for a fault-injected
/// whoami.
fn injected_failure(app: &App, status: u16) -> ApiError {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => "RATE_LIMITED",
        StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
        StatusCode::FORBIDDEN => "FORBIDDEN_SCOPE",
        _ => "INTERNAL",
    };
    if status != StatusCode::TOO_MANY_REQUESTS {
        return ApiError::new(status, code, "Injected failure (--fail-whoami)");
    }
    let retry_after = if app.config.retry_after_as_date {
        // Two seconds by the sandbox's clock: the client must measure it from our `Date`.
        layers_uploader::api::clock::format_http_date(((app.now_secs() + 2) * 1000) as i64)
    } else {
        "1".to_string()
    };
    let error = ApiError::new(status, code, "Rate limited (--fail-whoami)");
    match HeaderValue::from_str(&retry_after) {
        Ok(v) => error.with_header(header::RETRY_AFTER, v),
        Err(_) => error,
    }
}

/// `GET /v1/projects?limit=&cursor=`.
pub async fn projects(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let all: Vec<Project> = app
        .projects
        .iter()
        .enumerate()
        .map(|(i, id)| Project {
            id: id.clone(),
            name: format!("Sandbox project {}", i + 1),
        })
        .collect();
    Ok(json(StatusCode::OK, &paginate(&all, &query)?))
}
