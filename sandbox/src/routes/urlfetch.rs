//! `POST /v1/projects/:projectId/content/upload`: the URL-fetch transport.

use axum::http::StatusCode;

use crate::error::ApiError;

/// Not implemented yet in this commit.
pub async fn upload() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        "URL-fetch is not implemented yet.",
    )
}
