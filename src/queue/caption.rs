//! Fixing the caption of a completed upload: `PATCH /v1/content/:id`, never a second finalize
//! (the docs say a re-finalize's caption is ignored). The store's copy of the item follows.

use super::plan::check_caption;
use super::store::{Store, StoreError};
use crate::api::http::{IdempotencyKey, ServerJson};
use crate::api::types::ContentItem;
use crate::api::{ApiError, LayersClient, RetryPolicy};
use crate::media::LocalError;

/// Why a caption fix failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptionFixError {
    /// The caption breaks a rule (over 2,200 characters).
    #[error("{}", .0.message)]
    Local(LocalError),
    /// Layers refused or could not be reached (`422` for content that is not an upload).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The item changed on the server but the local record could not follow.
    #[error("the caption was changed on Layers, but the local queue could not record it: {0}")]
    Store(#[from] StoreError),
}

impl CaptionFixError {
    /// Stable code for UIs.
    pub fn code(&self) -> &'static str {
        match self {
            CaptionFixError::Local(e) => e.code.as_str(),
            CaptionFixError::Api(e) => e.code(),
            CaptionFixError::Store(_) => "store",
        }
    }
}

/// Sets the caption of content item `content_id` to `caption` exactly as written and returns
/// the item as the server now has it. A completed post of that item in `store` (if any) keeps
/// the new caption and item.
pub async fn fix_caption(
    client: &LayersClient,
    store: Option<&Store>,
    content_id: &str,
    caption: &str,
) -> Result<ServerJson<ContentItem>, CaptionFixError> {
    check_caption(caption).map_err(CaptionFixError::Local)?;
    // One logical operation, one key for every try; PATCH with the same body is harmless to
    // repeat anyway. A blip or a 429 is ridden out within the start-up budget.
    let key = IdempotencyKey::new_v4();
    let item = RetryPolicy::startup()
        .run(|_| client.patch_caption(content_id, caption, &key))
        .await?;
    if let Some(store) = store {
        store.record_caption_fix(content_id, caption, &item.json_line)?;
    }
    Ok(item)
}
