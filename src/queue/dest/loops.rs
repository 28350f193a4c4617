//! Loops email assets: create declares `contentType` and `contentLength`, the PUT carries
//! exactly those two, complete returns the public `finalUrl`. Loops' own key and API base.
//!
//! Loops has **no idempotency**: the intent (the create body) is stored before the call, and a
//! resume sends it again; if the first create landed but its answer was lost, that asset is an
//! orphan (it counts against the 50-per-24-h limit). The runner counts sends and says so.

use futures_util::future::BoxFuture;

use super::{Destination, DestinationKind, Finalized, Reservation, LOOPS};
use crate::api::error::ApiError;
use crate::api::http::IdempotencyKey;
use crate::api::types::{LoopsCreateRequest, LOOPS_MAX_BYTES};
use crate::api::LoopsClient;
use crate::queue::store::{now_ms, PostError, ReservedFile, ReservedUpload, Store, StoredPost};
use crate::queue::time::format_utc_minute;

/// How long a Loops presigned URL is assumed valid (Loops does not say).
const ASSUMED_URL_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// The note a resumed create carries.
pub const ORPHAN_NOTE: &str = "Loops has no idempotency: an earlier create for this file may have reached Loops before the process stopped, so one orphaned email asset may exist (it counts against the 50-per-24-h limit); creating it again";

/// The Loops email-asset destination.
#[derive(Debug, Clone)]
pub struct LoopsAssets {
    client: LoopsClient,
}

impl LoopsAssets {
    /// Email-asset uploads through this client.
    pub fn new(client: LoopsClient) -> LoopsAssets {
        LoopsAssets { client }
    }
}

impl Destination for LoopsAssets {
    fn reach(&self) -> crate::transfer::Reach {
        crate::transfer::Reach::for_api_base(self.client.base_url())
    }

    fn kind(&self) -> DestinationKind {
        DestinationKind::Loops
    }

    fn idempotent(&self) -> bool {
        false
    }

    fn paced(&self) -> bool {
        false
    }

    fn reserve_request(&self, posts: &[&StoredPost]) -> Result<String, String> {
        let [post] = posts else {
            return Err(format!(
                "Loops creates one asset per call, not {} posts",
                posts.len()
            ));
        };
        let [file] = post.files.as_slice() else {
            return Err("a Loops post holds exactly one file".into());
        };
        let request = LoopsCreateRequest {
            content_type: file.content_type.clone(),
            content_length: file.size_bytes,
        };
        serde_json::to_string(&request).map_err(|e| format!("cannot encode a create request: {e}"))
    }

    fn reserve<'a>(
        &'a self,
        _project: &'a str,
        request_json: &'a str,
        _key: &'a IdempotencyKey,
        _posts: &'a [StoredPost],
    ) -> BoxFuture<'a, Result<Reservation, ApiError>> {
        Box::pin(async move {
            let request: LoopsCreateRequest = super::stored_request(request_json, "create")?;
            let created = self.client.create_upload(&request).await?;
            Ok(Reservation {
                response_json: serde_json::to_string(&created).unwrap_or_default(),
                uploads: vec![ReservedUpload {
                    container_id: created.email_asset_id.clone(),
                    files: vec![ReservedFile {
                        upload_url: created.presigned_url,
                        r2_key: created.email_asset_id,
                        expires_at: now_ms() + ASSUMED_URL_LIFETIME_MS,
                        headers: None,
                    }],
                }],
            })
        })
    }

    fn finalize<'a>(
        &'a self,
        post: &'a StoredPost,
        _key: &'a IdempotencyKey,
    ) -> BoxFuture<'a, Result<Finalized, ApiError>> {
        Box::pin(async move {
            let id = post.container_id.as_deref().unwrap_or_default();
            let done = self.client.complete_upload(id).await?;
            let line = serde_json::json!({
                "emailAssetId": done.email_asset_id,
                "finalUrl": done.final_url,
            });
            Ok(Finalized {
                id: done.email_asset_id,
                json_line: line.to_string(),
            })
        })
    }

    fn explain(&self, error: &ApiError, post: &StoredPost, store: &Store) -> PostError {
        let name = post
            .files
            .first()
            .map(|f| f.filename.as_str())
            .unwrap_or("the file");
        let message = match error {
            ApiError::LoopsUnsupportedType { supported, .. } => format!(
                "Loops refused {name}: its type is not accepted for email assets (400). Loops takes {}.",
                supported.join(", ")
            ),
            ApiError::LoopsTooLarge { max_bytes, .. } => format!(
                "Loops refused {name}: it is larger than the {} bytes Loops accepts (413). Use a smaller image.",
                group_digits(max_bytes.unwrap_or(LOOPS_MAX_BYTES))
            ),
            ApiError::LoopsUploadLimit {
                max_uploads,
                window_hours,
                ..
            } => {
                let max = max_uploads.unwrap_or(50);
                let hours = window_hours.unwrap_or(24);
                let window_ms = hours as i64 * 3_600_000;
                let sends = store
                    .reserve_sends_since(LOOPS, now_ms() - window_ms)
                    .unwrap_or_default();
                limit_message(max, hours, &sends)
            }
            other => other.to_string(),
        };
        PostError {
            code: error.code().to_string(),
            message,
            details: None,
        }
    }
}

/// Loops' 429 gives no reset time. When this store itself saw `max` creates inside the window,
/// the oldest of the last `max` frees its slot one window later; otherwise nothing is known.
pub fn limit_message(max: u64, window_hours: u64, creates_in_window: &[i64]) -> String {
    let n = creates_in_window.len();
    let max_n = usize::try_from(max).unwrap_or(usize::MAX);
    if max_n > 0 && n >= max_n {
        let frees = creates_in_window[n - max_n] + window_hours as i64 * 3_600_000;
        format!(
            "Loops upload limit: {max} uploads per {window_hours} hours used; try again after {}.",
            format_utc_minute(frees)
        )
    } else {
        format!(
            "Loops upload limit: {max} uploads per {window_hours} h reached (Loops does not say when the window frees). Try again later, or ask Loops support to raise it."
        )
    }
}

/// `4000000` → `4,000,000`.
fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_says_when_it_frees_only_when_the_store_knows() {
        let hour = 3_600_000;
        let t0 = crate::queue::time::parse_rfc3339_ms("2026-06-12T10:00:00Z").unwrap();
        let sends: Vec<i64> = (0..3).map(|i| t0 + i * hour).collect();
        assert_eq!(
            limit_message(2, 24, &sends),
            "Loops upload limit: 2 uploads per 24 hours used; try again after 2026-06-13 11:00 UTC."
        );
        assert!(limit_message(50, 24, &sends).contains("50 uploads per 24 h reached"));
        assert_eq!(group_digits(4_000_000), "4,000,000");
        assert_eq!(group_digits(999), "999");
    }
}
