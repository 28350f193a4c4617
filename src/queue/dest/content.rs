//! Layers content by direct upload: one create-session call reserves 1–10 files (several
//! posts per call for per-file batches), each file is PUT to its presigned URL, and each
//! post's container is finalized with its caption. Also the client for URL-fetch posts.

use futures_util::future::BoxFuture;

use super::{Destination, DestinationKind, Finalized, Reservation};
use crate::api::error::ApiError;
use crate::api::http::IdempotencyKey;
use crate::api::types::{CreateUploadSessionRequest, DeclaredFile, UploadSession};
use crate::api::LayersClient;
use crate::queue::store::{ReservedFile, ReservedUpload, StoredPost};
use crate::queue::time::parse_rfc3339_ms;

/// The Layers content destination.
#[derive(Debug, Clone)]
pub struct LayersContent {
    client: LayersClient,
}

impl LayersContent {
    /// Content uploads through this client.
    pub fn new(client: LayersClient) -> LayersContent {
        LayersContent { client }
    }

    /// The client (URL-fetch calls it directly).
    pub fn client(&self) -> &LayersClient {
        &self.client
    }
}

impl Destination for LayersContent {
    fn reach(&self) -> crate::transfer::Reach {
        crate::transfer::Reach::for_api_base(self.client.base_url())
    }

    fn kind(&self) -> DestinationKind {
        DestinationKind::LayersContent
    }

    fn packs_posts(&self) -> bool {
        true
    }

    fn server_now_ms(&self) -> i64 {
        self.client.server_now_ms()
    }

    fn reserve_request(&self, posts: &[&StoredPost]) -> Result<String, String> {
        let grouping = posts
            .first()
            .map(|p| p.grouping)
            .ok_or("no posts to reserve")?;
        let request = CreateUploadSessionRequest {
            files: posts
                .iter()
                .flat_map(|p| &p.files)
                .map(|f| DeclaredFile {
                    filename: f.filename.clone(),
                    content_type: f.content_type.clone(),
                    size_bytes: f.size_bytes,
                })
                .collect(),
            grouping,
        };
        serde_json::to_string(&request).map_err(|e| format!("cannot encode a session request: {e}"))
    }

    fn reserve<'a>(
        &'a self,
        project: &'a str,
        request_json: &'a str,
        key: &'a IdempotencyKey,
        posts: &'a [StoredPost],
    ) -> BoxFuture<'a, Result<Reservation, ApiError>> {
        Box::pin(async move {
            let request: CreateUploadSessionRequest =
                super::stored_request(request_json, "session")?;
            let created = self
                .client
                .create_upload_session(project, &request, key)
                .await?;
            let uploads =
                reserved_uploads(&created, posts, self.client.server_now_ms()).map_err(|why| {
                    ApiError::Unexpected {
                        status: 201,
                        excerpt: why,
                    }
                })?;
            Ok(Reservation {
                response_json: serde_json::to_string(&created).unwrap_or_default(),
                uploads,
            })
        })
    }

    fn lenient_puts(&self) -> bool {
        self.client.key().is_test()
    }

    fn finalize<'a>(
        &'a self,
        post: &'a StoredPost,
        key: &'a IdempotencyKey,
    ) -> BoxFuture<'a, Result<Finalized, ApiError>> {
        Box::pin(async move {
            let container = post.container_id.as_deref().unwrap_or_default();
            let item = self
                .client
                .finalize_upload(container, &post.caption, key)
                .await?;
            Ok(Finalized {
                id: item.parsed.id,
                json_line: item.json_line,
            })
        })
    }
}

/// Maps a create-session answer onto the posts it was made for, checking its shape.
fn reserved_uploads(
    created: &UploadSession,
    posts: &[StoredPost],
    server_now_ms: i64,
) -> Result<Vec<ReservedUpload>, String> {
    if created.uploads.len() != posts.len() {
        return Err(format!(
            "the session answered {} content items for {} posts",
            created.uploads.len(),
            posts.len()
        ));
    }
    // Expiry is kept by the server's clock, as the server stamped it.
    let fallback = server_now_ms + 10 * 60 * 1000;
    created
        .uploads
        .iter()
        .zip(posts)
        .map(|(u, p)| {
            if u.files.len() != p.files.len() {
                return Err(format!(
                    "the session answered {} files for a post of {}",
                    u.files.len(),
                    p.files.len()
                ));
            }
            Ok(ReservedUpload {
                container_id: u.container_id.clone(),
                files: u
                    .files
                    .iter()
                    .map(|f| ReservedFile {
                        upload_url: f.upload_url.clone(),
                        r2_key: f.r2_key.clone(),
                        expires_at: parse_rfc3339_ms(&f.expires_at).unwrap_or(fallback),
                        headers: None,
                    })
                    .collect(),
            })
        })
        .collect()
}

/// A URL-fetch failure as the user should read it: which rule, and that nothing was created
/// (the call is atomic across its URLs).
pub fn explain_url_fetch(error: &ApiError) -> crate::queue::store::PostError {
    const ATOMIC: &str =
        "Nothing was created: a URL-fetch is all or nothing, so fix that URL and submit them again.";
    let message = match error {
        ApiError::ScrapeFailed { message, .. } => format!(
            "Layers could not fetch a URL ({message}; 502 SCRAPE_FAILED). An expired signed URL reads as SCRAPE_FAILED too: if it is signed, sign a new one valid for at least 15 minutes. Check that it is reachable from the internet. {ATOMIC}"
        ),
        ApiError::PayloadTooLarge {
            url,
            max_bytes,
            content_type,
            ..
        } => format!(
            "{} is over the {} cap{} (413 PAYLOAD_TOO_LARGE; Layers fetches at most 100 MB per video and 30 MB per image). {ATOMIC}",
            url.as_deref().unwrap_or("A fetched file"),
            max_bytes
                .map(crate::media::human_bytes)
                .unwrap_or_else(|| "size".into()),
            content_type
                .as_deref()
                .map(|t| format!(" for {t}"))
                .unwrap_or_default()
        ),
        ApiError::Validation { message, .. } => format!(
            "Layers refused the URL-fetch ({message}; 422 VALIDATION): a URL must be public https, of an accepted type (MP4/MOV video, JPEG/PNG/WebP image), with no video among several files, and a readable file. {ATOMIC}"
        ),
        ApiError::QuotaExceeded { .. } => format!("{error} {ATOMIC}"),
        other => other.to_string(),
    };
    crate::queue::store::PostError {
        code: error.code().to_string(),
        message,
        details: None,
    }
}
