//! `GET /v1/whoami` and `GET /v1/projects`: who the key is, and what it may upload into.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
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

/// `GET /v1/whoami`.
pub async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    let mut extra = BTreeMap::new();
    let env = match caller.env {
        Env::Live => "live",
        Env::Test => "test",
    };
    extra.insert("environment".to_string(), json!(env));
    json(
        StatusCode::OK,
        &WhoAmI {
            organization_id: ORGANIZATION_ID.to_string(),
            organization_name: "Sandbox Organization".to_string(),
            scopes: caller.scopes.clone(),
            rate_limit_tier: Some("standard".to_string()),
            api_key_id: Some(caller.key_id.clone()),
            extra,
        },
    )
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
