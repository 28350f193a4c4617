//! Loops email assets: create and complete.

use axum::http::StatusCode;

use crate::error::LoopsError;

/// Not implemented yet in this commit.
pub async fn create() -> LoopsError {
    LoopsError::new(
        StatusCode::NOT_IMPLEMENTED,
        "Loops uploads are not implemented yet.",
    )
}

/// Not implemented yet in this commit.
pub async fn complete() -> LoopsError {
    LoopsError::new(
        StatusCode::NOT_IMPLEMENTED,
        "Loops uploads are not implemented yet.",
    )
}
