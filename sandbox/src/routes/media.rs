//! The media library: presign and finalize.

use axum::http::StatusCode;

use crate::error::ApiError;

/// Not implemented yet in this commit.
pub async fn presign() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        "Media presign is not implemented yet.",
    )
}

/// Not implemented yet in this commit.
pub async fn finalize() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        "Media finalize is not implemented yet.",
    )
}
